"""Envelope construction, validation and the shared JSON encoding."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mosaic.errors import ValidationFailed
from mosaic.events.envelope import ENVELOPE_KEYS, dumps, encode_body, make_envelope, validate_envelope


def test_make_envelope_has_every_key_and_a_utc_timestamp(make_env):
    env = make_env(version=3)
    assert tuple(env) == ENVELOPE_KEYS
    assert env["version"] == 3
    assert datetime.fromisoformat(env["occurred_at"]).utcoffset() == timedelta(0)
    assert uuid.UUID(env["id"]).version == 7


def test_ids_are_unique_and_time_ordered(make_env):
    ids = [make_env()["id"] for _ in range(50)]
    assert len(set(ids)) == 50


def test_make_envelope_makes_data_json_safe():
    env = make_envelope("deal.updated", "t1", "system", "deal", "d1",
                        {"amount": Decimal("19.99"), "big": Decimal("12345678901234567.891"),
                         "whole": Decimal("10.00"), "closes": date(2024, 5, 1),
                         "at": datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
                         "tags": ("a", "b")}, 2)
    assert env["data"] == {"amount": 19.99, "big": "12345678901234567.891", "whole": 10,
                           "closes": "2024-05-01", "at": "2024-05-01T10:00:00+00:00", "tags": ["a", "b"]}
    assert json.loads(json.dumps(env)) == env


def test_naive_datetimes_are_taken_as_utc():
    assert json.loads(dumps({"at": datetime(2024, 1, 2, 3, 4, 5)})) == {"at": "2024-01-02T03:04:05+00:00"}


def test_unknown_types_are_refused():
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_encode_body_is_utf8_json(make_env):
    env = make_env(data={"name": "Zoë"})
    body = encode_body(env)
    assert isinstance(body, bytes)
    assert json.loads(body.decode("utf-8")) == env


@pytest.mark.parametrize("change, field", [
    ({"type": "contact"}, "type"),
    ({"type": "contact.*"}, "type"),
    ({"tenant_id": ""}, "tenant_id"),
    ({"data": [1]}, "data"),
    ({"version": -1}, "version"),
    ({"version": True}, "version"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "2024-01-01T00:00:00"}, "occurred_at"),
    ({"record_id": 5}, "record_id"),
])
def test_validate_names_the_bad_field(make_env, change, field):
    env = {**make_env(), **change}
    with pytest.raises(ValidationFailed) as info:
        validate_envelope(env)
    assert field in info.value.errors


def test_validate_reports_missing_keys(make_env):
    env = make_env()
    del env["actor"], env["data"]
    with pytest.raises(ValidationFailed) as info:
        validate_envelope(env)
    assert set(info.value.errors) == {"actor", "data"}


def test_validate_accepts_z_suffix_and_null_version(make_env):
    env = {**make_env(), "occurred_at": "2024-01-01T00:00:00Z", "version": None, "record_id": None}
    assert validate_envelope(env) is env


def test_validate_refuses_non_dicts():
    with pytest.raises(ValidationFailed):
        validate_envelope(["not", "an", "envelope"])
