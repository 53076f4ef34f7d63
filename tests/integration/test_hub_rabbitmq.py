"""The hub on the real PostgreSQL and RabbitMQ: the contacts service, its outbox relay, the hub
and the gateway in one process, as the distributed mode runs them.

A rule's ``notify`` on a contact write travels as a ``platform.notification.requested`` event
through the outbox and RabbitMQ to the hub, and ``GET /notifications`` pages the hub's rows; a
redelivered event stores one row; a rolled-back write asks for nothing; approvals filed in
contacts show in the hub's inbox and leave pending once decided.
"""
from __future__ import annotations

import time

import eventlet
from eventlet import wsgi
import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import func, select

from mosaic.automation.notifications import REQUESTED, notify
from mosaic.config import load_settings
from mosaic.db import get_engine, system_session, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate_all
from mosaic.events.consumer import ProcessedEvent, queue_name
from mosaic.events.envelope import make_envelope
from mosaic.localdev import free_port
from mosaic.runtime import gateway_app, start_relay, start_service
from mosaic.testing.client import create_tenant
from mosaic_hub.models import HubApproval, HubNotification
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

OPERATOR = "hub-it-operator-key-0123456789"


def eventually(check, what: str, timeout: float = 60):
    """Poll ``check`` until it returns a truthy value (the deadline only bounds a failing run)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, f"timed out waiting for {what}"
            return found
        eventlet.sleep(0.1)


@pytest.fixture(scope="module")
def stack():
    vhost = fresh_vhost("mosaic_it_hub")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_hub"),
                              "MOSAIC_AMQP_URI": amqp, "MOSAIC_SECRET_KEY": "h" * 48,
                              "MOSAIC_OPERATOR_KEY": OPERATOR, "MOSAIC_RATE_LIMIT": "0",
                              "MOSAIC_KEY_RATE_LIMIT": "0", "MOSAIC_RELAY_INTERVAL": "0.05"})
    migrate_all(settings)
    containers = [start_service(settings, "contacts"), start_service(settings, "hub")]
    relay, relay_thread = start_relay(settings, "contacts")
    app, rpc = gateway_app(settings)
    sock = eventlet.listen(("127.0.0.1", free_port()))
    server = eventlet.spawn(wsgi.server, sock, app, log_output=False)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield settings, base
    finally:
        server.kill()
        relay.stop()
        relay_thread.kill()
        for container in containers:
            container.stop()
        rpc.close()
        dispose_engines()
        drop_vhost(vhost)


@pytest.fixture
def admin(stack):
    _settings, base = stack
    return create_tenant(base, OPERATOR, modules=("contacts",))


def hub_rows(settings, tenant_id: str, *where) -> int:
    with tenant_session(get_engine(settings, "hub"), tenant_id) as s:
        return s.scalar(select(func.count()).select_from(HubNotification).where(*where))


def test_a_rules_notify_reaches_the_hub_and_pages_with_no_gap_nor_duplicate(stack, admin):
    settings, _base = stack
    tenant = admin.tenant["id"]
    rule = {"object": "contact", "trigger": {"type": "created"},
            "actions": [{"type": "notify", "to": "owner", "message": "{{last_name}} is yours"}]}
    admin.json("put", "/metadata/rules/welcome", expected=201, json=rule)
    pool = eventlet.GreenPool(8)
    made = list(pool.imap(lambda i: admin.json("post", "/contacts", expected=201,
                                                json={"last_name": f"N{i:03d}", "email": f"n{i}@hub.test"}),
                          range(250)))
    eventually(lambda: hub_rows(settings, tenant) == 250, "250 notifications in the hub")
    pages, cursor = [], None
    while True:
        page = admin.json("get", "/notifications", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [100, 100, 50]
    seen = [n["id"] for p in pages for n in p]
    assert len(set(seen)) == 250
    assert sorted(n["record_id"] for p in pages for n in p) == sorted(c["id"] for c in made)
    assert {n["service"] for p in pages for n in p} == {"contacts"}
    stamps = [(n["created_at"], n["id"]) for p in pages for n in p]
    assert stamps == sorted(stamps, reverse=True)  # newest first, across pages
    assert page["unread"] == 250
    # reading: the count follows, a second read changes nothing
    ids = [n["id"] for n in pages[0][:10]]
    assert admin.json("post", "/notifications/read", json={"ids": ids}) == {"marked": 10, "unread": 240}
    assert admin.json("post", "/notifications/read", json={"ids": ids})["marked"] == 0
    unread = admin.json("get", "/notifications", params={"unread": "true", "limit": 200})
    assert len(unread["items"]) == 200 and not set(ids) & {n["id"] for n in unread["items"]}
    bad = admin.get("/notifications", params={"cursor": "garbage"})
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/problem+json")
    assert admin.get("/notifications", params={"limit": 201}).status_code == 400
    assert admin.post("/notifications/read", json={"ids": "all"}).status_code == 422


def test_a_redelivered_request_stores_one_row(stack, admin):
    settings, _base = stack
    tenant = admin.tenant["id"]
    event = make_envelope(REQUESTED, tenant, "system", "notification", None,
                          {"recipient": "role:admin", "message": "twice", "service": "contacts"}, None)
    with Connection(settings.amqp_uri) as conn:
        producer = Producer(conn.channel(), exchange=Exchange("mosaic.events", type="topic", durable=True),
                            serializer="json")
        for _ in range(2):  # what a relay restarted between publish and its outbox commit does
            producer.publish(event, routing_key=event["type"], delivery_mode=2)

    def both_handled():
        with Connection(settings.amqp_uri) as conn:
            _, ready, _consumers = conn.channel().queue_declare(queue_name("hub"), passive=True)
        return ready == 0 and hub_rows(settings, tenant, HubNotification.id == event["id"]) == 1

    eventually(both_handled, "the event applied")
    # a marker published after the duplicate: once it is in, the duplicate was handled too
    marker = make_envelope(REQUESTED, tenant, "system", "notification", None,
                           {"recipient": "role:admin", "message": "marker"}, None)
    with Connection(settings.amqp_uri) as conn:
        Producer(conn.channel(), exchange=Exchange("mosaic.events", type="topic", durable=True),
                 serializer="json").publish(marker, routing_key=marker["type"], delivery_mode=2)
    eventually(lambda: hub_rows(settings, tenant, HubNotification.id == marker["id"]) == 1, "the marker")
    assert hub_rows(settings, tenant, HubNotification.id == event["id"]) == 1
    with system_session(get_engine(settings, "hub")) as s:
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)
                        .where(ProcessedEvent.event_id == event["id"])) == 1
    assert [n["message"] for n in admin.json("get", "/notifications")["items"][:2]] == ["marker", "twice"]


def test_a_rolled_back_write_asks_for_nothing(stack, admin):
    settings, _base = stack
    tenant = admin.tenant["id"]
    engine = get_engine(settings, "contacts")
    with tenant_session(engine, tenant) as s:
        lost = notify(s, "role:admin", "never", "contact", "c-lost", "test", service="contacts")
        s.rollback()
    with tenant_session(engine, tenant) as s:
        kept = notify(s, "role:admin", "kept", "contact", "c-kept", "test", service="contacts")
        s.commit()
    # the relay publishes in outbox order: once the later, committed request is in, the earlier
    # one would be too had it committed
    eventually(lambda: hub_rows(settings, tenant, HubNotification.id == kept["id"]) == 1, "the kept request")
    assert hub_rows(settings, tenant, HubNotification.id == lost["id"]) == 0
    assert "never" not in [n["message"] for n in admin.json("get", "/notifications", params={"limit": 200})["items"]]


def test_approvals_filed_in_contacts_are_paged_by_the_hub_until_decided(stack, admin):
    settings, _base = stack
    tenant = admin.tenant["id"]
    admin.json("put", "/metadata/processes/vetting", expected=201, json={
        "object": "contact", "field": "lifecycle_stage", "initial": "lead",
        "stages": [{"name": s} for s in ("subscriber", "lead", "prospect", "customer", "loyal", "churned")],
        "transitions": [{"name": "sign", "from": ["lead"], "to": "customer",
                         "approval": {"roles": ["manager"], "users": []}}]})
    contacts = [admin.json("post", "/contacts", expected=201, json={"last_name": f"A{i}", "lifecycle_stage": "lead"})
                for i in range(3)]
    for c in contacts:
        assert admin.post(f"/contacts/{c['id']}/transition", json={"to": "customer"}).status_code == 202

    def first_page_of_several():
        page = admin.json("get", "/approvals", params={"limit": 2})
        return page if page["next_cursor"] else None

    first = eventually(first_page_of_several, "three pending approvals")
    second = admin.json("get", "/approvals", params={"limit": 2, "cursor": first["next_cursor"]})
    listed = first["items"] + second["items"]
    assert second["next_cursor"] is None
    assert sorted(a["record_id"] for a in listed) == sorted(c["id"] for c in contacts)
    assert {(a["service"], a["status"]) for a in listed} == {("contacts", "pending")}
    assert listed[0]["approvers"] == {"roles": ["manager"], "users": []}
    decided = contacts[0]["id"]
    assert admin.post(f"/contacts/{decided}/approve", json={"comment": "ok"}).status_code == 200

    def left_pending():
        items = admin.json("get", "/approvals", params={"limit": 200})["items"]
        return items if len(items) == 2 else None

    assert decided not in [a["record_id"] for a in eventually(left_pending, "the decision in the hub")]
    approved = admin.json("get", "/approvals", params={"status": "approved"})["items"]
    assert [(a["record_id"], a["decided_by"] is not None) for a in approved] == [(decided, True)]
    with tenant_session(get_engine(settings, "hub"), tenant) as s:
        assert s.scalar(select(func.count()).select_from(HubApproval)) == 3
    assert admin.get("/approvals", params={"status": "maybe"}).status_code == 422
