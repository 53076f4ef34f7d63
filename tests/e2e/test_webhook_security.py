"""Webhook secrets and destinations over HTTP, in both run modes: a rule's signing secret is never
returned (not to admins, not in an export), rules are read by admins only, a rule keeps its
secret when a write leaves it out and signs with it; webhooks may not point inside the network
(the stacks allow 127.0.0.1/32 only, through MOSAIC_WEBHOOK_ALLOW), and a failed delivery says
"connection failed" and nothing more."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import uuid

import pytest
import requests

from tests.e2e.conftest import PASSWORD, assert_problem, login
from tests.e2e.test_lowcode_api import Receiver

SECRET = "whsec_" + "9f" * 14


def wait_for(receiver: Receiver, record_id: str, timeout: float = 30) -> tuple[dict, bytes]:
    """The delivery of the event of ``record_id`` that ``receiver`` got (waits for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for headers, body in receiver.requests:
            if json.loads(body).get("record_id") == record_id:
                return headers, body
        time.sleep(0.3)
    raise AssertionError(f"no delivery for {record_id} in {timeout}s ({len(receiver.requests)} received)")


@pytest.fixture
def receiver():
    r = Receiver()  # records (headers, body) of each POST on 127.0.0.1
    yield r
    r.close()


def signed_with(secret: str, headers: dict, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in headers["Mosaic-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(parts["v1"], expected)


def rule(url: str, **action) -> dict:
    return {"object": "contact", "trigger": {"type": "created"}, "condition": "last_name is not null",
            "actions": [{"type": "webhook", "url": url, **action}]}


def test_a_rules_secret_is_never_returned_and_signs_its_deliveries(api, receiver):
    created = api.put("metadata/rules/push_erp", rule(receiver.url, secret=SECRET))
    assert created.status_code == 201, created.text
    for shown in (created.json(), api.get("metadata/rules/push_erp").json(),
                  next(i for i in api.get("metadata/rules").json()["items"] if i["name"] == "push_erp")):
        assert shown["actions"][0] == {"type": "webhook", "url": receiver.url, "secret": "********"}
    export = api.get("admin/config")
    assert SECRET not in export.text and "sealed:" not in export.text
    assert export.json()["secrets_omitted"] == [{"kind": "automation_rule", "name": "push_erp",
                                                 "path": "actions[0].secret"}]
    # A write that leaves the secret out keeps it: the delivery is signed with the original.
    changed = rule(receiver.url)
    changed["condition"] = "last_name is not null and last_name != 'skip'"
    assert api.put("metadata/rules/push_erp", changed).status_code == 200
    contact = api.post("contacts", {"last_name": "Signed-" + uuid.uuid4().hex[:6]}).json()
    headers, body = wait_for(receiver, contact["id"])
    assert signed_with(SECRET, headers, body)
    # A new secret replaces it.
    assert api.put("metadata/rules/push_erp", rule(receiver.url, secret="n" * 24)).status_code == 200
    later = api.post("contacts", {"last_name": "Resigned-" + uuid.uuid4().hex[:6]}).json()
    headers, body = wait_for(receiver, later["id"])
    assert signed_with("n" * 24, headers, body) and not signed_with(SECRET, headers, body)


def test_rules_are_read_by_admins_only(api, receiver):
    assert api.put("metadata/rules/push_erp", rule(receiver.url, secret=SECRET)).status_code == 201
    email = f"viewer-{uuid.uuid4().hex[:6]}@example.com"
    assert api.post("admin/users", {"email": email, "password": PASSWORD, "roles": ["readonly"]}).status_code == 201
    viewer = login(api.base, api.tenant, email)
    key = api.post("admin/api-keys", {"name": "bi", "roles": ["readonly"]}).json()["secret"]
    as_key = {"X-API-Key": key}
    for resp in (viewer.get("metadata/rules"), viewer.get("metadata/rules/push_erp"),
                 requests.get(api.url("metadata/rules"), headers=as_key, timeout=30)):
        assert_problem(resp, 403)
    assert viewer.get("metadata/processes").status_code == 200  # no secrets there for them either
    assert_problem(viewer.get("admin/config"), 403)


def test_an_import_says_which_secrets_to_set_again(api, other_api, receiver):
    assert api.put("metadata/rules/push_erp", rule(receiver.url, secret=SECRET)).status_code == 201
    doc = api.get("admin/config").json()
    report = other_api.put("admin/config", json=doc)
    assert report.status_code == 200, report.text
    [needed] = report.json()["secrets_to_set"]
    assert (needed["kind"], needed["name"], needed["path"]) == ("automation_rule", "push_erp", "actions[0].secret")
    assert other_api.put("metadata/rules/push_erp", rule(receiver.url, secret="o" * 24)).status_code == 200
    assert other_api.put("admin/config", json=doc).json()["secrets_to_set"] == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/hook",
                                 "http://[::1]:9/hook"])
def test_webhooks_may_not_point_inside_the_network(api, url):
    sub = assert_problem(api.post("webhooks", {"url": url, "events": ["contact.created"]}), 422)
    assert "public address" in sub["errors"]["url"][0]
    bad = assert_problem(api.put("metadata/rules/inside", rule(url)), 422)
    assert "public address" in bad["errors"]["actions[0].url"][0]


def test_a_failed_delivery_says_connection_failed_and_nothing_more(api):
    with socket.socket() as probe:  # a port of the allowed loopback that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    sub = api.post("webhooks", {"url": f"http://127.0.0.1:{closed}/hook", "events": ["contact.created"]}).json()
    api.post("contacts", {"last_name": "Unheard"})
    deadline, history = time.monotonic() + 30, []
    while time.monotonic() < deadline and not history:
        items = api.get(f"webhooks/{sub['id']}/deliveries").json()["items"]
        history = items[0]["history"] if items else []
        time.sleep(0.3)
    assert history, "the runner never attempted the delivery"
    assert (history[0]["status_code"], history[0]["error"], history[0]["duration_ms"]) == (None, "connection failed", 0)
