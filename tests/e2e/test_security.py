"""Tenant isolation, the module gate, roles, ownership and field permissions, and bad input —
over HTTP, in both run modes."""
from __future__ import annotations

import uuid

import pytest
import requests

from tests.e2e.conftest import PASSWORD, assert_problem, login


def _seed(api) -> dict:
    """One record of every kind in ``api``'s tenant; returns their ids."""
    api.post("metadata/objects", {"name": "asset", "label": "Asset", "plural": "assets",
                                  "fields": [{"name": "name", "type": "text", "required": True}]})
    acc = api.post("accounts", {"name": "Secret Corp"}).json()
    con = api.post("contacts", {"last_name": "Secret", "email": f"{uuid.uuid4().hex[:8]}@secret.test",
                                "account_id": acc["id"]}).json()
    rel = api.post("relationships", {"contact_id": con["id"], "account_id": acc["id"], "role": "champion"}).json()
    act = api.post("activities", {"type": "note", "subject": "secret", "contact_id": con["id"]}).json()
    asset = api.post("assets", {"name": "Secret asset"}).json()
    users = api.get("admin/users").json()
    return {"accounts": acc["id"], "contacts": con["id"], "relationships": rel["id"], "activities": act["id"],
            "assets": asset["id"], "user": (users["items"] if isinstance(users, dict) else users)[0]["id"]}


def test_tenant_isolation_every_route(api, other_api):
    theirs = _seed(other_api)
    mine = api.post("contacts", {"last_name": "Mine"}).json()
    for path in ("accounts", "contacts", "relationships", "activities"):
        rid = theirs[path]
        assert_problem(api.get(f"{path}/{rid}"), 404)
        assert_problem(api.patch(f"{path}/{rid}", {"notes" if path == "relationships" else "subject"
                                                   if path == "activities" else "name" if path == "accounts"
                                                   else "title": "pwned"}), 404)
        assert_problem(api.delete(f"{path}/{rid}"), 404)
        assert_problem(api.get(f"{path}/{rid}/history"), 404)
        assert api.get(path, params={"filter": f'id = "{rid}"'}).json()["items"] == []
    for sub in ("timeline", "duplicates", "360"):
        assert_problem(api.get(f"contacts/{theirs['contacts']}/{sub}"), 404)
    assert_problem(api.get(f"accounts/{theirs['accounts']}/timeline"), 404)
    assert_problem(api.post(f"contacts/{mine['id']}/merge", {"merged_ids": [theirs["contacts"]]}), 404)
    assert_problem(api.post(f"contacts/{theirs['contacts']}/merge", {"merged_ids": [mine["id"]]}), 404)
    assert_problem(api.post("activities", {"type": "call", "contact_id": theirs["contacts"]}), 422)
    assert_problem(api.get("assets"), 404)  # their custom object does not exist here
    assert_problem(api.get(f"assets/{theirs['assets']}"), 404)
    assert_problem(api.get(f"admin/users/{theirs['user']}"), 404)
    assert_problem(api.patch(f"admin/users/{theirs['user']}", {"name": "pwned"}), 404)
    assert "asset" not in [o["name"] for o in api.get("metadata/objects").json()["items"]]
    assert "/api/v1/assets" not in api.get("openapi.json").json()["paths"]
    # and nothing of theirs changed
    still = other_api.get(f"contacts/{theirs['contacts']}").json()
    assert still["version"] == 1 and still["title"] is None
    assert other_api.get(f"assets/{theirs['assets']}").status_code == 200


def test_disabled_module_answers_404_and_comes_back(api):
    c = api.post("contacts", {"last_name": "Kept"}).json()
    assert api.put("admin/modules", {"modules": []}).status_code == 200
    assert_problem(api.get("contacts"), 404)
    assert_problem(api.get(f"contacts/{c['id']}"), 404)
    assert api.put("admin/modules", {"modules": ["contacts"]}).status_code == 200
    assert api.get(f"contacts/{c['id']}").json()["last_name"] == "Kept"


def test_roles_ownership_and_field_permissions(stack, api):
    email = f"rep-{uuid.uuid4().hex[:6]}@{api.tenant}.test"
    made = api.post("admin/users", {"email": email, "password": PASSWORD, "name": "Rep", "roles": ["sales"]})
    assert made.status_code == 201, made.text
    rules = {"rules": [{"object": "contact", "field": "birthday", "role": "sales", "access": "none"},
                       {"object": "contact", "field": "title", "role": "sales", "access": "read"}]}
    assert api.put("admin/field-permissions", rules).status_code == 200, api.put("admin/field-permissions", rules).text
    admins = api.post("contacts", {"last_name": "Boss", "birthday": "1980-02-03", "title": "CEO"}).json()
    rep = login(stack.url, api.tenant, email)

    seen = rep.get(f"contacts/{admins['id']}").json()
    assert "birthday" not in seen and seen["title"] == "CEO"
    assert all("birthday" not in c for c in rep.get("contacts").json()["items"])
    assert_problem(rep.get("contacts", params={"filter": "birthday is not null"}), 403)
    assert_problem(rep.post("contacts", {"last_name": "X", "title": "VP"}), 403)
    assert_problem(rep.patch(f"contacts/{admins['id']}", {"first_name": "Not mine"}), 403)  # owned by the admin
    own = rep.post("contacts", {"last_name": "Rep's own"})
    assert own.status_code == 201, own.text
    assert rep.patch(f"contacts/{own.json()['id']}", {"first_name": "Mine"}).status_code == 200
    assert_problem(rep.post("metadata/objects/contact/fields", {"name": "x", "type": "text"}), 403)
    assert_problem(rep.get("admin/users"), 403)


def test_bad_input_gets_problem_json(stack, api):
    c = api.post("contacts", {"last_name": "Valid"}).json()
    cases = [
        (api.post("contacts", {"last_name": "X", "no_such_field": 1}), 422),
        (api.post("contacts", {"last_name": 42}), 422),
        (api.post("contacts", {"birthday": "31/12/1999", "last_name": "Y"}), 422),
        (api.post("contacts", {"email": "not-an-email", "last_name": "Y"}), 422),
        (api.post("contacts", ["not", "an", "object"]), 400),
        (api.post("contacts", data=b"{nope", headers={"Content-Type": "application/json"}), 400),
        (api.post("contacts", data=b"", headers={"Content-Type": "application/json"}), 400),
        (api.post("contacts", data=b'{"last_name": "' + b"x" * 2_000_000 + b'"}',
                  headers={"Content-Type": "application/json"}), 413),
        (api.patch(f"contacts/{c['id']}", {"version": 7}), 422),
        (api.patch(f"contacts/{c['id']}", {"last_name": "Z"}, headers={"If-Match": "garbage"}), 412),
        (api.get("contacts", params={"filter": "last_name =="}), 422),
        (api.get("contacts", params={"filter": "nope = 1"}), 422),
        (api.get("contacts", params={"filter": 'birthday > "abc"'}), 422),
        (api.get("contacts", params={"filter": "not (" * 100 + "last_name = 'a'" + ")" * 100}), 422),
        (api.get("contacts", params={"filter": "x" * 5000}), 400),
        (api.get("contacts", params={"limit": 100000}), 400),
        (api.get("contacts", params={"limit": "ten"}), 400),
        (api.get("contacts", params={"sort": "nope"}), 400),
        (api.get("contacts", params={"cursor": "!!!"}), 400),
        (api.get("contacts", params={"fields": "first_name,nope"}), 422),
        (api.get("no-such-objects"), 404),
        (api.post(f"contacts/{c['id']}/fly", {}), 404),
        (api.post(f"contacts/{c['id']}/merge", {"merged_ids": "abc"}), 422),
        (api.post("contacts", {"last_name": "K"}, headers={"Idempotency-Key": "k" * 300}), 400),
        (api.post("metadata/objects/contact/fields", {"name": "Bad Name!", "type": "text"}), 422),
        (api.post("metadata/objects/contact/fields", {"name": "ok_name", "type": "hologram"}), 422),
        (requests.get(stack.url + "/api/v1/contacts", timeout=10), 401),
        (requests.get(stack.url + "/api/v1/contacts", headers={"Authorization": "Bearer x.y.z"}, timeout=10), 401),
        (requests.post(stack.url + "/api/v1/auth/login", json={"tenant": api.tenant, "email": api.email,
                                                               "password": "wrong password"}, timeout=10), 401),
        (requests.delete(stack.url + "/api/v1/auth/login", timeout=10), 405),
    ]
    for resp, status in cases:
        assert_problem(resp, status)
    assert api.get(f"contacts/{c['id']}").json()["version"] == 1  # nothing half-applied


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/docs", "/healthz", "/readyz"])
def test_public_endpoints(stack, path):
    resp = requests.get(stack.url + path, timeout=10)
    assert resp.status_code == 200
    if path == "/api/docs":
        assert "swagger-ui-bundle.js" in resp.text
        assert requests.get(stack.url + "/api/docs/static/swagger-ui-bundle.js", timeout=10).status_code == 200
