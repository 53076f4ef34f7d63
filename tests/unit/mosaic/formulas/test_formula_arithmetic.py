"""Property: formula arithmetic gives what Python gives for the same expression (integers stay
integers, ``/`` is true division), with the formula language's null rules on top (null in, null
out; division by zero, a non-finite float or an integer beyond 64 bits is null)."""
from __future__ import annotations

import math
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.formulas import parse_formula
from mosaic.metadata.fields import FieldDef, FieldType

FIELDS = {"i": FieldDef("i", FieldType.INTEGER), "j": FieldDef("j", FieldType.INTEGER),
          "x": FieldDef("x", FieldType.DECIMAL)}
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1
NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _checked(value):
    if value is None:
        return None
    if isinstance(value, int):
        return value if INT_MIN <= value <= INT_MAX else None
    return value if math.isfinite(value) else None


def _apply(op, a, b):
    if a is None or b is None:
        return None
    if op == "/":
        return None if b == 0 else _checked(a / b)
    return _checked({"+": a + b, "-": a - b, "*": a * b}[op])


integers = st.integers(0, 10 ** 6).map(lambda n: (str(n), n))
decimals = st.integers(0, 10 ** 6).map(lambda n: (f"{n / 100:.2f}", n / 100))
names = st.sampled_from(["i", "j", "x"]).map(lambda n: (n, n))  # resolved against the record
leaves = st.one_of(integers, decimals, names)


def _combine(children):
    binary = st.tuples(st.sampled_from("+-*/"), children, children).map(
        lambda t: (f"({t[1][0]} {t[0]} {t[2][0]})", ("op", t[0], t[1][1], t[2][1])))
    negated = children.map(lambda c: (f"-{c[0]}", ("neg", c[1])))
    return st.one_of(binary, negated)


expressions = st.recursive(leaves, _combine, max_leaves=12)
records = st.fixed_dictionaries({
    "i": st.one_of(st.none(), st.integers(-10 ** 9, 10 ** 9)),
    "j": st.one_of(st.none(), st.integers(-3, 3)),
    "x": st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
})


def _expected(tree, record):
    if isinstance(tree, str):
        return record[tree]
    if not isinstance(tree, tuple):
        return tree
    if tree[0] == "neg":
        value = _expected(tree[1], record)
        return None if value is None else _checked(-value)
    _, op, left, right = tree
    return _apply(op, _expected(left, record), _expected(right, record))


@settings(max_examples=400, deadline=None)
@given(expressions, records)
def test_arithmetic_agrees_with_python(expression, record):
    text, tree = expression
    formula = parse_formula(text, FIELDS)
    expected = _expected(tree, record)
    got = formula.evaluate(record, now=NOW)
    assert got == expected
    if expected is not None:
        # integer arithmetic stays integer unless a decimal or a division is involved
        assert isinstance(got, int) == (formula.result_type == "integer")
        assert isinstance(got, type(expected))
