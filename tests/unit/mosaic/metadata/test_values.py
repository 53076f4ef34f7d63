"""mosaic.metadata.values: JSON storage and API forms of values."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from mosaic.metadata import FieldDef, FieldType, from_json_value, to_api_value, to_json_value
from mosaic.metadata.values import format_datetime

T = FieldType


def make_field(type_: FieldType, **overrides) -> FieldDef:
    return FieldDef(**{"name": "f", "type": type_, **overrides})


def test_datetime_storage_form_is_fixed_width_utc_and_sorts_chronologically():
    f = make_field(T.DATETIME)
    berlin = timezone(timedelta(hours=2))
    values = [datetime(2024, 1, 1, 23, 0, tzinfo=berlin),
              datetime(2024, 1, 1, 22, 0, 0, 5, tzinfo=timezone.utc),
              datetime(999, 5, 1, tzinfo=timezone.utc),
              datetime(2024, 1, 1, 21, 30, tzinfo=timezone.utc)]
    stored = [to_json_value(f, v) for v in values]
    assert stored[0] == "2024-01-01T21:00:00.000000+00:00"
    assert stored[2] == "0999-05-01T00:00:00.000000+00:00"
    assert len({len(s) for s in stored}) == 1
    assert sorted(stored) == [to_json_value(f, v) for v in sorted(values)]
    assert [from_json_value(f, s) for s in stored] == values


def test_date_round_trip():
    f = make_field(T.DATE)
    assert to_json_value(f, date(2024, 2, 29)) == "2024-02-29"
    assert from_json_value(f, "2024-02-29") == date(2024, 2, 29)


def test_other_types_are_stored_as_they_are():
    money = {"amount": 1.5, "currency": "EUR"}
    assert to_json_value(make_field(T.MONEY), money) == money
    assert from_json_value(make_field(T.MONEY), money) == money
    assert to_json_value(make_field(T.MULTI_PICKLIST), ("a", "b")) == ["a", "b"]
    assert to_json_value(make_field(T.DECIMAL), Decimal("1.25")) == 1.25
    assert to_json_value(make_field(T.TEXT), None) is None
    assert from_json_value(make_field(T.INTEGER), 3) == 3


def test_from_json_value_tolerates_legacy_values():
    assert from_json_value(make_field(T.DATE), "not a date") == "not a date"
    assert from_json_value(make_field(T.DATETIME), 12) == 12
    naive = from_json_value(make_field(T.DATETIME), "2024-01-01T00:00:00")
    assert naive.tzinfo == timezone.utc


def test_api_values_are_json_safe():
    assert to_api_value(make_field(T.DATE), date(2024, 1, 2)) == "2024-01-02"
    assert to_api_value(make_field(T.DATETIME), datetime(2024, 1, 2, tzinfo=timezone.utc)) == \
        "2024-01-02T00:00:00.000000+00:00"
    assert to_api_value(make_field(T.MONEY), {"amount": Decimal("2"), "currency": "EUR"}) == \
        {"amount": 2.0, "currency": "EUR"}
    assert to_api_value(make_field(T.TEXT), "x") == "x"


def test_format_datetime_treats_naive_as_utc():
    assert format_datetime(datetime(2024, 1, 1)) == "2024-01-01T00:00:00.000000+00:00"
