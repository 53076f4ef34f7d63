"""A field hidden from a role stays hidden on every path a record value can take (issue 8 §2).

An admin gives core objects (contact, account, relationship, activity), a custom object with a
process and automation rules, and a plugin's object (realestate) a field each, fills them with
values carrying one marker, and hides them from the ``sales`` role. A sales rep then walks every
record-bearing route — lists, records, history, timelines, the 360° view, duplicates, exports,
writes, merge, transitions, approvals, notifications, import jobs and their rejected rows, the
plugin's route — and no response body names a hidden field or shows the marker, while the
visible values are there. The admin's view of the same routes shows the marker: the walk is not
vacuous. Both run modes, real HTTP."""
from __future__ import annotations

import csv
import io
import time
import uuid

import pytest

from tests.e2e.conftest import PASSWORD, login

MARK = "FPWSECRET"
BUDGET = 987654321  # the hidden plugin field's value (a number: the marker cannot be in it)
HIDDEN = {"contact": ["fpw_contact_secret", "realestate__budget_max"], "account": ["fpw_account_secret"],
          "relationship": ["fpw_relationship_secret"], "activity": ["fpw_activity_secret"],
          "fpw_gadget": ["fpw_gadget_secret"], "realestate__property": ["listing_agent"]}
HIDDEN_NAMES = sorted({name for names in HIDDEN.values() for name in names})
NOTIFY_SECRET = "Gadget {{title}} carries {{fpw_gadget_secret}}"
NOTIFY_PLAIN = "Gadget {{title}} is new"


def ok(resp, *codes):
    assert resp.status_code in (codes or (200,)), f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text}"
    return resp


def secret_free(resp) -> str:
    """The body, after asserting it names no hidden field and shows no hidden value."""
    ok(resp, 200, 201, 202)
    body = resp.text
    where = f"{resp.request.method} {resp.url}"
    assert MARK not in body, f"{where} shows a hidden value:\n{body[:2000]}"
    assert str(BUDGET) not in body, f"{where} shows the hidden budget:\n{body[:2000]}"
    for name in HIDDEN_NAMES:
        assert name not in body.lower(), f"{where} names the hidden field {name}:\n{body[:2000]}"
    return body


def build(api, rep_id: str) -> dict:
    """The admin's data: one record of each object with its hidden field set (owned by the rep
    where the rep acts on it); returns their ids."""
    ok(api.put("admin/plugins/realestate"))
    for obj in ("contact", "account", "relationship", "activity"):
        ok(api.post(f"metadata/objects/{obj}/fields", {"name": f"fpw_{obj}_secret", "type": "text"}), 201)
    ok(api.post("metadata/objects", {
        "name": "fpw_gadget", "label": "Gadget", "plural": "fpw_gadgets", "title_field": "title",
        "fields": [{"name": "title", "type": "text", "required": True}, {"name": "count", "type": "integer"},
                   {"name": "fpw_gadget_secret", "type": "text"},
                   {"name": "stage", "type": "picklist", "choices": ["new", "review", "done"]}]}), 201)
    ok(api.put("metadata/processes/fpw_flow", {
        "object": "fpw_gadget", "field": "stage", "initial": "new",
        "stages": [{"name": "new"}, {"name": "review"}, {"name": "done"}],
        "transitions": [{"name": "submit", "from": ["new"], "to": "review"},
                        {"name": "finish", "from": ["review"], "to": "done", "approval": {"roles": ["sales"]}}]}),
       201)
    ok(api.put("metadata/rules/fpw_tell_sales", {
        "object": "fpw_gadget", "trigger": {"type": "created"},
        "actions": [{"type": "notify", "to": "role:sales", "message": NOTIFY_SECRET},
                    {"type": "notify", "to": "role:sales", "message": NOTIFY_PLAIN}]}), 201)

    account = ok(api.post("accounts", {"name": "Visible Account", "fpw_account_secret": f"{MARK}-account"}), 201)
    account = account.json()["id"]
    contacts = [ok(api.post("contacts", {
        "first_name": "Vera", "last_name": f"Visible{i}", "email": f"vera{i}@fpw.test", "account_id": account,
        "owner_id": rep_id, "fpw_contact_secret": f"{MARK}-contact-{i}", "realestate__budget_min": 1000,
        "realestate__budget_max": BUDGET}), 201).json()["id"] for i in (1, 2)]
    relationship = ok(api.post("relationships", {"contact_id": contacts[0], "account_id": account,
                                                 "job_title": "Visible buyer",
                                                 "fpw_relationship_secret": f"{MARK}-relationship"}), 201)
    activity = ok(api.post("activities", {"type": "call", "subject": "Visible call", "contact_id": contacts[0],
                                          "account_id": account, "fpw_activity_secret": f"{MARK}-activity"}), 201)
    prop = ok(api.post("realestate__properties", {"title": "Visible flat", "price": 5000,
                                                  "listing_agent": f"{MARK}-agent"}), 201)
    gadget = ok(api.post("fpw_gadgets", {"title": "Visible gadget", "count": 1, "owner_id": rep_id,
                                         "fpw_gadget_secret": f"{MARK}-gadget"}), 201)
    # a later change of the hidden fields, so the history has updates of them too
    ok(api.patch(f"contacts/{contacts[0]}", {"fpw_contact_secret": f"{MARK}-contact-changed"}))
    ok(api.patch(f"fpw_gadgets/{gadget.json()['id']}", {"fpw_gadget_secret": f"{MARK}-gadget-changed"}))
    return {"contacts": contacts, "account": account, "relationship": relationship.json()["id"],
            "activity": activity.json()["id"], "property": prop.json()["id"], "gadget": gadget.json()["id"]}


def hide(api) -> None:
    rules = [{"object": obj, "field": name, "role": "sales", "access": "none"}
             for obj, names in HIDDEN.items() for name in names]
    ok(api.put("admin/field-permissions", {"rules": rules}))


def read_routes(ids: dict, job_id: str) -> list[str]:
    """Every GET route that carries values of the records in ``ids``."""
    c1, account, gadget = ids["contacts"][0], ids["account"], ids["gadget"]
    records = {"contacts": c1, "accounts": account, "relationships": ids["relationship"],
               "activities": ids["activity"], "fpw_gadgets": gadget, "realestate__properties": ids["property"]}
    routes = []
    for plural, record_id in records.items():
        routes += [plural, f"{plural}/{record_id}", f"{plural}/{record_id}/history", f"{plural}/export.csv"]
    routes += [f"contacts/{c1}/timeline", f"contacts/{c1}/360", f"contacts/{c1}/duplicates",
               f"accounts/{account}/timeline", f"accounts/{account}/duplicates",
               f"fpw_gadgets/{gadget}/transitions", f"realestate__properties/{ids['property']}/transitions",
               "approvals", "approvals?status=approved", "notifications", "imports", f"imports/{job_id}",
               f"imports/{job_id}/errors.csv", f"x/realestate/contacts/{c1}/matches"]
    return routes


def import_gadgets(rep) -> str:
    """The rep imports gadgets while their secret is still visible to sales; one row fails."""
    text = ("title,fpw_gadget_secret,count\n"
            f"Imported fine,{MARK}-import-ok,2\n"
            f"Imported badly,{MARK}-import-bad,not-a-number\n")
    job = ok(rep.post("fpw_gadgets/imports", data=text.encode(), headers={"Content-Type": "text/csv"}), 202).json()
    deadline = time.monotonic() + 60
    while job["status"] not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = ok(rep.get(f"imports/{job['id']}")).json()
    assert job["status"] == "finished" and job["failed"] == 1, job
    return job["id"]


def wait_notifications(rep, count: int) -> list[dict]:
    deadline = time.monotonic() + 60
    while True:
        items = ok(rep.get("notifications")).json()["items"]
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.3)


def test_hidden_fields_leak_through_no_route(stack, api):
    email = f"rep-{uuid.uuid4().hex[:6]}@{api.tenant}.test"
    rep_user = ok(api.post("admin/users", {"email": email, "password": PASSWORD, "name": "Rep", "roles": ["sales"]}),
                  201).json()
    ids = build(api, rep_user["id"])
    rep = login(stack.url, api.tenant, email)
    job_id = import_gadgets(rep)
    hide(api)

    bodies = {route: secret_free(rep.get(route)) for route in read_routes(ids, job_id)}
    c1, c2, gadget = ids["contacts"][0], ids["contacts"][1], ids["gadget"]

    # the admin sees the marker on the same routes: they do carry the hidden values
    for route in read_routes(ids, job_id):
        if route.startswith(("approvals", "notifications", "imports")) and not route.endswith(".csv"):
            continue  # the sales role's inbox; job metadata
        if route.endswith(("/duplicates", "/transitions")):
            continue  # ids and stages only
        seen = ok(api.get(route)).text
        assert MARK in seen or str(BUDGET) in seen, f"the admin's {route} shows no hidden value: the walk is vacuous"

    # visible values are where they belong
    assert "Visible1" in bodies["contacts"] and "Visible1" in bodies[f"contacts/{c1}"]
    assert "Visible Account" in bodies[f"contacts/{c1}/360"] and "Visible buyer" in bodies[f"contacts/{c1}/360"]
    assert "Visible call" in bodies[f"contacts/{c1}/timeline"]
    assert "Visible call" in bodies[f"accounts/{ids['account']}/timeline"]
    assert "Visible gadget" in bodies[f"fpw_gadgets/{gadget}"] and "Visible flat" in bodies["realestate__properties"]
    assert "Visible flat" in bodies[f"x/realestate/contacts/{c1}/matches"]
    errors = list(csv.reader(io.StringIO(bodies[f"imports/{job_id}/errors.csv"])))
    assert errors[0] == ["title", "count", "_row", "_errors"] and errors[1][0] == "Imported badly", errors
    history = ok(rep.get(f"contacts/{c1}/history")).json()["items"]
    assert history and all("fpw_contact_secret" not in e["changes"] for e in history)

    # notifications of the gadget's rule: the hidden part masked, the visible one intact
    messages = [n["message"] for n in wait_notifications(rep, 6)]
    assert "Gadget Visible gadget is new" in messages, messages
    assert any(m.startswith("Gadget Visible gadget carries ") for m in messages), messages

    # writes answer with records too: the rep's update, transitions, an approval, a merge
    walked = [rep.patch(f"fpw_gadgets/{gadget}", {"title": "Visible gadget 2"}),
              rep.post(f"fpw_gadgets/{gadget}/transition", {"to": "review"}),
              rep.post(f"fpw_gadgets/{gadget}/transition", {"to": "done"}),
              rep.get("approvals"),
              rep.post(f"fpw_gadgets/{gadget}/approve", {"comment": "fine"}),
              rep.post("fpw_gadgets", {"title": "Rep's gadget", "count": 3}),
              rep.patch(f"contacts/{c1}", {"first_name": "Vera-Visible"}),
              rep.post(f"contacts/{c1}/merge", {"merged_ids": [c2]}),
              rep.get(f"contacts/{c1}/history"), rep.get(f"contacts/{c1}/timeline"), rep.get(f"contacts/{c1}/360"),
              rep.get(f"fpw_gadgets/{gadget}/history"), rep.get("approvals?status=approved"),
              rep.get(f"fpw_gadgets/{gadget}/transitions")]
    written = [secret_free(resp) for resp in walked]
    assert walked[2].status_code == 202 and "pending_approval" in written[2]
    assert "Vera-Visible" in written[7] and "Visible gadget 2" in written[4]


@pytest.mark.parametrize("route", ["contacts?filter=fpw_contact_secret is not null", "contacts?sort=fpw_contact_secret",
                                   "contacts/export.csv?fields=id,fpw_contact_secret"])
def test_queries_on_hidden_fields_stay_refused(stack, api, route):
    email = f"rep-{uuid.uuid4().hex[:6]}@{api.tenant}.test"
    ok(api.post("admin/users", {"email": email, "password": PASSWORD, "name": "Rep", "roles": ["sales"]}), 201)
    ok(api.post("metadata/objects/contact/fields", {"name": "fpw_contact_secret", "type": "text"}), 201)
    ok(api.put("admin/field-permissions", {"rules": [{"object": "contact", "field": "fpw_contact_secret",
                                                      "role": "sales", "access": "none"}]}))
    rep = login(stack.url, api.tenant, email)
    assert rep.get(route).status_code == 403
