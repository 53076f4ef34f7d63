"""A tenant admin builds behaviour through the API alone — a formula field, a validation rule,
a process with an approval, automation rules, a webhook subscription — in both run modes, then
promotes the configuration to a second tenant by export and import."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.e2e.conftest import assert_problem

DEAL_STAGES = ["new", "qualified", "won", "lost"]


def build_configuration(api):
    """Everything through the metadata API; returns nothing, asserts each step."""
    steps = [
        api.post("metadata/objects", {"name": "deal", "label": "Deal", "plural": "deals", "title_field": "title",
                                      "fields": [{"name": "title", "type": "text", "required": True},
                                                 {"name": "amount", "type": "decimal"},
                                                 {"name": "discount", "type": "percent"},
                                                 {"name": "stage", "type": "picklist", "choices": DEAL_STAGES},
                                                 {"name": "priority", "type": "text"}]}),
        api.post("metadata/objects/deal/fields", {"name": "net", "type": "formula",
                                                  "formula": "amount * (1 - COALESCE(discount, 0) / 100)"}),
    ]
    for resp in steps:
        assert resp.status_code == 201, resp.text
    puts = [
        api.put("metadata/validation-rules/amount_positive",
                {"object": "deal", "condition": "amount > 0", "message": "A deal needs a positive amount.",
                 "field": "amount"}),
        api.put("metadata/processes/deal_flow",
                {"object": "deal", "field": "stage", "initial": "new",
                 "stages": [{"name": s} for s in DEAL_STAGES],
                 "transitions": [{"name": "qualify", "from": ["new"], "to": "qualified"},
                                 {"name": "win", "from": ["qualified"], "to": "won", "guard": "amount >= 1000",
                                  "guard_message": "Only deals of 1000 or more are won here.",
                                  "approval": {"roles": ["manager"]}},
                                 {"name": "lose", "from": ["new", "qualified"], "to": "lost"}]}),
        api.put("metadata/rules/big_deal_priority",
                {"object": "deal", "trigger": {"type": "created"}, "condition": "amount >= 50000",
                 "actions": [{"type": "set_field", "field": "priority", "value": "high"},
                             {"type": "notify", "to": "owner", "message": "Big deal {{title}}"}]}),
    ]
    for resp in puts:
        assert resp.status_code == 201, resp.text


def test_admin_builds_behaviour_through_the_api(api):
    build_configuration(api)
    deal = api.post("deals", {"title": "Big one", "amount": 60000, "discount": 10})
    assert deal.status_code == 201, deal.text
    deal = deal.json()
    assert deal["net"] == 54000
    assert deal["stage"] == "new"
    assert deal["priority"] == "high"  # the rule's field update, in the same write
    sorted_page = api.get("deals", params={"filter": "net > 1000", "sort": "-net"})
    assert sorted_page.status_code == 200 and sorted_page.json()["items"][0]["id"] == deal["id"]
    bad = assert_problem(api.post("deals", {"title": "Free", "amount": 0}), 422)
    assert bad["errors"]["amount"] == ["A deal needs a positive amount."]
    # process: transition, approval by a manager
    assert api.post(f"deals/{deal['id']}/transition", {"to": "qualified"}).status_code == 200
    pending = api.post(f"deals/{deal['id']}/transition", {"to": "won", "comment": "signed"})
    assert pending.status_code == 202, pending.text
    assert api.get(f"deals/{deal['id']}").json()["stage"] == "qualified"
    approved = api.post(f"deals/{deal['id']}/approve", {"comment": "ok"})
    assert approved.status_code == 200, approved.text
    assert api.get(f"deals/{deal['id']}").json()["stage"] == "won"
    stages = [h["to"] for h in api.get(f"deals/{deal['id']}/transitions").json()["items"]]
    assert stages == ["won", "qualified", "new"]  # newest first
    # the notification is queued in the write and delivered by the service's job timer
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = api.get("notifications").json()["items"]
        if items:
            break
        time.sleep(0.3)
    assert any("Big one" in n["message"] for n in items), items
    # a rule whose field is removed is skipped at run time and shown to the admin as broken
    assert api.delete("metadata/objects/deal/fields/priority").status_code == 204
    rule = api.get("metadata/rules/big_deal_priority").json()
    assert "priority" in rule["error"]
    assert api.post("deals", {"title": "After", "amount": 70000}).status_code == 201


def test_export_then_import_into_another_tenant(api, other_api):
    build_configuration(api)
    exported = api.get("admin/config")
    assert exported.status_code == 200, exported.text
    doc = exported.json()
    assert [o["name"] for o in doc["objects"]] == ["deal"]
    assert {r["name"] for r in doc["automation_rules"]} == {"big_deal_priority"}
    dry = other_api.put("admin/config", json=doc, params={"dry_run": "true"})
    assert dry.status_code == 200, dry.text
    assert dry.json()["created"] and other_api.get("deals").status_code == 404
    first = other_api.put("admin/config", json=doc)
    assert first.status_code == 200, first.text
    assert first.json()["created"] and not first.json()["errors"]
    second = other_api.put("admin/config", json=doc).json()
    assert second["created"] == [] and second["updated"] == []
    deal = other_api.post("deals", {"title": "Imported", "amount": 70000})
    assert deal.status_code == 201, deal.text
    assert deal.json()["priority"] == "high" and deal.json()["net"] == 70000
    assert other_api.get("admin/config").json()["processes"] == doc["processes"]


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it receives (the retry after a failure
    is tested with a controllable clock in tests/integration/test_webhooks_pg.py)."""

    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls += 1
                outer.requests.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_webhook_subscription_delivers_signed_events(api):
    receiver = Receiver()
    try:
        created = api.post("webhooks", {"url": receiver.url, "events": ["contact.created"]})
        assert created.status_code == 201, created.text
        sub = created.json()
        secret = sub["secret"]
        listed = api.get("webhooks").json()
        assert [w["id"] for w in listed["items"]] == [sub["id"]] and listed["next_cursor"] is None
        assert "secret" not in listed["items"][0]
        second = api.post("webhooks", {"url": receiver.url, "events": ["deal.*"]}).json()
        first_page = api.get("webhooks", params={"limit": 1}).json()
        assert [w["id"] for w in first_page["items"]] == [sub["id"]] and first_page["next_cursor"]
        rest = api.get("webhooks", params={"limit": 1, "cursor": first_page["next_cursor"]}).json()
        assert [w["id"] for w in rest["items"]] == [second["id"]] and rest["next_cursor"] is None
        contact = api.post("contacts", {"last_name": "Hooked-" + uuid.uuid4().hex[:6]}).json()
        api.post("contacts", {"last_name": "Other"})  # also contact.created; both are delivered
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                json.loads(b)["record_id"] == contact["id"] for _, b in receiver.requests):
            time.sleep(0.5)
        matching = [(h, b) for h, b in receiver.requests if json.loads(b)["record_id"] == contact["id"]]
        assert matching, f"no delivery for {contact['id']} after {receiver.calls} calls"
        headers, body = matching[0]
        parts = dict(p.split("=", 1) for p in headers["Mosaic-Signature"].split(","))
        stamp, sig = parts["t"], parts["v1"]
        expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(sig, expected)
        assert headers["Mosaic-Event"] == "contact.created"
        log = api.get(f"webhooks/{sub['id']}/deliveries").json()["items"]
        assert any(d["status"] == "delivered" for d in log)
    finally:
        receiver.close()
