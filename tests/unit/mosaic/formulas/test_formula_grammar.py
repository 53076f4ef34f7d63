"""mosaic.formulas.grammar: formula syntax, precedence, limits and syntax errors."""
from __future__ import annotations

import pytest

from mosaic.errors import ValidationFailed
from mosaic.formulas import MAX_DEPTH, MAX_LENGTH, references
from mosaic.formulas.grammar import parse_tree


def syntax_error(text: str) -> str:
    with pytest.raises(ValidationFailed) as exc:
        parse_tree(text)
    [message] = exc.value.errors["formula"]
    return message


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3), ("2 * -3", -6), ("-2 * 3", -6),
    ("--4", 4), ("+4", 4), ("7 / 2", 3.5), ("1 + 2 = 3", True), ("1 < 2 and 2 < 1", False),
    ("not 1 > 2 or false", True), ("true or false and false", True), ("(true or false) and false", False),
    ("'a' & 1 + 2", "a3"), ("1 <> 2", True), ("1 != 1", False), ("2 >= 2", True), ("2 <= 1", False),
    ("NOT(true)", False), ("not (1 = 1)", False), ("upper('x')", "X"), ("AND(true, true)", True),
    ("or(false, true)", True), ('"say \\"hi\\""', 'say "hi"'), ("'it\\'s'", "it's"),
    ("'tab\\there'", "tab\there"), ("'\\u00e9'", "\u00e9"), ("1.50 * 2", 3.0),
])
def test_precedence_and_literals(calc, text, expected):
    assert calc(text) == expected


def test_keywords_are_case_insensitive_whole_words(calc, make_fields, make_record, now):
    from mosaic.formulas import parse_formula
    from mosaic.metadata.fields import FieldDef, FieldType

    assert calc("TRUE AND NOT FALSE") is True
    fields = make_fields(notes=FieldDef("notes", FieldType.TEXT), order_no=FieldDef("order_no", FieldType.TEXT))
    formula = parse_formula("notes & order_no", fields)
    assert formula.evaluate({"notes": "a", "order_no": "b"}, now) == "ab"


@pytest.mark.parametrize("text, fragment", [
    ("1 +", "unexpected end of formula"),
    ("qty qty", "unexpected 'qty'"),
    ("'open", "unterminated string"),
    ("1 # 2", "unexpected character '#'"),
    ("a.b.c", "unexpected '.'"),
    ("IF(1, 2", "unexpected end of formula"),
    ("1 = 2 = 3", "unexpected '='"),
    ("'\\u12'", "bad \\u escape"),
    ("price.amount.x", "unexpected '.'"),
])
def test_syntax_errors_name_the_position(text, fragment):
    message = syntax_error(text)
    assert fragment in message
    assert "at position" in message


def test_empty_and_non_string_formulas():
    assert syntax_error("   ") == "formula is empty"
    assert syntax_error(None) == "formula must be a string"  # type: ignore[arg-type]


def test_limits_refuse_huge_and_deep_formulas():
    assert "too long" in syntax_error("1" * (MAX_LENGTH + 1))
    assert "nested too deeply" in syntax_error("-" * MAX_DEPTH + "1")
    assert "nested too deeply" in syntax_error("ABS(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH)
    assert "too large" in syntax_error("MAX(" + ", ".join(["1"] * 600) + ")")
    parse_tree("-" * (MAX_DEPTH - 1) + "1")  # just within
    parse_tree(" + ".join(["qty"] * MAX_DEPTH))  # a long sum is as deep as it is long


def test_parentheses_alone_do_not_count_as_depth():
    parse_tree("(" * 60 + "1" + ")" * 60)


def test_references_are_the_field_names_used():
    assert references("IF(vip, price.amount * qty, 0) & name") == {"vip", "price", "qty", "name"}
    assert references("TODAY()") == set()
