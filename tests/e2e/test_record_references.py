"""What a record names must exist in the caller's tenant: ``owner_id`` a user (checked at the
gateway, whose database holds users: on create, PATCH and CSV import), an activity's
``related_object``/``related_id`` a record (checked by the service in the write's transaction).
Each refusal is a 422 naming the field, and refuses the whole write."""
from __future__ import annotations

from tests.e2e.conftest import assert_problem


def me(api) -> str:
    resp = api.get("/api/v1/me")
    assert resp.status_code == 200, resp.text
    return resp.json()["user"]["id"]


def test_owner_must_be_a_user_of_the_tenant(api, other_api):
    mine, theirs = me(api), me(other_api)
    made = api.post("contacts", {"last_name": "Owned", "owner_id": mine})
    assert made.status_code == 201 and made.json()["owner_id"] == mine, made.text
    for stranger in ("no-such-user", theirs):
        body = assert_problem(api.post("contacts", {"last_name": "Owned", "owner_id": stranger}), 422)
        assert "owner_id" in body["errors"], body
        body = assert_problem(api.patch(f"contacts/{made.json()['id']}", {"owner_id": stranger}), 422)
        assert "owner_id" in body["errors"], body
    assert api.get(f"contacts/{made.json()['id']}").json()["owner_id"] == mine
    assert api.patch(f"contacts/{made.json()['id']}", {"owner_id": None}).status_code == 200


def test_an_import_naming_a_stranger_as_owner_is_refused_whole(api, other_api):
    mine, theirs = me(api), me(other_api)
    csv_text = f"last_name,owner_id\nGood,{mine}\nBlank,\nBad,{theirs}\n"
    body = assert_problem(api.post("contacts/imports", data=csv_text.encode(),
                                   headers={"Content-Type": "text/csv"}), 422)
    assert body["errors"]["owner_id"] == [f"row 4: no user {theirs!r} in this tenant"], body
    assert api.get("contacts").json()["items"] == []  # nothing of it was imported
    ok = api.post("contacts/imports", data=f"last_name,owner_id\nGood,{mine}\n".encode(),
                  headers={"Content-Type": "text/csv"})
    assert ok.status_code == 202, ok.text


def test_an_activity_is_about_an_existing_record(api, other_api):
    contact = api.post("contacts", {"last_name": "About"}).json()
    foreign = other_api.post("contacts", {"last_name": "Elsewhere"}).json()
    made = api.post("activities", {"type": "call", "related_object": "contact", "related_id": contact["id"]})
    assert made.status_code == 201, made.text
    cases = [({"related_object": "contact", "related_id": "nope"}, "related_id"),
             ({"related_object": "contact", "related_id": foreign["id"]}, "related_id"),  # another tenant's
             ({"related_object": "spaceship", "related_id": contact["id"]}, "related_object"),
             ({"related_id": contact["id"]}, "related_object")]
    for extra, field in cases:
        body = assert_problem(api.post("activities", {"type": "call", **extra}), 422)
        assert field in body["errors"], (extra, body)
    # a PATCH of one half is checked against the other half as stored
    body = assert_problem(api.patch(f"activities/{made.json()['id']}", {"related_id": foreign["id"]}), 422)
    assert "related_id" in body["errors"], body
    account = api.post("accounts", {"name": "Acme"}).json()
    moved = api.patch(f"activities/{made.json()['id']}", {"related_object": "account", "related_id": account["id"]})
    assert moved.status_code == 200 and moved.json()["related_object"] == "account", moved.text
