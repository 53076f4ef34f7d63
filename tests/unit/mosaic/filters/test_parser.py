"""``parse``: field lookup and type checks against an object's fields."""
from __future__ import annotations

import pytest

from mosaic.errors import InvalidFilter
from mosaic.filters import Filter, parse
from mosaic.metadata.fields import FieldDef, FieldType


def errors_of(text: str, fields) -> list[str]:
    with pytest.raises(InvalidFilter) as info:
        parse(text, fields)
    return info.value.errors["filter"]


def test_parse_returns_a_filter_with_the_fields_used(fields):
    flt = parse('name contains "a" and (price.currency = "EUR" or price > 3) and tags is null', fields)
    assert isinstance(flt, Filter)
    assert flt.fields == {"name", "price", "tags"}
    assert flt.field_defs["price"].type == FieldType.MONEY
    assert str(flt) == 'name contains "a" and (price.currency = "EUR" or price > 3) and tags is null'


@pytest.mark.parametrize("text", [
    'name = "a"', 'name < "b"', 'name in ("a", "b")', 'name not in ("a")', 'name contains "a"',
    'email endswith "@x.org"', 'stage startswith "w"', 'account_id = "0191"', "name is null",
    "age > 3", "age >= -2.5", "age in (1, 2)", "score <= 1.25", "rate > 50", "price.amount != 0",
    "price > 1", 'price.currency in ("EUR")', "vip = true", "vip != false", "vip in (true)",
    "born = 2024-05-01", "born < today", "born >= now", "born = 2024-05-01T10:00:00Z",
    "born within next 2 weeks", "born before today", "seen after 2024-05-01",
    "seen = today", "seen within last 3 hours", "seen in (2024-05-01, now)", 'tags contains "x"',
    "tags is not null", "price is null",
])
def test_valid_filters(text, fields):
    parse(text, fields)


def test_unknown_field_is_named_with_position_and_suggestion(fields):
    [message] = errors_of('nmae = "x"', fields)
    assert message == "unknown field 'nmae' (did you mean name?) at position 1"


def test_all_problems_are_reported_at_once(fields):
    messages = errors_of('foo = 1 and age > "abc" and vip < true', fields)
    assert len(messages) == 3
    assert messages[0].startswith("unknown field 'foo'")
    assert messages[1] == "'age' (integer) needs a number, not \"abc\" at position 19"
    assert messages[2] == "'<' does not apply to 'vip' (boolean); use = or != at position 29"


@pytest.mark.parametrize("text, fragment", [
    ("age > \"abc\"", "'age' (integer) needs a number"),
    ("name = 3", "'name' (text) needs a string, not 3"),
    ("vip = 1", "'vip' (boolean) needs true or false"),
    ('born > "2024-05-01"', "'born' (date) needs a date, a datetime, today or now"),
    ("score = today", "'score' (decimal) needs a number, not today"),
    ('age contains "1"', "'contains' needs a text field, not 'age' (integer)"),
    ('seen startswith "2024"', "'startswith' needs a text field"),
    ("name within last 3 days", "'within' needs a date or datetime field"),
    ('name before "b"', "'before' needs a date or datetime field"),
    ('tags = "x"', "supports only 'contains' and 'is null'"),
    ('tags in ("x")', "supports only 'contains' and 'is null'"),
    ('tags startswith "x"', "use contains"),
    ("price.cents > 1", "unknown field 'price.cents': a money field has .amount and .currency"),
    ("age.value > 1", "'age' has no parts"),
    ("total > 1", "formula field 'total' has no result type and cannot be used in a filter"),
    ("rank.part = 1", "'rank' has no parts"),
    ('rank > "a"', "'rank' (decimal) needs a number"),
    ("name = null", "compare with null using 'is null', not '= null'"),
    ("name != null", "using 'is not null'"),
    ('name in ("a", null)', "null cannot be a list element"),
    ("age = 9223372036854775808", "out of range for 'age'"),
    ("score > 1" + "0" * 400, "out of range for 'score'"),
])
def test_type_mismatches(text, fragment, fields):
    [message] = errors_of(text, fields)
    assert fragment in message
    assert "at position" in message


def test_biggest_64_bit_integer_is_accepted(fields):
    parse("age < 9223372036854775807 and age > -9223372036854775808", fields)


def test_field_names_are_case_sensitive_keywords_are_not(make_fields):
    fields = make_fields(Stage=FieldDef("Stage", FieldType.TEXT))
    assert parse('Stage = "a" AND stage IS NOT NULL', fields).fields == {"Stage", "stage"}


def test_fields_can_be_any_mapping(make_fields):
    only_age = make_fields(name=None)
    assert errors_of('name = "x"', only_age)[0].startswith("unknown field 'name'")
