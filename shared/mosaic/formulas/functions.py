"""The formula functions and the logical connectives: each checks its arguments' types when the
formula is compiled and returns a :class:`~mosaic.formulas.types.Term`.

Null rule: a function whose argument is null gives null, except IF (a null condition takes the
else branch, like SQL's CASE), AND/OR (three-valued, like the filter language), COALESCE and
CONCAT (which skip nulls).
"""
from __future__ import annotations

import difflib
import math
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal
from typing import Any, Callable

from mosaic.filters.dates import to_date
from mosaic.formulas.grammar import Node, fail
from mosaic.formulas.types import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, NULL, NUMBERS, TEXT,
                                   TIMES, Env, Term, decimal, describe, integer, to_text, unify,
                                   widen)

_ANY = frozenset({TEXT, INTEGER, DECIMAL, BOOLEAN, DATE, DATETIME})
#: enough digits to round any float (at most 309 integer digits) at up to 15 decimals exactly.
_DECIMALS = Context(prec=400)


def _check(node: Node, args: list[Term], i: int, allowed: frozenset[str] | set[str]) -> None:
    """Argument ``i`` of the call ``node`` has one of the ``allowed`` types (or is null)."""
    type_ = args[i].type
    if type_ != NULL and type_ not in allowed:
        names = " or ".join(sorted(allowed))
        raise fail(f"argument {i + 1} of {node.value} must be {names}, not {describe(type_)}",
                   node.args[i].pos)


def _strict(type_: str, apply: Callable[..., Any], args: list[Term]) -> Term:
    """A term computing ``apply(*values)``, null as soon as one value is null."""
    fns = [a.fn for a in args]
    if len(fns) == 1:
        (only,) = fns

        def one(env: Env) -> Any:
            v = only(env)
            return None if v is None else apply(v)
        return Term(type_, one)

    def many(env: Env) -> Any:
        values = [f(env) for f in fns]
        return None if any(v is None for v in values) else apply(*values)
    return Term(type_, many)


# -- logic ------------------------------------------------------------------------------------

def junction(kind: str, args: list[Term], node: Node) -> Term:
    """``and``/``or`` (also AND(...)/OR(...)) with Kleene's three-valued tables."""
    for i, term in enumerate(args):
        if term.type not in (BOOLEAN, NULL):
            pos = node.args[i].pos
            raise fail(f"'{kind}' needs true/false values, not {describe(term.type)}", pos)
    fns = [a.fn for a in args]
    stop = kind == "or"  # the value that decides: True for or, False for and

    def logic(env: Env) -> Any:
        unknown = False
        for f in fns:
            v = f(env)
            if v is None:
                unknown = True
            elif v is stop:
                return stop
        return None if unknown else not stop
    return Term(BOOLEAN, logic)


def negation(arg: Term, node: Node) -> Term:
    """``not x``: null stays null."""
    if arg.type not in (BOOLEAN, NULL):
        raise fail(f"'not' needs a true/false value, not {describe(arg.type)}", node.pos)
    fn = arg.fn
    return Term(BOOLEAN, lambda env: None if (v := fn(env)) is None else not v)


def _if(node: Node, args: list[Term]) -> Term:
    _check(node, args, 0, {BOOLEAN})
    type_ = unify((args[1].type, args[2].type), "IF's results", node)
    cond, yes, no = args[0].fn, widen(args[1], type_).fn, widen(args[2], type_).fn
    # Only the chosen branch is computed; an unknown condition is not true (SQL CASE).
    return Term(type_, lambda env: yes(env) if cond(env) is True else no(env))


def _coalesce(node: Node, args: list[Term]) -> Term:
    type_ = unify((a.type for a in args), "COALESCE", node)
    fns = [widen(a, type_).fn for a in args]

    def coalesce(env: Env) -> Any:
        for f in fns:
            v = f(env)
            if v is not None:
                return v
        return None
    return Term(type_, coalesce)


# -- text -------------------------------------------------------------------------------------

def _concat(node: Node, args: list[Term]) -> Term:
    fns = [a.fn for a in args]
    return Term(TEXT, lambda env: "".join(to_text(v) for f in fns if (v := f(env)) is not None))


def _text_fn(apply: Callable[[str], Any], type_: str = TEXT):
    def build(node: Node, args: list[Term]) -> Term:
        _check(node, args, 0, {TEXT})
        return _strict(type_, apply, args)
    return build


def _left_right(node: Node, args: list[Term]) -> Term:
    _check(node, args, 0, {TEXT})
    _check(node, args, 1, {INTEGER})
    if node.value == "LEFT":
        return _strict(TEXT, lambda s, n: s[:n] if n >= 0 else None, args)
    return _strict(TEXT, lambda s, n: (s[len(s) - n:] if n <= len(s) else s) if n >= 0 else None,
                   args)


def _text(node: Node, args: list[Term]) -> Term:
    return _strict(TEXT, to_text, args)


# -- numbers ----------------------------------------------------------------------------------

def _round_half_up(value: int | float, places: int) -> Decimal:
    # repr gives the shortest decimal that is this float, so ROUND(2.675, 2) is 2.68 as typed.
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_DECIMALS)


def _round(node: Node, args: list[Term]) -> Term:
    _check(node, args, 0, NUMBERS)
    if len(args) == 1:
        return _strict(INTEGER, lambda x: integer(int(_round_half_up(x, 0))), args)
    _check(node, args, 1, {INTEGER})
    type_ = INTEGER if args[0].type in (INTEGER, NULL) else DECIMAL

    def apply(x, n):
        if n > 15 and isinstance(x, float):
            return x  # beyond a float's precision: nothing to round
        if n < -400:
            return 0 if type_ == INTEGER else 0.0
        rounded = _round_half_up(x, max(n, -400))
        return integer(int(rounded)) if type_ == INTEGER else decimal(float(rounded))
    return _strict(type_, apply, args)


def _floor_ceil(node: Node, args: list[Term]) -> Term:
    _check(node, args, 0, NUMBERS)
    mode = ROUND_FLOOR if node.value == "FLOOR" else ROUND_CEILING

    def apply(x):
        if isinstance(x, int):
            return x
        return integer(int(Decimal(x).to_integral_value(rounding=mode))) if math.isfinite(x) else None
    return _strict(INTEGER, apply, args)


def _abs(node: Node, args: list[Term]) -> Term:
    _check(node, args, 0, NUMBERS)
    type_ = DECIMAL if args[0].type == DECIMAL else INTEGER
    return _strict(type_, lambda x: integer(abs(x)) if isinstance(x, int) else abs(x), args)


def _min_max(node: Node, args: list[Term]) -> Term:
    for i in range(len(args)):
        _check(node, args, i, {TEXT, INTEGER, DECIMAL, DATE, DATETIME})
    type_ = unify((a.type for a in args), node.value, node)
    pick = min if node.value == "MIN" else max
    return _strict(type_, lambda *vs: pick(vs), [widen(a, type_) for a in args])


# -- dates ------------------------------------------------------------------------------------

def _today(node: Node, args: list[Term]) -> Term:
    return Term(DATE, lambda env: env.today)


def _now(node: Node, args: list[Term]) -> Term:
    return Term(DATETIME, lambda env: env.now)


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except (ValueError, OverflowError):
        return None  # 2024-02-30 is no date: null, not an error


def _date(node: Node, args: list[Term]) -> Term:
    for i in range(3):
        _check(node, args, i, {INTEGER})
    return _strict(DATE, _safe_date, args)


def _part(node: Node, args: list[Term]) -> Term:
    _check(node, args, 0, TIMES)
    attr = node.value.lower()  # year, month, day of the UTC date
    return _strict(INTEGER, lambda d: getattr(to_date(d), attr), args)


def _add_days(node: Node, args: list[Term]) -> Term:
    _check(node, args, 0, TIMES)
    whole = args[0].type in (DATE, NULL)
    _check(node, args, 1, {INTEGER} if whole else NUMBERS)

    def apply(moment, days):
        try:
            return moment + timedelta(days=days)
        except OverflowError:
            return None  # beyond year 9999
    return _strict(DATE if whole else DATETIME, apply, args)


def _days_between(node: Node, args: list[Term]) -> Term:
    _check(node, args, 0, TIMES)
    _check(node, args, 1, TIMES)
    # Calendar days between the UTC dates: DAYS_BETWEEN(a, b) is b - a.
    return _strict(INTEGER, lambda a, b: (to_date(b) - to_date(a)).days, args)


#: name -> (fewest arguments, most arguments or None for any number, builder)
FUNCTIONS: dict[str, tuple[int, int | None, Callable[[Node, list[Term]], Term]]] = {
    "IF": (3, 3, _if),
    "AND": (1, None, lambda node, args: junction("and", args, node)),
    "OR": (1, None, lambda node, args: junction("or", args, node)),
    "NOT": (1, 1, lambda node, args: negation(args[0], node)),
    "COALESCE": (1, None, _coalesce),
    "CONCAT": (1, None, _concat),
    "UPPER": (1, 1, _text_fn(str.upper)),
    "LOWER": (1, 1, _text_fn(str.lower)),
    "TRIM": (1, 1, _text_fn(str.strip)),
    "LEN": (1, 1, _text_fn(len, INTEGER)),
    "LEFT": (2, 2, _left_right),
    "RIGHT": (2, 2, _left_right),
    "ROUND": (1, 2, _round),
    "FLOOR": (1, 1, _floor_ceil),
    "CEIL": (1, 1, _floor_ceil),
    "ABS": (1, 1, _abs),
    "MIN": (1, None, _min_max),
    "MAX": (1, None, _min_max),
    "TODAY": (0, 0, _today),
    "NOW": (0, 0, _now),
    "DATE": (3, 3, _date),
    "YEAR": (1, 1, _part),
    "MONTH": (1, 1, _part),
    "DAY": (1, 1, _part),
    "ADD_DAYS": (2, 2, _add_days),
    "DAYS_BETWEEN": (2, 2, _days_between),
    "TEXT": (1, 1, _text),
}


def call(node: Node, args: list[Term]) -> Term:
    """The term of the function call ``node`` with compiled ``args``."""
    spec = FUNCTIONS.get(node.value)
    if spec is None:
        close = difflib.get_close_matches(node.value, list(FUNCTIONS), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise fail(f"unknown function {node.value}{hint}", node.pos)
    low, high, build = spec
    if len(args) < low or (high is not None and len(args) > high):
        if high is None:
            wanted = f"at least {low}"
        else:
            wanted = str(low) if low == high else f"{low} or {high}"
        plural = "" if wanted.endswith(" 1") or wanted == "1" else "s"
        raise fail(f"{node.value} takes {wanted} argument{plural}, not {len(args)}", node.pos)
    return build(node, args)
