"""What a record names must exist in the caller's tenant: ``owner_id`` a user (checked early at
the gateway, whose database holds users, and by the service against the users the gateway syncs
to it, on every write path), an activity's ``related_object``/``related_id`` a record (checked by
the service in the write's transaction, asking the hosting service when another one hosts it).
Each refusal is a 422 naming the field, and refuses the whole write."""
from __future__ import annotations

import time

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


def test_a_new_user_is_an_owner_in_the_service_at_once_and_rules_name_only_users(api, other_api):
    """The gateway pushes a new user to the services' read model (mosaic_gateway.user_sync), so
    the service's own owner check (every write path) accepts it right after its creation."""
    rep = api.post("admin/users", {"email": "rep@example.test", "password": "correct horse battery",
                                   "name": "Rep", "roles": ["sales"]})
    assert rep.status_code == 201, rep.text
    rep_id, theirs = rep.json()["id"], me(other_api)
    assigned = api.post("contacts", {"last_name": "Theirs now", "owner_id": rep_id})
    assert assigned.status_code == 201 and assigned.json()["owner_id"] == rep_id, assigned.text
    rule = {"object": "contact", "trigger": {"type": "created"},
            "actions": [{"type": "assign_owner", "strategy": "round_robin", "users": [rep_id, theirs]},
                        {"type": "notify", "to": "user:nobody-here", "message": "new contact"}]}
    body = assert_problem(api.put("metadata/rules/spread_contacts", rule), 422)
    assert body["errors"] == {"actions[0].users[1]": [f"no user {theirs!r} in this tenant"],
                              "actions[1].to": ["no user 'nobody-here' in this tenant"]}, body
    rule["actions"] = [{"type": "assign_owner", "strategy": "round_robin", "users": [rep_id]}]
    assert api.put("metadata/rules/spread_contacts", rule).status_code == 201
    made = api.post("contacts", {"last_name": "Routed"}).json()
    deadline = time.monotonic() + 30  # the assignment is a job the service's timer runs after commit
    while api.get(f"contacts/{made['id']}").json()["owner_id"] != rep_id and time.monotonic() < deadline:
        time.sleep(0.2)
    assert api.get(f"contacts/{made['id']}").json()["owner_id"] == rep_id
    # deactivated: the login stops, the records keep their owner and it stays a valid one
    assert api.delete(f"admin/users/{rep_id}").status_code == 204
    again = api.patch(f"contacts/{assigned.json()['id']}", {"owner_id": rep_id, "last_name": "Still theirs"})
    assert again.status_code == 200 and again.json()["owner_id"] == rep_id, again.text
