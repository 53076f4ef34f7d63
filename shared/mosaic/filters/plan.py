"""Lowering: a checked filter plus a ``now`` becomes a tree of primitive conditions.

Both back ends (SQL in :mod:`mosaic.filters.sql`, memory in :mod:`mosaic.filters.memory`) work on
this one lowered tree, so every rule with room for disagreement — what ``today`` is, that a date
compared with a datetime is a whole UTC day, what ``within last 2 months`` spans, that ``not in`` is
``not (in)`` — is decided once, here. The back ends only implement six primitives.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Union

from mosaic.filters import ast
from mosaic.filters.dates import as_utc, day_last, day_start, shift
from mosaic.filters.parser import DATE, DATETIME, DECIMAL, INTEGER, TAGS, Filter, kind_of
from mosaic.metadata.fields import FieldDef, FieldType


@dataclass(frozen=True)
class Target:
    """The field path a primitive reads: the resolver gets ``(field, subpath)``."""

    field: FieldDef
    subpath: str | None
    kind: str


@dataclass(frozen=True)
class Cmp:
    """``target op value``; value is typed for the kind (str, int, float, bool, date, datetime)."""

    target: Target
    op: str
    value: Any


@dataclass(frozen=True)
class InSet:
    """``target in values`` (never empty, never containing None)."""

    target: Target
    values: tuple


@dataclass(frozen=True)
class Like:
    """Case-insensitive ``contains``/``startswith``/``endswith``; needle already lower-cased."""

    target: Target
    mode: str
    needle: str


@dataclass(frozen=True)
class Has:
    """A list field holds ``element`` (exact match)."""

    target: Target
    element: str


@dataclass(frozen=True)
class Null:
    """The field has no value (for a list field: holds no list)."""

    target: Target


@dataclass(frozen=True)
class AllOf:
    """SQL ``AND`` of the items."""

    items: tuple


@dataclass(frozen=True)
class AnyOf:
    """SQL ``OR`` of the items."""

    items: tuple


@dataclass(frozen=True)
class Negate:
    """SQL ``NOT`` of the item (unknown stays unknown)."""

    item: Any


Prim = Union[Cmp, InSet, Like, Has, Null, AllOf, AnyOf, Negate]

_SWAP_DAY_OPS = {"before": "<", "after": ">"}


def lower(flt: Filter, now: datetime) -> Prim:
    """The primitive tree of ``flt`` with relative dates resolved against ``now`` (UTC)."""
    return _Lowering(flt, as_utc(now)).node(flt.root)


class _Lowering:
    def __init__(self, flt: Filter, now: datetime):
        self.flt = flt
        self.now = now

    def node(self, node: ast.Node) -> Prim:
        # Recursion is bounded: the parser refuses trees deeper than MAX_DEPTH.
        if isinstance(node, ast.And):
            return AllOf(tuple(self.node(i) for i in node.items))
        if isinstance(node, ast.Or):
            return AnyOf(tuple(self.node(i) for i in node.items))
        if isinstance(node, ast.Not):
            return Negate(self.node(node.item))
        target = self.target(node.field)
        if isinstance(node, ast.IsNull):
            return Negate(Null(target)) if node.negated else Null(target)
        if isinstance(node, ast.Match):
            if target.kind == TAGS:
                return Has(target, node.value.value)
            return Like(target, node.mode, node.value.value.lower())
        if isinstance(node, ast.Within):
            return self.within(target, node)
        if isinstance(node, ast.InList):
            found = self.in_list(target, node.values)
            return Negate(found) if node.negated else found
        return self.compare(target, _SWAP_DAY_OPS.get(node.op, node.op), node.value)

    def target(self, ref: ast.FieldRef) -> Target:
        field_def = self.flt.field_defs[ref.name]
        subpath = ref.subpath
        if field_def.type == FieldType.MONEY and subpath is None:
            subpath = "amount"
        return Target(field_def, subpath, kind_of(field_def, subpath))

    def literal(self, target: Target, value: ast.Value) -> Any:
        """The python value a literal stands for, for this kind of field."""
        kind = target.kind
        if value.kind == "today":
            raw: Any = self.now.date()
        elif value.kind == "now":
            raw = self.now
        else:
            raw = value.value
        if kind == DATE:
            return raw.date() if isinstance(raw, datetime) else raw
        if kind == DECIMAL:
            # Decimals compare as double precision, as they do in SQL once a float is involved.
            return float(raw)
        if kind == INTEGER and isinstance(raw, Decimal):
            return int(raw) if raw == raw.to_integral_value() else float(raw)
        return raw

    def compare(self, target: Target, op: str, value: ast.Value) -> Prim:
        resolved = self.literal(target, value)
        if target.kind == DATETIME and _is_day(resolved):
            return _day_compare(target, op, resolved)
        return Cmp(target, op, resolved)

    def in_list(self, target: Target, values: tuple[ast.Value, ...]) -> Prim:
        resolved = [self.literal(target, v) for v in values]
        if target.kind == DATETIME and any(_is_day(v) for v in resolved):
            # ``in (2024-05-01, ...)`` on a datetime: any of those whole days.
            return AnyOf(tuple(_day_compare(target, "=", v) if _is_day(v) else Cmp(target, "=", v)
                               for v in resolved))
        unique = tuple(dict.fromkeys(resolved))
        return InSet(target, unique)

    def within(self, target: Target, node: ast.Within) -> Prim:
        sign = -1 if node.direction == "last" else 1
        other = shift(self.now, sign * node.amount, node.unit)
        low, high = (other, self.now) if sign < 0 else (self.now, other)
        if target.kind == DATE:
            low, high = low.date(), high.date()
        return AllOf((Cmp(target, ">=", low), Cmp(target, "<=", high)))


def _is_day(value: Any) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _day_compare(target: Target, op: str, day: date) -> Prim:
    """A datetime compared with a whole UTC day, from its first to its last microsecond (the
    resolution of PostgreSQL timestamps, of the stored ISO text and of python datetimes)."""
    first, last = day_start(day), day_last(day)
    if op == "=":
        return AllOf((Cmp(target, ">=", first), Cmp(target, "<=", last)))
    if op == "!=":
        return Negate(AllOf((Cmp(target, ">=", first), Cmp(target, "<=", last))))
    return Cmp(target, op, first if op in ("<", ">=") else last)
