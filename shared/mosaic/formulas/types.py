"""The formula language's value types and the conversions between them.

A compiled term is a :class:`Term`: its static type and a function of the evaluation
:class:`Env`. Values at run time are python ``str``, ``int``, ``float`` (decimals), ``bool``,
``date``, aware UTC ``datetime`` or None; every function returns None when it cannot give a
value (null in, division by zero, an impossible date, an integer beyond 64 bits).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable

from mosaic.filters.dates import as_utc, day_start
from mosaic.formulas.grammar import Node, fail
from mosaic.metadata.values import INT_MAX, INT_MIN, format_datetime

TEXT, INTEGER, DECIMAL, BOOLEAN, DATE, DATETIME, NULL = (
    "text", "integer", "decimal", "boolean", "date", "datetime", "null")
#: the types a formula field may have (``formula_type``).
RESULT_TYPES = (TEXT, INTEGER, DECIMAL, BOOLEAN, DATE, DATETIME)
NUMBERS = frozenset({INTEGER, DECIMAL})
TIMES = frozenset({DATE, DATETIME})


class Env:
    """What one evaluation sees: the record's values and the clock."""

    __slots__ = ("values", "now", "today")

    def __init__(self, values: dict, now: datetime):
        self.values = values
        self.now = as_utc(now)
        self.today = self.now.date()


Fn = Callable[[Env], Any]


@dataclass(frozen=True)
class Term:
    """A compiled (sub)formula: its type and how to compute it."""

    type: str
    fn: Fn


def const(value: Any, type_: str) -> Term:
    """A term that always gives ``value``."""
    return Term(type_, lambda env: value)


def integer(value: int) -> int | None:
    """``value`` if it fits the 64-bit range integers are stored in, else None."""
    return value if INT_MIN <= value <= INT_MAX else None


def decimal(value: float) -> float | None:
    """``value`` if finite (an overflow to inf has no stored form), else None."""
    return value if math.isfinite(value) else None


def to_text(value: Any) -> str | None:
    """How TEXT(), CONCAT and ``&`` show a value: 3 not 3.0, true/false, ISO dates."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def widen(term: Term, to: str) -> Term:
    """``term`` as a value of the wider type ``to`` (integer → decimal, date → datetime)."""
    if term.type == to or term.type == NULL:
        return Term(to, term.fn)
    fn = term.fn
    if term.type == INTEGER and to == DECIMAL:
        return Term(to, lambda env: None if (v := fn(env)) is None else float(v))
    if term.type == DATE and to == DATETIME:
        return Term(to, lambda env: None if (v := fn(env)) is None else day_start(v))
    raise AssertionError(f"cannot widen {term.type} to {to}")  # callers unify first


def unify(types: Iterable[str], what: str, node: Node) -> str:
    """The one type values of ``types`` share (integer widens to decimal, date to datetime;
    null fits anything); a type error naming ``what`` otherwise."""
    found = sorted({t for t in types if t != NULL})
    if not found:
        return NULL
    if len(found) == 1:
        return found[0]
    if set(found) <= NUMBERS:
        return DECIMAL
    if set(found) <= TIMES:
        return DATETIME
    raise fail(f"{what} cannot mix {' and '.join(found)} values", node.pos)


_DESCRIPTIONS = {TEXT: "text", INTEGER: "an integer", DECIMAL: "a decimal", BOOLEAN: "a boolean",
                 DATE: "a date", DATETIME: "a datetime", NULL: "null"}


def describe(type_: str) -> str:
    """``integer`` -> ``an integer`` for messages."""
    return _DESCRIPTIONS.get(type_, type_)
