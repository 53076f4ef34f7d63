"""mosaic.metadata.schema_factory: record payloads checked by per-object schemas."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from metadata_factories import make_field, make_object
from mosaic.errors import ValidationFailed
from mosaic.metadata import FieldDef, FieldType, load_create, load_update, schema_for

T = FieldType


def ok(field: FieldDef, value):
    """The converted value of ``value`` for ``field``."""
    return load_create(make_object(field), {"f": value})["f"]


def errors(field: FieldDef, value) -> list[str]:
    """The messages for ``value`` of ``field``."""
    with pytest.raises(ValidationFailed) as exc:
        load_create(make_object(field), {"f": value})
    assert exc.value.detail == "Record is invalid."
    return exc.value.errors["f"]


def test_unknown_and_read_only_fields_are_named():
    obj = make_object(make_field(formula="a + b", type_=T.FORMULA))
    with pytest.raises(ValidationFailed) as exc:
        load_create(obj, {"nope": 1, "id": "x", "version": None, "f": 3})
    assert exc.value.errors == {"nope": ["Unknown field."], "id": ["Read-only field."],
                                "version": ["Read-only field."], "f": ["Read-only field."]}


def test_every_bad_field_is_reported_at_once():
    obj = make_object(make_field(name="a", type_=T.INTEGER), make_field(name="b", type_=T.BOOLEAN),
                      make_field(name="c", required=True))
    with pytest.raises(ValidationFailed) as exc:
        load_create(obj, {"a": "1", "b": "yes"})
    assert set(exc.value.errors) == {"a", "b", "c"}
    assert exc.value.errors["c"] == ["Missing data for required field."]


def test_required_on_create_not_null_on_update_and_partial():
    obj = make_object(make_field(required=True), make_field(name="g"))
    assert load_update(obj, {"g": "x"}) == {"g": "x"}
    assert load_update(obj, {}) == {}
    with pytest.raises(ValidationFailed) as exc:
        load_update(obj, {"f": None})
    assert exc.value.errors == {"f": ["Field may not be null."]}
    assert load_create(obj, {"f": "a", "g": None}) == {"f": "a", "g": None}
    with pytest.raises(ValidationFailed):
        load_create(obj, {"f": "   "})


def test_defaults_apply_on_create_only_and_are_converted():
    obj = make_object(make_field(type_=T.DATE, default="2024-05-01", required=True),
                      make_field(name="n", type_=T.INTEGER, default=7),
                      make_field(name="b", type_=T.BOOLEAN, default=False))
    assert load_create(obj, {}) == {"f": date(2024, 5, 1), "n": 7, "b": False}
    assert load_create(obj, {"n": 1}) == {"f": date(2024, 5, 1), "n": 1, "b": False}
    assert load_update(obj, {"n": 2}) == {"n": 2}


def test_non_mapping_payload():
    with pytest.raises(ValidationFailed) as exc:
        load_create(make_object(), ["x"])
    assert "_schema" in exc.value.errors


def test_owner_id_is_writable():
    assert load_create(make_object(), {"owner_id": "u1"}) == {"owner_id": "u1"}


def test_text_lengths_and_pattern():
    f = make_field(min_length=2, max_length=5, pattern=r"[A-Z]+\d*")
    assert ok(f, "AB12") == "AB12"
    assert errors(f, "A") == ["Shorter than minimum length 2."]
    assert errors(f, "ABCDEF") == ["Longer than maximum length 5."]
    assert "pattern" in errors(f, "ab")[0]
    assert errors(f, "xAB") and errors(f, 12) == ["Not a valid string."]
    assert errors(make_field(), "x" * 256) == ["Longer than maximum length 255."]
    assert ok(make_field(type_=T.LONG_TEXT), "x" * 5000) == "x" * 5000


def test_integer():
    f = make_field(type_=T.INTEGER, min_value=0, max_value=10)
    assert ok(f, 3) == 3 and ok(f, 4.0) == 4 and isinstance(ok(f, 4.0), int)
    assert errors(f, True) == ["Not a valid integer."]
    assert errors(f, "3") == ["Not a valid integer."]
    assert errors(f, 2.5) == ["Not a valid integer."]
    assert errors(f, 11) == ["Must be less than or equal to 10."]
    assert errors(f, -1) == ["Must be greater than or equal to 0."]
    assert errors(make_field(type_=T.INTEGER), 2**63) == ["Integer out of range."]


@pytest.mark.parametrize("type_", [T.DECIMAL, T.PERCENT])
def test_decimal_and_percent(type_):
    f = make_field(type_=type_, min_value=0, max_value=100)
    assert ok(f, 12) == 12.0 and isinstance(ok(f, 12), float)
    assert ok(f, 99.5) == 99.5
    assert errors(f, "1.5") == ["Not a valid number."]
    assert errors(f, False) == ["Not a valid number."]
    assert errors(f, float("nan")) == ["Must be a finite number."]
    assert errors(f, 100.01) == ["Must be less than or equal to 100."]


def test_money():
    f = make_field(type_=T.MONEY, currency="EUR", min_value=0)
    assert ok(f, {"amount": 10}) == {"amount": 10.0, "currency": "EUR"}
    assert ok(f, {"amount": 1.5, "currency": "usd"}) == {"amount": 1.5, "currency": "USD"}
    assert "currency" in errors(make_field(type_=T.MONEY), {"amount": 1})[0]
    assert errors(f, {"amount": 1, "currency": "EURO"}) == \
        ["The currency must be a 3-letter ISO 4217 code."]
    assert errors(f, {"currency": "EUR"}) == ["The amount is required."]
    assert errors(f, {"amount": "1"}) == ["The amount is not a valid number."]
    assert errors(f, {"amount": 1, "rate": 2}) == ["Unknown keys: rate."]
    assert errors(f, 5)[0].startswith("Not a valid amount")
    assert errors(f, {"amount": -1}) == ["Must be greater than or equal to 0."]


def test_date():
    f = make_field(type_=T.DATE)
    assert ok(f, "2024-02-29") == date(2024, 2, 29)
    assert ok(f, date(2024, 1, 1)) == date(2024, 1, 1)
    assert errors(f, "2023-02-29") == ["Not a valid date."]
    assert errors(f, "29.02.2024") == ["Not a valid date: use YYYY-MM-DD."]
    assert errors(f, "2024-01-01T00:00:00+00:00") == ["Not a valid date: use YYYY-MM-DD."]
    assert errors(f, datetime(2024, 1, 1, tzinfo=timezone.utc))


def test_datetime():
    f = make_field(type_=T.DATETIME)
    value = ok(f, "2024-03-01T10:30:00+02:00")
    assert value == datetime(2024, 3, 1, 8, 30, tzinfo=timezone.utc)
    assert value.utcoffset() == timedelta(0)
    assert ok(f, "2024-03-01T10:30:00.123456Z").microsecond == 123456
    assert "offset" in errors(f, "2024-03-01T10:30:00")[0]
    assert errors(f, "yesterday") == ["Not a valid ISO 8601 datetime."]
    assert errors(f, 1700000000) == ["Not a valid ISO 8601 datetime."]


def test_boolean():
    f = make_field(type_=T.BOOLEAN)
    assert ok(f, True) is True and ok(f, False) is False
    for bad in (1, 0, "true", "yes"):
        assert errors(f, bad) == ["Not a valid boolean."]


def test_email():
    f = make_field(type_=T.EMAIL)
    assert ok(f, " Jane.Doe@Example.COM ") == "Jane.Doe@example.com"
    assert errors(f, "not-an-email") == ["Not a valid email address."]
    assert errors(f, "a@b") == ["Not a valid email address."]


def test_phone():
    f = make_field(type_=T.PHONE)
    assert ok(f, "+49 (30) 1234-567") == "+49301234567"
    assert ok(f, "030 123456") == "030123456"
    assert errors(f, "12345") == ["A phone number has 6 to 20 digits."]
    assert errors(f, "1" * 21) == ["A phone number has 6 to 20 digits."]
    assert errors(f, "call me") == ["Not a valid phone number."]
    assert errors(f, "12+345678") == ["Not a valid phone number."]


def test_url():
    f = make_field(type_=T.URL)
    assert ok(f, "https://example.com/a?b=1") == "https://example.com/a?b=1"
    assert ok(f, "http://intranet/wiki") == "http://intranet/wiki"
    for bad in ("ftp://example.com", "javascript:alert(1)", "example.com"):
        assert errors(f, bad) == ["Not a valid http(s) URL."]


def test_picklists():
    f = make_field(type_=T.PICKLIST, choices=("a", "b"))
    assert ok(f, "a") == "a"
    assert errors(f, "c") == ["Must be one of: a, b."]
    m = make_field(type_=T.MULTI_PICKLIST, choices=("a", "b", "c"))
    assert ok(m, ["c", "a"]) == ["c", "a"] and ok(m, []) == []
    assert errors(m, ["a", "a"]) == ["Each choice may appear once."]
    assert errors(m, ["a", "z"])[0].startswith("Not allowed: z.")
    assert errors(m, "a") == ["Not a valid list of choices."]


def test_lookup():
    f = make_field(type_=T.LOOKUP, lookup="account")
    assert ok(f, " 0190-abc ") == "0190-abc"
    for bad in ("", "  ", 12, ["x"]):
        assert errors(f, bad) == ["Not a valid record id."]


def test_null_allowed_for_optional_fields_of_every_type():
    for t in T:
        if t is T.FORMULA:
            continue
        assert ok(make_field(type_=t, choices=("a",)), None) is None


def test_schemas_are_cached_by_key_and_by_fingerprint():
    obj = make_object(make_field())
    assert schema_for(obj, ("t1", "thing", 1)) is schema_for(obj, ("t1", "thing", 1))
    assert schema_for(obj, ("t1", "thing", 2)) is not schema_for(obj, ("t1", "thing", 1))
    assert schema_for(obj) is schema_for(make_object(make_field()))
    assert schema_for(obj) is not schema_for(make_object(make_field(required=True)))


def test_cached_schema_follows_the_key_given():
    loose = make_object(make_field())
    strict = make_object(make_field(required=True))
    assert load_create(loose, {}, ("t1", "thing", 1)) == {}
    with pytest.raises(ValidationFailed):
        load_create(strict, {}, ("t1", "thing", 2))


def _every_type_object():
    return make_object(
        make_field(name="t", required=True), make_field(name="i", type_=T.INTEGER, min_value=0),
        make_field(name="d", type_=T.DECIMAL), make_field(name="m", type_=T.MONEY),
        make_field(name="day", type_=T.DATE), make_field(name="at", type_=T.DATETIME),
        make_field(name="b", type_=T.BOOLEAN), make_field(name="e", type_=T.EMAIL),
        make_field(name="p", type_=T.PICKLIST, choices=("a", "b")),
        make_field(name="mp", type_=T.MULTI_PICKLIST, choices=("a", "b")),
        make_field(name="l", type_=T.LOOKUP, lookup="account"))


def test_a_good_payload_loads_as_marshmallow_loads_it():
    obj = _every_type_object()
    schema = schema_for(obj)
    assert schema.direct is not None
    payloads = [
        {"t": " x ", "i": 3, "d": 2.5, "m": {"amount": 1.5, "currency": "EUR"}, "day": "2024-02-29",
         "at": "2024-01-01T10:00:00+02:00", "b": True, "e": "Ann@Example.com", "p": "a", "mp": ["b", "a"],
         "l": " 0190-abc ", "owner_id": "u1"},
        {"t": "x", "i": None, "b": None, "owner_id": None},
        {"l": "r1", "t": "y", "e": None},
    ]
    for payload in payloads:
        direct = schema.direct.load(dict(payload))
        assert direct == schema.load(dict(payload))
        assert list(direct) == list(schema.load(dict(payload)))  # same order too
        assert load_create(obj, payload) == direct
    assert schema.direct.load({"i": 1}, partial=True) == schema.load({"i": 1}, partial=True) == {"i": 1}


def test_anything_wrong_goes_to_marshmallow_for_its_errors():
    obj = _every_type_object()
    direct = schema_for(obj).direct
    for bad in ({"t": "x", "nope": 1}, {"i": 1}, {"t": None}, {"t": "x", "id": "r1"}, {"t": "x", "i": -1},
                {"t": "x", "p": "c"}, {"t": "x", "version": None}):
        assert direct.load(bad) is None
        with pytest.raises(ValidationFailed):
            load_create(obj, bad)
    assert direct.load({"t": None}, partial=True) is None
    with pytest.raises(ValidationFailed) as exc:
        load_update(obj, {"t": None, "i": "x"})
    assert exc.value.errors == {"t": ["Field may not be null."], "i": ["Not a valid integer."]}
