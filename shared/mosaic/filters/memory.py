"""``evaluate``: a filter on one record in memory, with SQL's three-valued logic.

Each primitive answers True, False or None (unknown) exactly as the SQL the compiler emits for it
would: a comparison with a missing value is unknown, ``not unknown`` is unknown, ``and``/``or``
follow Kleene's tables, and a record matches only when the whole filter is True.
"""
from __future__ import annotations

import operator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Mapping

from mosaic.filters.dates import to_date, to_datetime
from mosaic.filters.parser import BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, TAGS, TEXT, Filter
from mosaic.filters.plan import (AllOf, AnyOf, Cmp, Has, InSet, Like, Negate, Null, Prim, Target,
                                 lower)

_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


def evaluate(flt: Filter, record: Mapping[str, Any], now: datetime) -> bool:
    """True when ``record`` (field name -> python value; a missing key is a null) matches ``flt``,
    relative dates resolved against ``now``. Gives the answer the compiled SQL gives for the same
    row."""
    return truth(lowered(flt, now), record) is True


_PROBE = timedelta(days=400, hours=7, minutes=13)
_UNSET = object()


def lowered(flt: Filter, now: datetime) -> Prim:
    """:func:`~mosaic.filters.plan.lower`, reused across calls for a filter without relative
    dates (rules and guards evaluate the same few filters on every write). Kept on the filter
    object itself: equal texts over other objects' fields lower differently."""
    cached = flt.__dict__.get("_timeless", _UNSET)
    if cached is None:
        return lower(flt, now)
    if cached is not _UNSET:
        return cached
    prim = lower(flt, now)
    # Lowered at two distant moments alike: nothing in it is relative to now.
    object.__setattr__(flt, "_timeless", prim if lower(flt, now + _PROBE) == prim else None)
    return prim


def truth(prim: Prim, record: Mapping[str, Any]) -> bool | None:
    """The three-valued truth of a lowered filter on ``record``: True, False or None (unknown)."""
    if isinstance(prim, AllOf):
        result: bool | None = True
        for item in prim.items:
            value = truth(item, record)
            if value is False:
                return False
            if value is None:
                result = None
        return result
    if isinstance(prim, AnyOf):
        result = False
        for item in prim.items:
            value = truth(item, record)
            if value is True:
                return True
            if value is None:
                result = None
        return result
    if isinstance(prim, Negate):
        value = truth(prim.item, record)
        return None if value is None else not value
    if isinstance(prim, Null):
        raw = _raw(prim.target, record)
        # A list field stores JSON: anything but a list (null, absent) counts as no value.
        return not isinstance(raw, list) if prim.target.kind == TAGS else raw is None
    if isinstance(prim, Has):
        raw = _raw(prim.target, record)
        return prim.element in raw if isinstance(raw, list) else None
    value = _value(prim.target, record)
    if value is None:
        return None
    if isinstance(prim, Cmp):
        if isinstance(prim.value, float) and prim.target.kind == INTEGER:
            value = float(value)  # SQL compares an integer with a fraction as floats
        return _OPS[prim.op](value, prim.value)
    if isinstance(prim, InSet):
        return value in prim.values
    if isinstance(prim, Like):
        # str.lower is also what the SQLite engine registers as lower(), and what PostgreSQL's
        # lower() does under the C.UTF-8 ctype for the characters CRM data holds.
        text = value.lower()
        if prim.mode == "contains":
            return prim.needle in text
        if prim.mode == "startswith":
            return text.startswith(prim.needle)
        return text.endswith(prim.needle)
    raise TypeError(f"not a filter primitive: {prim!r}")


def _raw(target: Target, record: Mapping[str, Any]) -> Any:
    raw = record.get(target.field.name)
    if target.subpath is not None and raw is not None:
        # money: {"amount": ..., "currency": ...}
        raw = raw.get(target.subpath) if isinstance(raw, Mapping) else None
    return raw


def _value(target: Target, record: Mapping[str, Any]) -> Any:
    """The record's value for ``target`` as the python type its kind compares as."""
    raw = _raw(target, record)
    if raw is None:
        return None
    kind = target.kind
    if kind == TEXT:
        return raw if isinstance(raw, str) else str(raw)
    if kind == DECIMAL:
        return float(raw)  # Decimal and str included: compared as double precision, like SQL
    if kind == INTEGER:
        return int(raw) if not isinstance(raw, (float, Decimal)) else float(raw)
    if kind == BOOLEAN:
        return bool(raw)
    if kind == DATE:
        return to_date(raw)
    if kind == DATETIME:
        return to_datetime(raw)
    return raw
