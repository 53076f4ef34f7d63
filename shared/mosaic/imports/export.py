"""CSV export of any filtered list, a page at a time.

The gateway loops over :func:`export_page` and streams the CSV; the service formats each cell
here, as the inverse of what the importer parses (``mosaic.imports.rows``), so an exported
file imports back to the same values.
"""
from __future__ import annotations

import json
from typing import Any

from mosaic.errors import ValidationFailed
from mosaic.metadata.fields import FieldDef, FieldType
from mosaic.metadata.values import to_api_value
from mosaic.records.store import RecordStore
from mosaic.imports.rows import MULTI_SEPARATOR

EXPORT_PAGE = 2000
MAX_EXPORT_PAGE = 5000


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def format_cell(fd: FieldDef, value: Any) -> str:
    """The CSV text of one value of ``fd`` (empty for null)."""
    if value is None:
        return ""
    value = to_api_value(fd, value)
    if fd.type is FieldType.BOOLEAN:
        return "true" if value else "false"
    if fd.type is FieldType.MULTI_PICKLIST:
        return f"{MULTI_SEPARATOR} ".join(str(v) for v in value)
    if fd.type is FieldType.MONEY and isinstance(value, dict):
        amount = value.get("amount")
        return f"{_number(amount)} {value.get('currency') or ''}".strip() if amount is not None else ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def export_page(store: RecordStore, obj_name: str, *, filter: str | None = None, sort: str | None = None,
                cursor: str | None = None, fields: list[str] | None = None,
                limit: int = EXPORT_PAGE) -> dict:
    """One page of an export: ``{"columns": [field names], "rows": [[cell text]], "next_cursor"}``.

    The same filter, sort and keyset cursor as the record list (``RecordStore.list``), with
    bigger pages; ``fields`` picks and orders the columns (default: every field).
    """
    obj = store.obj(obj_name)
    store.allow(obj, "read")
    store._check_fields(obj, fields)
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise ValidationFailed("limit must be a whole number", errors={"limit": ["not a number"]}) from None
    if not 1 <= limit <= MAX_EXPORT_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_EXPORT_PAGE}",
                               errors={"limit": [f"between 1 and {MAX_EXPORT_PAGE}"]})
    columns = [obj.field(f) for f in fields] if fields else list(obj.fields)
    q = store.list_query(obj, filter, sort, None)
    stmt = store.page_after(obj, q, cursor)
    found = store.session.scalars(stmt.order_by(*store.list_order(obj, q)).limit(limit + 1)).all()
    rows, last = [], None
    for row in found[:limit]:
        last = store.values_of(obj, row)
        rows.append([format_cell(fd, last.get(fd.name)) for fd in columns])
    next_cursor = None
    if len(found) > limit and last is not None:
        next_cursor = store.cursor_after(q, last.get(q.field.name), last["id"])
    return {"columns": [fd.name for fd in columns], "rows": rows, "next_cursor": next_cursor}
