"""Plugins end to end, in both run modes: per-tenant enablement of the installed real-estate
plugin (objects, fields, process, routes, OpenAPI), disabling and re-enabling keeps the data,
and the plugin's own behaviour over HTTP."""
from __future__ import annotations

import uuid

from tests.e2e.conftest import assert_problem


def enable(api, name="realestate"):
    resp = api.put(f"admin/plugins/{name}")
    assert resp.status_code == 200, resp.text
    assert name in resp.json()["plugins"]


def make_property(api, **overrides):
    body = {"title": "Flat " + uuid.uuid4().hex[:6], "address": "1 Main St", "district": "city_centre",
            "type": "apartment", "area_m2": 72.5, "rooms": 3, "price": 250000}
    body.update(overrides)
    resp = api.post("realestate__properties", body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_admin_lists_installed_plugins(api):
    listing = api.get("admin/plugins")
    assert listing.status_code == 200, listing.text
    names = {p["name"]: p for p in listing.json()["items"]}
    assert "realestate" in names and names["realestate"]["enabled"] is False
    assert "contacts" not in names  # the core's own plugin is not a tenant's choice
    assert_problem(api.put("admin/plugins/no_such_plugin"), 404)
    detail = api.get("admin/plugins/realestate").json()
    assert {"realestate__property", "realestate__viewing"} <= set(detail["objects"])
    assert "realestate__budget_min" in detail["fields"]["contact"]
    assert detail["processes"] == ["realestate__listing"] and detail["routes"] == ["/api/v1/x/realestate/"]
    assert any(m["name"].startswith("realestate__") for m in detail["analytics_metrics"])


def test_tenant_without_plugin_sees_none_of_it(api, other_api):
    enable(api)
    # the tenant with the plugin
    objects = {o["name"] for o in api.get("metadata/objects").json()["items"]}
    assert {"realestate__property", "realestate__viewing"} <= objects
    contact_fields = {f["name"] for f in api.get("metadata/objects/contact").json()["fields"]}
    assert "realestate__budget_min" in contact_fields
    doc = api.get("openapi.json").json()
    assert "/api/v1/realestate__properties" in doc["paths"]
    assert any(p.startswith("/api/v1/x/realestate/") for p in doc["paths"])
    # the tenant without it
    objects = {o["name"] for o in other_api.get("metadata/objects").json()["items"]}
    assert not any(name.startswith("realestate__") for name in objects)
    contact_fields = {f["name"] for f in other_api.get("metadata/objects/contact").json()["fields"]}
    assert not any(name.startswith("realestate__") for name in contact_fields)
    assert_problem(other_api.get("realestate__properties"), 404)
    assert_problem(other_api.post("realestate__properties", {"title": "x"}), 404)
    unknown = assert_problem(other_api.post("contacts", {"last_name": "Plain", "realestate__budget_min": 1}), 422)
    assert "realestate__budget_min" in unknown["errors"]
    theirs = other_api.post("contacts", {"last_name": "Theirs"}).json()
    assert_problem(other_api.get(f"x/realestate/contacts/{theirs['id']}/matches"), 404)
    doc = other_api.get("openapi.json").json()
    assert not any("realestate" in p for p in doc["paths"])
    assert not any(p["name"].startswith("realestate__") for p in
                   other_api.get("metadata/processes").json()["items"])


def test_disabling_hides_and_reenabling_restores_data(api):
    enable(api)
    prop = make_property(api)
    buyer = api.post("contacts", {"last_name": "Buyer", "realestate__budget_min": 100000,
                                  "realestate__budget_max": 300000}).json()
    assert buyer["realestate__budget_max"] == 300000
    off = api.delete("admin/plugins/realestate")
    assert off.status_code == 200, off.text
    assert_problem(api.get(f"realestate__properties/{prop['id']}"), 404)
    hidden = api.get(f"contacts/{buyer['id']}").json()
    assert "realestate__budget_max" not in hidden
    enable(api)
    back = api.get(f"realestate__properties/{prop['id']}")
    assert back.status_code == 200, back.text
    assert back.json()["title"] == prop["title"]
    assert api.get(f"contacts/{buyer['id']}").json()["realestate__budget_max"] == 300000


def test_property_formula_validation_and_process(api):
    enable(api)
    prop = make_property(api, price=200000, commission_rate=2.5)
    assert prop["commission"] == 5000
    assert prop["status"] == "available"
    bad = assert_problem(api.post("realestate__properties", {"title": "Nothing", "price": 0, "area_m2": 10}), 422)
    assert "positive" in str(bad).lower()
    # the stage field moves only through transitions
    assert_problem(api.patch(f"realestate__properties/{prop['id']}", {"status": "sold"}), 422)
    moved = api.post(f"realestate__properties/{prop['id']}/transition", {"to": "reserved"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["record"]["status"] == "reserved"
    refused = assert_problem(api.post(f"realestate__properties/{prop['id']}/transition", {"to": "under_contract"}), 422)
    assert "positive" in refused["detail"].lower() or "positive" in str(refused.get("errors")).lower()
    buyer = api.post("contacts", {"last_name": "Viewer"}).json()
    viewing = api.post("realestate__viewings", {"property_id": prop["id"], "contact_id": buyer["id"],
                                                "scheduled_at": "2026-11-20T10:00:00Z", "outcome": "positive"})
    assert viewing.status_code == 201, viewing.text
    assert api.get(f"realestate__properties/{prop['id']}").json()["positive_viewings"] == 1
    moved = api.post(f"realestate__properties/{prop['id']}/transition", {"to": "under_contract"})
    assert moved.status_code == 200, moved.text  # the listing process asks for no approval
    assert moved.json()["record"]["status"] == "under_contract"
    history = api.get(f"realestate__properties/{prop['id']}/transitions").json()["items"]
    assert [h["to"] for h in reversed(history)][:2] == ["available", "reserved"]  # newest first


def test_matches_route(api):
    enable(api)
    cheap = make_property(api, price=150000, district="city_centre", rooms=2)
    make_property(api, price=900000, district="city_centre", rooms=5)
    make_property(api, price=150000, district="harbour", rooms=3)
    buyer = api.post("contacts", {"last_name": "Match", "realestate__budget_min": 100000,
                                  "realestate__budget_max": 200000, "realestate__districts": ["city_centre"],
                                  "realestate__rooms_min": 2}).json()
    resp = api.get(f"x/realestate/contacts/{buyer['id']}/matches")
    assert resp.status_code == 200, resp.text
    assert [p["id"] for p in resp.json()["items"]] == [cheap["id"]]
    plain = api.post("contacts", {"last_name": "NoNeeds"}).json()
    assert_problem(api.get(f"x/realestate/contacts/{plain['id']}/matches"), 422)


def test_seed_creates_demo_records(api):
    enable(api)
    resp = api.post("admin/plugins/realestate/seed")
    assert resp.status_code == 201, resp.text
    assert resp.json()["created"] > 0
    assert api.get("realestate__properties").json()["items"]
