"""Type-checking a formula tree against an object's fields, and compiling it to closures.

Every operator and function is checked once, when the formula is defined, so that evaluation
cannot meet a type it does not expect: it only meets nulls, and those propagate.
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping

from mosaic.filters.dates import to_date, to_datetime
from mosaic.formulas import functions
from mosaic.formulas.grammar import Node, fail
from mosaic.formulas.types import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, NULL, NUMBERS, TEXT,
                                   TIMES, Env, Term, const, decimal, describe, integer, to_text,
                                   unify, widen)
from mosaic.metadata.fields import FieldDef, FieldType

#: the formula type of each field type a formula may read.
FIELD_TYPES = {
    FieldType.TEXT: TEXT, FieldType.LONG_TEXT: TEXT, FieldType.EMAIL: TEXT,
    FieldType.PHONE: TEXT, FieldType.URL: TEXT, FieldType.PICKLIST: TEXT, FieldType.LOOKUP: TEXT,
    FieldType.INTEGER: INTEGER, FieldType.DECIMAL: DECIMAL, FieldType.PERCENT: DECIMAL,
    FieldType.BOOLEAN: BOOLEAN, FieldType.DATE: DATE, FieldType.DATETIME: DATETIME,
}
MONEY_PARTS = {"amount": DECIMAL, "currency": TEXT}


def _reader(type_: str):
    """How a stored python value is read as ``type_`` (tolerant of JSON forms: ISO text dates,
    Decimal or int decimals)."""
    if type_ == TEXT:
        return lambda v: v if isinstance(v, str) else str(v)
    if type_ == INTEGER:
        return int
    if type_ == DECIMAL:
        return float
    if type_ == BOOLEAN:
        return bool
    if type_ == DATE:
        return to_date
    return to_datetime


def _field_term(node: Node, fields: Mapping[str, FieldDef]) -> Term:
    fd = fields.get(node.value)
    if fd is None:
        close = difflib.get_close_matches(node.value, list(fields), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise fail(f"unknown field {node.value!r}{hint}", node.pos)
    name, sub = fd.name, node.sub
    if fd.type is FieldType.MONEY:
        if sub not in MONEY_PARTS:
            raise fail(f"the money field {name!r} is read as {name}.amount or {name}.currency",
                       node.pos)
        type_, read = MONEY_PARTS[sub], _reader(MONEY_PARTS[sub])

        def money(env: Env, name=name, sub=sub, read=read) -> Any:
            raw = env.values.get(name)
            part = raw.get(sub) if isinstance(raw, Mapping) else None
            return None if part is None else read(part)
        return Term(type_, money)
    if sub is not None:
        raise fail(f"{name!r} has no parts ({name}.{sub})", node.pos)
    if fd.type is FieldType.FORMULA:
        if fd.formula_type is None:
            raise fail(f"the formula field {name!r} has no result type", node.pos)
        type_ = fd.formula_type
    else:
        type_ = FIELD_TYPES.get(fd.type)
    if type_ is None:
        raise fail(f"a {fd.type.value} field ({name!r}) cannot be used in a formula", node.pos)
    read = _reader(type_)

    def value(env: Env, name=name, read=read) -> Any:
        raw = env.values.get(name)
        return None if raw is None else read(raw)
    return Term(type_, value)


def compile_node(node: Node, fields: Mapping[str, FieldDef]) -> Term:
    """The typed, compiled form of ``node`` (recursion bounded by the grammar's depth limit)."""
    kind = node.kind
    if kind == "literal":
        return _literal(node)
    if kind == "ref":
        return _field_term(node, fields)
    args = [compile_node(a, fields) for a in node.args]
    if kind == "unary":
        return _unary(node, args[0])
    if kind == "binary":
        return _concat(args) if node.value == "&" else _arithmetic(node, *args)
    if kind == "compare":
        return _compare(node, *args)
    if kind in ("and", "or"):
        return functions.junction(kind, args, node)
    if kind == "not":
        return functions.negation(args[0], node)
    return functions.call(node, args)


def _literal(node: Node) -> Term:
    if node.sub == "number":
        if isinstance(node.value, int):
            if integer(node.value) is None:
                raise fail(f"the number {node.value} is out of range", node.pos)
            return const(node.value, INTEGER)
        if decimal(node.value) is None:
            raise fail("the number is out of range", node.pos)
        return const(node.value, DECIMAL)
    type_ = {"string": TEXT, "boolean": BOOLEAN, "null": NULL}[node.sub]
    return const(node.value, type_)


def _numeric(term: Term, node: Node, what: str) -> None:
    if term.type not in NUMBERS and term.type != NULL:
        hint = ""
        if term.type in TIMES:
            hint = "; use ADD_DAYS or DAYS_BETWEEN for dates"
        elif term.type == TEXT and what == "'+'":
            hint = "; use & to join text"
        raise fail(f"{what} needs numbers, not {describe(term.type)}{hint}", node.pos)


def _unary(node: Node, arg: Term) -> Term:
    _numeric(arg, node, f"unary '{node.value}'")
    type_ = INTEGER if arg.type == NULL else arg.type
    if node.value == "+":
        return Term(type_, arg.fn)
    fn = arg.fn
    return Term(type_, lambda env: None if (v := fn(env)) is None else -v)


def _arithmetic(node: Node, left: Term, right: Term) -> Term:
    op = node.value
    _numeric(left, node, f"'{op}'")
    _numeric(right, node, f"'{op}'")
    both_int = left.type in (INTEGER, NULL) and right.type in (INTEGER, NULL)
    lf, rf = left.fn, right.fn
    if op == "/":
        def divide(env: Env) -> Any:
            a, b = lf(env), rf(env)
            if a is None or b is None or b == 0:
                return None  # division by zero is null, not an error: one record, one value
            return decimal(a / b)
        return Term(DECIMAL, divide)
    apply = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}[op]
    check = integer if both_int else decimal

    def arith(env: Env) -> Any:
        a, b = lf(env), rf(env)
        if a is None or b is None:
            return None
        return check(apply(a, b))
    return Term(INTEGER if both_int else DECIMAL, arith)


def _concat(args: list[Term]) -> Term:
    lf, rf = args[0].fn, args[1].fn

    def concat(env: Env) -> Any:
        a, b = lf(env), rf(env)
        if a is None or b is None:
            return None  # null propagates; CONCAT() is the null-skipping join
        return to_text(a) + to_text(b)
    return Term(TEXT, concat)


_ORDERED = {TEXT, INTEGER, DECIMAL, DATE, DATETIME}
_CMP = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _compare(node: Node, left: Term, right: Term) -> Term:
    op = node.value
    if NULL in (left.type, right.type):
        raise fail(f"'{op} null' is always null; test for a missing value with COALESCE",
                   node.pos)
    shared = unify((left.type, right.type), f"the comparison '{op}'", node)
    if op not in ("=", "!=") and shared not in _ORDERED:
        raise fail(f"'{op}' does not apply to {shared} values; use = or !=", node.pos)
    lf, rf, test = widen(left, shared).fn, widen(right, shared).fn, _CMP[op]

    def compare(env: Env) -> Any:
        a, b = lf(env), rf(env)
        return None if a is None or b is None else test(a, b)
    return Term(BOOLEAN, compare)

