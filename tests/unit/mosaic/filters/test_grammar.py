"""Syntax: what parses into which tree, and how syntax errors and limits are reported."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings

from mosaic.errors import InvalidFilter
from mosaic.filters.ast import (And, Compare, FieldRef, InList, IsNull, Match, Not, Or, Value, Within,
                                render)
from mosaic.filters.grammar import MAX_COMPARISONS, MAX_DEPTH, MAX_LENGTH, parse_tree
from mosaic.filters.testing import filters
from mosaic.metadata.fields import FieldDef, FieldType


def cmp(name, op, kind, value=None, subpath=None):
    return Compare(FieldRef(name, subpath), op, Value(kind, value))


def error_of(text: str) -> str:
    with pytest.raises(InvalidFilter) as info:
        parse_tree(text)
    messages = info.value.errors["filter"]
    assert len(messages) == 1
    return messages[0]


@pytest.mark.parametrize("text, tree", [
    ("age = 3", cmp("age", "=", "number", 3)),
    ("age != -3", cmp("age", "!=", "number", -3)),
    ("score < 2.50", cmp("score", "<", "number", Decimal("2.50"))),
    ("score <= -0.5", cmp("score", "<=", "number", Decimal("-0.5"))),
    ("name > 'b'", cmp("name", ">", "string", "b")),
    ('name >= "b"', cmp("name", ">=", "string", "b")),
    ("vip = TRUE", cmp("vip", "=", "boolean", True)),
    ("vip = false", cmp("vip", "=", "boolean", False)),
    ("born = 2024-05-01", cmp("born", "=", "date", date(2024, 5, 1))),
    ("seen < 2024-05-01T10:00:00Z", cmp("seen", "<", "datetime", datetime(2024, 5, 1, 10, tzinfo=timezone.utc))),
    ("seen < 2024-05-01T12:00+02:00", cmp("seen", "<", "datetime", datetime(2024, 5, 1, 10, tzinfo=timezone.utc))),
    ("seen < 2024-05-01T10:00:00.25", cmp("seen", "<", "datetime",
                                          datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=timezone.utc))),
    ("seen >= today", cmp("seen", ">=", "today")),
    ("seen < NOW", cmp("seen", "<", "now")),
    ("seen before today", cmp("seen", "before", "today")),
    ("seen after today", cmp("seen", "after", "today")),
    ("price.amount > 10", cmp("price", ">", "number", 10, subpath="amount")),
    ("name = null", cmp("name", "=", "null")),
    ('stage in ("a", \'b\')', InList(FieldRef("stage"), (Value("string", "a"), Value("string", "b")))),
    ("stage NOT IN ('a')", InList(FieldRef("stage"), (Value("string", "a"),), negated=True)),
    ('name Contains "x"', Match(FieldRef("name"), "contains", Value("string", "x"))),
    ('name startswith "x"', Match(FieldRef("name"), "startswith", Value("string", "x"))),
    ('name endswith "x"', Match(FieldRef("name"), "endswith", Value("string", "x"))),
    ("name is null", IsNull(FieldRef("name"))),
    ("name IS NOT NULL", IsNull(FieldRef("name"), negated=True)),
    ("seen within last 30 days", Within(FieldRef("seen"), "last", 30, "days")),
    ("seen within next 1 Week", Within(FieldRef("seen"), "next", 1, "weeks")),
    ("seen within last 2 months", Within(FieldRef("seen"), "last", 2, "months")),
])
def test_every_form_parses_to_its_tree(text, tree):
    assert parse_tree(text) == tree


def test_and_binds_tighter_than_or_and_not_tightest():
    a, b, c = cmp("a", "=", "number", 1), cmp("b", "=", "number", 2), cmp("c", "=", "number", 3)
    assert parse_tree("a = 1 or b = 2 and c = 3") == Or((a, And((b, c))))
    assert parse_tree("(a = 1 or b = 2) and c = 3") == And((Or((a, b)), c))
    assert parse_tree("not a = 1 and b = 2") == And((Not(a), b))
    assert parse_tree("not (a = 1 and b = 2)") == Not(And((a, b)))


def test_nested_and_is_flattened():
    tree = parse_tree("a = 1 and (b = 2 and (c = 3))")
    assert isinstance(tree, And) and len(tree.items) == 3


@pytest.mark.parametrize("text, expected", [
    (r'name = "say \"hi\""', 'say "hi"'),
    (r"name = 'it\'s'", "it's"),
    (r'name = "back\\slash"', "back\\slash"),
    (r'name = "tab\there\nnext"', "tab\there\nnext"),
    (r'name = "\u00e9t\u00E9"', "été"),
    (r'name = "100% _sure"', "100% _sure"),
])
def test_string_escapes(text, expected):
    assert parse_tree(text).value.value == expected


def test_keywords_are_whole_words_and_field_names_may_look_like_keywords():
    assert parse_tree("notes = 1 and android = 2").items[0].field.name == "notes"
    assert parse_tree("last = 1").field.name == "last"
    assert parse_tree("today is null").field.name == "today"
    assert parse_tree("nullable is not null").field.name == "nullable"


@pytest.mark.parametrize("text, message", [
    ("a = 1 andy = 2", "unexpected 'andy' at position 7"),
    ("age = ", "unexpected end of filter at position 7"),
    ("age == 3", "unexpected '=' at position 6"),
    ("(age = 3", "unexpected end of filter at position 9; expected ')'"),
    ("age = 3)", "unexpected ')' at position 8"),
    ("age = @", "unexpected character '@' at position 7"),
    ('name = "open', "unterminated string at position 8"),
    ("born = 2024-02-30", "invalid date '2024-02-30' at position 8"),
    ("seen = 2024-05-01T25:00Z", "invalid datetime '2024-05-01T25:00Z' at position 8"),
    ("stage in ()", "unexpected ')' at position 11"),
    ("seen within last 1.5 days", "'within' needs a whole, non-negative number at position 18"),
    ("seen within last 2 fortnights", "unexpected 'fortnights' at position 20; expected a time unit"),
    (r'name = "\u12"', "bad \\u escape (needs 4 hex digits) at position 9"),
    ("a.b.c = 1", "unexpected '.' at position 4"),
])
def test_syntax_errors_name_the_position(text, message):
    assert message in error_of(text)


def test_error_is_an_invalid_filter_with_a_filter_entry():
    with pytest.raises(InvalidFilter) as info:
        parse_tree("age =")
    assert info.value.status == 422
    assert info.value.to_problem()["errors"]["filter"][0].startswith("unexpected end of filter")


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_filter_is_refused(text):
    assert error_of(text) == "filter is empty"


def test_limits():
    assert "too long" in error_of("a = 1 and " * 500 + "a = 1")
    assert len("a = 1 and " * 409) < MAX_LENGTH
    many = " or ".join(["a = 1"] * (MAX_COMPARISONS + 1))
    assert f"too many comparisons (more than {MAX_COMPARISONS})" in error_of(many)
    assert parse_tree(" or ".join(["a = 1"] * MAX_COMPARISONS)).size == MAX_COMPARISONS
    assert "nested too deeply" in error_of("not " * (MAX_DEPTH + 1) + "a = 1")
    assert parse_tree("not " * (MAX_DEPTH - 1) + "a = 1").depth == MAX_DEPTH


def test_deep_parentheses_do_not_recurse():
    # Parentheses build no nodes; the LALR parser keeps them on its own stack.
    assert parse_tree("(" * 1500 + "a = 1" + ")" * 1500) == cmp("a", "=", "number", 1)


def test_alternating_and_or_nesting_is_limited():
    text = "a = 1"
    for i in range(MAX_DEPTH + 1):
        text = f"b = 2 {'and' if i % 2 else 'or'} ({text})"
    assert "nested too deeply" in error_of(text)


ROUND_TRIP_FIELDS = {f.name: f for f in (
    FieldDef("name", FieldType.TEXT), FieldDef("age", FieldType.INTEGER),
    FieldDef("score", FieldType.DECIMAL), FieldDef("vip", FieldType.BOOLEAN),
    FieldDef("born", FieldType.DATE), FieldDef("seen", FieldType.DATETIME),
    FieldDef("tags", FieldType.MULTI_PICKLIST), FieldDef("price", FieldType.MONEY),
)}


@settings(max_examples=200, deadline=None)
@given(tree=filters(ROUND_TRIP_FIELDS))
def test_render_is_canonical(tree):
    text = render(tree)
    parsed = parse_tree(text)
    assert render(parsed) == text
