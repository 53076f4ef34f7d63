"""Safety of the data platform over HTTP, in both run modes: null for a NOT NULL field, field
patterns RE2 cannot run, required fields on objects with records, and background index builds
whose progress the field shows."""
from __future__ import annotations

import time

from tests.e2e.conftest import assert_problem


def _field(api, obj: str, name: str) -> dict:
    objects = api.get("metadata/objects").json()["items"]
    return next(f for o in objects if o["name"] == obj for f in o["fields"] if f["name"] == name)


def test_null_for_a_not_null_field_is_a_422_naming_it(api):
    contact = api.post("contacts", {"last_name": "Lee"}).json()
    body = assert_problem(api.patch(f"contacts/{contact['id']}", {"email_consent": None}), 422)
    assert body["errors"] == {"email_consent": ["Field may not be null."]}
    account = api.post("accounts", {"name": "Acme"}).json()
    rel = api.post("relationships", {"contact_id": contact["id"], "account_id": account["id"]}).json()
    assert "is_primary" in assert_problem(api.patch(f"relationships/{rel['id']}", {"is_primary": None}),
                                          422)["errors"]
    activity = api.post("activities", {"type": "call", "contact_id": contact["id"]}).json()
    assert "occurred_at" in assert_problem(api.patch(f"activities/{activity['id']}", {"occurred_at": None}),
                                           422)["errors"]
    assert api.get(f"contacts/{contact['id']}").json()["email_consent"] is False


def test_patterns_re2_cannot_run_are_refused_and_catastrophic_ones_are_harmless(api):
    body = assert_problem(api.post("metadata/objects/contact/fields",
                                   {"name": "code", "type": "text", "pattern": r"(a)\1"}), 422)
    assert "'code'" in body["errors"]["pattern"][0]
    assert api.post("metadata/objects/contact/fields",
                    {"name": "code", "type": "text", "pattern": "(a+)+"}).status_code == 201
    bad = assert_problem(api.post("contacts", {"last_name": "X", "code": "a" * 200 + "b"}), 422)
    assert "code" in bad["errors"]
    assert api.post("contacts", {"last_name": "Y", "code": "a" * 200}).status_code == 201


def test_a_required_field_on_an_object_with_records_is_backfilled_or_refused(api):
    contact = api.post("contacts", {"last_name": "Old"}).json()
    body = assert_problem(api.post("metadata/objects/contact/fields",
                                   {"name": "tier", "type": "text", "required": True}), 422)
    assert "no value" in body["detail"] and "required" in body["errors"]
    assert api.post("metadata/objects/contact/fields",
                    {"name": "tier", "type": "text", "required": True, "default": "basic"}).status_code == 201
    assert api.get(f"contacts/{contact['id']}").json()["tier"] == "basic"


def test_an_indexed_field_shows_its_index_build(api, stack):
    created = api.post("metadata/objects/contact/fields", {"name": "region", "type": "text", "indexed": True})
    assert created.status_code == 201, created.text
    if stack.mode == "embedded":  # SQLite: no expression indexes, nothing to build
        assert created.json()["index_status"] is None
        assert _field(api, "contact", "region")["index_status"] is None
        return
    assert created.json()["index_status"] == "pending"
    deadline = time.monotonic() + 60  # the service's job timer builds it (MOSAIC_JOBS_INTERVAL)
    while _field(api, "contact", "region")["index_status"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.3)
    field = _field(api, "contact", "region")
    assert field["index_status"] == "ready" and field["index_error"] is None
    assert api.post("contacts", {"last_name": "Z", "region": "north"}).status_code == 201
