"""Making a field required when records already exist.

A required field added to (or made required on) an object whose records lack a value would
leave them invalid: each would fail its next unrelated write. So the change either backfills
the field's ``default`` into every record of the tenant without a value, in the same
transaction, or is refused (422) saying how many records lack one.
"""
from __future__ import annotations

import json

from sqlalchemy import JSON, String, case, column, func, literal, or_, select, table, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from mosaic.errors import ValidationFailed
from mosaic.metadata.fields import FieldDef, ObjectDef
from mosaic.metadata.indexes import CORE_JSON_COLUMN, RECORDS_JSON_COLUMN, RECORDS_TABLE

_records = table(RECORDS_TABLE, column("tenant_id", String), column("object", String),
                 column(RECORDS_JSON_COLUMN, JSON))


def _target(session: Session, obj: ObjectDef):
    tenant = session.info["tenant_id"]
    if obj.model is not None:
        target = obj.model.__table__
        return target, target.c[CORE_JSON_COLUMN], [target.c.tenant_id == tenant]
    return _records, _records.c[RECORDS_JSON_COLUMN], [_records.c.tenant_id == tenant,
                                                       _records.c.object == obj.name]


def _lacking(session: Session, col, name: str):
    """Records whose JSON has no value (absent or null) for ``name``."""
    if session.get_bind().dialect.name == "postgresql":
        value = type_coerce(col, JSONB).op("->", return_type=JSONB)(name)
        return or_(col.is_(None), func.coalesce(func.jsonb_typeof(value), "null") == "null")
    path = f'$."{name}"'  # the name passed NAME_RE: no escaping needed
    return or_(col.is_(None), func.coalesce(func.json_type(col, path), "null") == "null")


def records_lacking(session: Session, obj: ObjectDef, fdef: FieldDef) -> int:
    """How many of the tenant's records of ``obj`` have no value for the JSON field ``fdef``."""
    target, col, where = _target(session, obj)
    return session.scalar(select(func.count()).select_from(target)
                          .where(*where, _lacking(session, col, fdef.name))) or 0


def require_values(session: Session, obj: ObjectDef, fdef: FieldDef) -> int:
    """Before ``fdef`` becomes required: backfill its default into the records lacking a value,
    or refuse when it has none. Returns how many records were backfilled."""
    if not fdef.required or fdef.is_column:
        return 0
    lacking = records_lacking(session, obj, fdef)
    if not lacking:
        return 0
    if fdef.default is None:
        raise ValidationFailed(
            f"'{fdef.name}' cannot be required: {lacking} existing {obj.name} records have no "
            "value for it. Give it a default (backfilled into them), or fill them first.",
            errors={"required": [f"{lacking} existing records have no value; set a default to "
                                 "backfill them."]}, records=lacking)
    target, col, where = _target(session, obj)
    if session.get_bind().dialect.name == "postgresql":
        jcol = type_coerce(col, JSONB)
        # JSON null (or no document at all) becomes an object first: null || {...} is an array.
        jcol = case((func.jsonb_typeof(jcol) == "object", jcol), else_=type_coerce({}, JSONB))
        new_value = jcol.op("||", return_type=JSONB)(type_coerce({fdef.name: fdef.default}, JSONB))
    else:
        doc = case((func.json_type(col) == "object", col), else_=literal("{}"))
        new_value = func.json_set(doc, f'$."{fdef.name}"',
                                  func.json(literal(json.dumps(fdef.default))))
    values = {col.name: new_value}
    if "updated_at" in target.c:
        values["updated_at"] = target.c.updated_at  # a backfill, not an edit of the record
    session.execute(update(target).where(*where, _lacking(session, col, fdef.name)).values(values)
                    .execution_options(synchronize_session=False))
    return lacking

