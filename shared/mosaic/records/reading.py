"""The read path of record lists, compiled once per object definition.

A list page used to load full ORM instances, turn each into python values and those into API
values, field by field. Here the page selects exactly the columns the object's fields need (still
an ORM-enabled select, so tenant scoping applies), and one precompiled step per field turns a row
into its API dict: column values need converting only when they are dates, datetimes or
decimals; JSON-stored values are already in their API form (dates and datetimes are stored in
the fixed-width ISO forms the API shows).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select

from mosaic.metadata.fields import FieldDef, FieldType, ObjectDef
from mosaic.metadata.values import format_datetime, from_json_value, json_safe

_PLAN_KEY = ("__read_plan__",)  # kept in ObjectDef._index, beside the field names (strings)
_PLAIN, _DATETIME, _DATE, _GENERIC, _JSON = range(5)
_ZERO = timedelta(0)
#: field types whose column values are already JSON-safe (str, int, float, bool)
_KINDS = {t: _PLAIN for t in (FieldType.TEXT, FieldType.LONG_TEXT, FieldType.EMAIL, FieldType.PHONE, FieldType.URL,
                             FieldType.PICKLIST, FieldType.LOOKUP, FieldType.INTEGER, FieldType.BOOLEAN)}
_KINDS.update({FieldType.DATETIME: _DATETIME, FieldType.DATE: _DATE})


def _column_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, (date, Decimal, list, dict, tuple)):
        return json_safe(value)
    return value


class ReadPlan:
    """How to select and present the records of one object definition."""

    def __init__(self, obj: ObjectDef, model, json_column):
        self.obj = obj
        self.columns: list = []
        # (field name, index in the row, how to present it)
        self.steps: list[tuple[str, int, int]] = []
        for fd in obj.fields:
            if fd.is_column:
                kind = _KINDS.get(fd.type, _GENERIC)
                self.steps.append((fd.name, len(self.columns), kind))
                self.columns.append(getattr(model, fd.attr))
        self.json_index = len(self.columns)
        self.columns.append(json_column)
        for fd in obj.fields:
            if not fd.is_column:
                self.steps.append((fd.name, self.json_index, _JSON))
        order = {fd.name: i for i, fd in enumerate(obj.fields)}
        self.steps.sort(key=lambda step: order[step[0]])  # API order is the definition's order
        self.index = {name: (i, kind == _JSON) for name, i, kind in self.steps}
        # One record by id, built once: on the table's plain columns (a Core statement, scoped to
        # the tenant by mosaic.db.core_scope, which remembers its scoping per statement), the id
        # and, in the generic table of custom objects, the object as parameters.
        table = model.__table__
        by_id = select(*(c.property.columns[0] for c in self.columns)).where(table.c.id == bindparam("record_id"))
        if obj.model is None:
            by_id = by_id.where(table.c.object == bindparam("object_name"))
        self.by_id = by_id

    def api(self, row, wanted: set[str] | None = None) -> dict:
        """The API dict of a selected row (``wanted``: the field selection, or None for all)."""
        blob = row[self.json_index] or {}
        out: dict[str, Any] = {"object": self.obj.name}
        for name, i, kind in self.steps:
            if wanted is not None and name not in wanted:
                continue
            if kind == _JSON:
                out[name] = blob.get(name)
                continue
            value = row[i]
            if value is None or kind == _PLAIN:
                out[name] = value
            elif kind == _DATETIME:
                # UTCDateTime columns hold aware UTC values, whose ISO form at microseconds is
                # format_datetime's fixed-width form; anything else takes the careful path.
                out[name] = (value.isoformat(timespec="microseconds") if value.utcoffset() == _ZERO
                             else format_datetime(value))
            elif kind == _DATE:
                out[name] = value.isoformat()
            else:
                out[name] = _column_value(value)
        return out

    def python_value(self, row, fd: FieldDef) -> Any:
        """The python value of one field of a selected row (cursor encoding)."""
        i, from_json = self.index[fd.name]
        if not from_json:
            return row[i]
        raw = (row[self.json_index] or {}).get(fd.name)
        return None if raw is None else from_json_value(fd, raw)


def read_plan(obj: ObjectDef, model, json_column) -> ReadPlan:
    """The plan of ``obj``, built on first use and kept with the (immutable) definition."""
    plan = obj._index.get(_PLAN_KEY)
    if plan is None:
        plan = obj._index[_PLAN_KEY] = ReadPlan(obj, model, json_column)
    return plan


__all__ = ["ReadPlan", "read_plan"]
