"""Tenant isolation and roles on the low-code surfaces, in both run modes: another tenant's
records, processes, rules, webhooks, notifications and plugin routes are not found; a user
without the admin role cannot change behaviour; bad definitions are clear 422 problems."""
from __future__ import annotations

import time
import uuid

from tests.e2e.conftest import PASSWORD, assert_problem, login

STAGES = ["open", "done"]


def _configure(api) -> dict:
    """A custom object with a process and an approval, a rule, a webhook; one record moved."""
    assert api.post("metadata/objects", {"name": "job", "label": "Job", "plural": "jobs", "title_field": "title",
                                         "fields": [{"name": "title", "type": "text"},
                                                    {"name": "state", "type": "picklist", "choices": STAGES}]}
                    ).status_code == 201
    assert api.put("metadata/processes/job_flow", {
        "object": "job", "field": "state", "initial": "open", "stages": [{"name": s} for s in STAGES],
        "transitions": [{"name": "finish", "from": ["open"], "to": "done", "approval": {"roles": ["admin"]}}]}
    ).status_code == 201
    assert api.put("metadata/rules/job_note", {"object": "job", "trigger": {"type": "created"},
                                               "actions": [{"type": "notify", "to": "owner", "message": "new job"}]}
                   ).status_code == 201
    hook = api.post("webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["job.*"]}).json()
    job = api.post("jobs", {"title": "Secret job"}).json()
    assert api.post(f"jobs/{job['id']}/transition", {"to": "done"}).status_code == 202
    deadline = time.monotonic() + 30  # the hub stores it once the rule's event arrives
    while not (notes := api.get("notifications").json()["items"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert notes, "the rule's notification never reached the hub"
    assert api.put("admin/plugins/realestate").status_code == 200
    buyer = api.post("contacts", {"last_name": "Secret buyer", "realestate__budget_max": 1}).json()
    return {"job": job["id"], "hook": hook["id"], "notes": [n["id"] for n in notes], "buyer": buyer["id"]}


def test_other_tenants_low_code_objects_are_not_found(api, other_api):
    theirs = _configure(other_api)
    _configure(api)  # same names on this side: nothing of theirs may leak through them
    assert_problem(api.post(f"jobs/{theirs['job']}/transition", {"to": "done"}), 404)
    assert_problem(api.post(f"jobs/{theirs['job']}/approve", {"comment": "mine now"}), 404)
    assert_problem(api.post(f"jobs/{theirs['job']}/reject", {}), 404)
    assert_problem(api.get(f"jobs/{theirs['job']}/transitions"), 404)
    assert all(a["record_id"] != theirs["job"] for a in api.get("approvals").json()["items"])
    for method, path in (("get", ""), ("patch", ""), ("delete", ""), ("get", "/deliveries")):
        kwargs = {"json": {"active": False}} if method == "patch" else {}
        assert_problem(getattr(api.http, method)(api.url(f"webhooks/{theirs['hook']}{path}"), timeout=30, **kwargs),
                       404)
    assert api.post("notifications/read", {"ids": theirs["notes"]}).json()["marked"] == 0
    assert_problem(api.get(f"x/realestate/contacts/{theirs['buyer']}/matches"), 404)
    # the other tenant's configuration is intact
    assert other_api.get(f"webhooks/{theirs['hook']}").json()["active"] is True
    assert [i["name"] for i in other_api.get("metadata/rules").json()["items"] if not i.get("plugin")] == ["job_note"]


def test_only_admins_change_behaviour_and_bad_definitions_are_422(api):
    email = f"rep-{uuid.uuid4().hex[:6]}@example.com"
    assert api.post("admin/users", {"email": email, "password": PASSWORD, "roles": ["sales"]}).status_code == 201
    rep = login(api.base, api.tenant, email)
    assert_problem(rep.put("metadata/rules/x", {"object": "contact", "trigger": {"type": "created"},
                                                "actions": []}), 403)
    assert_problem(rep.post("webhooks", {"url": "http://127.0.0.1:9/h", "events": ["*"]}), 403)
    assert_problem(rep.put("admin/plugins/realestate"), 403)
    assert_problem(rep.get("admin/config"), 403)
    bad = assert_problem(api.put("metadata/rules/broken", {"object": "contact", "trigger": {"type": "whenever"},
                                                          "condition": "no_such_field = 1",
                                                          "actions": [{"type": "teleport"}]}), 422)
    assert bad["errors"]
    assert_problem(api.put("metadata/processes/p", {"object": "nope"}), 422)
    assert_problem(api.put("metadata/validation-rules/v", {"object": "contact", "condition": "((",
                                                           "message": "m"}), 422)
    assert_problem(api.post("contacts/x/transition", {"to": "lead"}), 404)  # no process on contact here
    assert_problem(api.put("admin/config", json=["not", "a", "document"]), 400)
