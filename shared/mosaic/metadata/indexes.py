"""Indexes for JSON-stored fields on PostgreSQL.

An ``indexed`` custom field gets a btree expression index on ``(tenant_id, (json ->> 'field'))``
(custom objects: ``(tenant_id, object, (data ->> 'field'))``). The index is shared by every tenant
with a field of that name on that table, which is why it is never dropped when one tenant removes
its field. Every JSON column also gets a GIN ``jsonb_path_ops`` index for containment filters.
SQLite has neither; there these are no-ops.

Indexes of fields are built in the background, ``CREATE INDEX CONCURRENTLY``; their state is a
:class:`FieldIndex` row per index (pending, building, ready, failed), shown in the field's dict.
"""
from __future__ import annotations

import hashlib
import logging

from sqlalchemy import Column, Index, MetaData, String, Table, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.schema import CreateIndex

from mosaic.metadata.fields import NAME_RE, FieldDef, ObjectDef

log = logging.getLogger(__name__)

#: PostgreSQL truncates identifiers longer than this; names are shortened deterministically.
MAX_IDENTIFIER = 63
RECORDS_TABLE = "records"
CORE_JSON_COLUMN = "custom"
RECORDS_JSON_COLUMN = "data"
# duplicate_table (the index exists) and unique_violation on pg_class: two processes created the
# same index at the same moment; the other one won, which is what we wanted.
_ALREADY_EXISTS = {"42P07", "23505"}


def index_name(*parts: str) -> str:
    """``ix_<parts joined by _>``, shortened with a hash suffix to fit 63 characters."""
    name = "ix_" + "_".join(parts)
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{name[:MAX_IDENTIFIER - 11]}_{digest}"


def field_index_name(table: str, field_name: str) -> str:
    """The deterministic name of the expression index of ``field_name`` on ``table``."""
    return index_name(table, "cf", field_name)


def storage_of(obj: ObjectDef) -> tuple[str, str | None, str, tuple[str, ...]]:
    """Where JSON values of ``obj`` live: (table, schema, JSON column, leading key columns)."""
    if obj.model is not None:
        table = obj.model.__table__
        return table.name, table.schema, CORE_JSON_COLUMN, ("tenant_id",)
    return RECORDS_TABLE, None, RECORDS_JSON_COLUMN, ("tenant_id", "object")


def field_index(obj: ObjectDef, field: FieldDef, *, concurrently: bool = False) -> Index:
    """The expression :class:`Index` of a JSON-stored ``field`` of ``obj``."""
    table_name, schema, json_col, keys = storage_of(obj)
    return expression_index(table_name, schema, json_col, keys, field.name,
                            concurrently=concurrently)


def expression_index(table_name: str, schema: str | None, json_col: str, keys: tuple[str, ...],
                     field_name: str, *, concurrently: bool = False) -> Index:
    """The expression index of ``field_name`` in ``table_name.json_col`` after ``keys``.

    Built on a detached copy of the table so that the application's own ``MetaData`` (used by
    ``create_all`` and migrations) never grows run-time indexes.
    """
    if not NAME_RE.match(field_name):
        raise ValueError(f"not a valid field name: {field_name!r}")
    table = Table(table_name, MetaData(), *(Column(k, String) for k in keys),
                  Column(json_col, JSONB), schema=schema)
    # ->> with a literal key; the DDL compiler renders it as a properly quoted string literal.
    expression = type_coerce(table.c[json_col], JSONB)[field_name].astext
    return Index(field_index_name(table_name, field_name), *(table.c[k] for k in keys), expression,
                 postgresql_concurrently=concurrently)


def ensure_field_index(connection: Connection, obj: ObjectDef, field: FieldDef) -> str | None:
    """Create, if missing, the expression index of ``field``; returns its name (None on SQLite
    and for column-stored fields, whose indexes belong to the service's migrations).

    Runs inside the caller's transaction (a savepoint guards the race where two processes create
    the same index at once). Requests do not call this any more: a plain CREATE INDEX blocks
    writes to the table for every tenant, so field changes queue a concurrent build instead
    (:mod:`mosaic.metadata.index_builds`); this stays for tools and tests.
    """
    if connection.dialect.name != "postgresql" or field.is_column:
        return None
    index = field_index(obj, field)
    try:
        with connection.begin_nested():
            connection.execute(CreateIndex(index, if_not_exists=True))
    except (ProgrammingError, IntegrityError) as exc:
        if getattr(exc.orig, "pgcode", None) not in _ALREADY_EXISTS:
            raise
        log.info("index %s was created concurrently", index.name)
    return index.name


def base_json_indexes(table: str | Table, json_col: str) -> list[Index]:
    """The GIN ``jsonb_path_ops`` index of a JSON column, created on PostgreSQL only.

    Pass the table name to use it in ``__table_args__`` of a declarative model, or a ``Table``
    to attach it directly.
    """
    name = table if isinstance(table, str) else table.name
    column = table.c[json_col] if isinstance(table, Table) else json_col
    index = Index(index_name(name, json_col, "gin"), column, postgresql_using="gin",
                  postgresql_ops={json_col: "jsonb_path_ops"})
    # SQLite would otherwise build a plain index over the whole JSON text: all cost, no use.
    index.ddl_if(dialect="postgresql")
    return [index]
