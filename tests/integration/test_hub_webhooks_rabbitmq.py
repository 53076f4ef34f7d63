"""Webhook subscriptions owned by the hub, on the real PostgreSQL and RabbitMQ: a contact written
in the contacts service leaves through its outbox and relay, the hub consumes the event, queues
one delivery per matching subscription of the tenant and posts it, signed, to a receiver on
127.0.0.1 (allowed by MOSAIC_WEBHOOK_ALLOW). A redelivered event queues nothing twice, a
platform-internal one never reaches a subscriber, an events filter is respected, tenants never
see each other's subscriptions or deliveries, both lists page with no gap or duplicate, and a
subscription a service held before the hub is adopted once (``mosaic hub adopt``)."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import func, select

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db import get_engine, system_session, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate_all
from mosaic.errors import Forbidden, NotFound
from mosaic.events.consumer import ProcessedEvent
from mosaic.events.envelope import make_envelope
from mosaic.request_log import RequestLog
from mosaic.rpc import RpcPool
from mosaic.runtime import start_relay, start_service
from mosaic.webhooks import WebhookDelivery, WebhookSubscription, verify
from mosaic_hub.webhooks import CONSUMER, QUEUE, adopt_command
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.timeout(180)]


class Receiver:
    """A webhook endpoint on 127.0.0.1 remembering (path, headers, body) of each POST."""

    def __init__(self):
        got = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                got.append((self.path, dict(self.headers),
                            self.rfile.read(int(self.headers.get("Content-Length") or 0))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{path}"

    def bodies(self, path: str) -> list[tuple[dict, bytes]]:
        return [(h, b) for p, h, b in self.requests if p == f"/{path}"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def env():
    vhost = fresh_vhost("mosaic_it_hub_webhooks")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_AMQP_URI": amqp,
                              "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_hub_webhooks"),
                              "MOSAIC_SECRET_KEY": "it-hub-webhooks-" + "k" * 32,
                              "MOSAIC_WEBHOOK_ALLOW": "127.0.0.1/32", "MOSAIC_JOBS_INTERVAL": "0.2",
                              "MOSAIC_RELAY_INTERVAL": "0.05"})
    migrate_all(settings)
    containers = [start_service(settings, "contacts"), start_service(settings, "hub")]
    relay, relay_thread = start_relay(settings, "contacts")
    pool = RpcPool(amqp, size=8, timeout=20)
    receiver = Receiver()
    try:
        yield settings, pool, receiver
    finally:
        receiver.close()
        pool.close()
        relay.stop()
        relay_thread.kill()
        for container in containers:
            container.stop()
        dispose_engines()
        drop_vhost(vhost)


def admin(tenant: str) -> RequestContext:
    return RequestContext(tenant_id=tenant, user_id="u1", roles=("admin",), modules=("contacts",),
                          request_id=str(uuid.uuid4()))


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def hub_count(settings, *where) -> int:
    with system_session(get_engine(settings, "hub")) as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0


def processed(settings, event_id: str) -> bool:
    with system_session(get_engine(settings, "hub")) as session:
        return bool(session.scalar(select(func.count()).select_from(ProcessedEvent).where(
            ProcessedEvent.consumer == CONSUMER, ProcessedEvent.event_id == event_id)))


def queue_idle(amqp: str) -> bool:
    with Connection(amqp) as conn:
        _, ready, consumers = conn.channel().queue_declare(QUEUE, passive=True)
    return ready == 0 and consumers > 0


def publish(amqp: str, envelope: dict, times: int = 1) -> None:
    with Connection(amqp) as conn:
        producer = Producer(conn.channel(), exchange=Exchange("mosaic.events", type="topic", durable=True),
                            serializer="json")
        for _ in range(times):  # what a relay restarted between publish and commit does
            producer.publish(envelope, routing_key=envelope["type"], delivery_mode=2)


def subscribe(rpc, tenant: str, url: str, events: list[str]) -> dict:
    return rpc.call("hub", "create_webhook", admin(tenant), {"url": url, "events": events})


def create_contact(rpc, tenant: str, name: str) -> str:
    return rpc.call("contacts", "create_record", admin(tenant), "contact", {"last_name": name})["record"]["id"]


def test_a_contact_write_reaches_the_subscriber_once_signed_and_tenants_stay_apart(env):
    settings, rpc, receiver = env
    a, b = "ta-" + uuid.uuid4().hex[:6], "tb-" + uuid.uuid4().hex[:6]
    sub_a = subscribe(rpc, a, receiver.url(f"{a}/created"), ["contact.created"])
    sub_b = subscribe(rpc, b, receiver.url(f"{b}/all"), ["*"])
    assert sub_a["secret"] and sub_a["secret"] != sub_b["secret"]

    record_id = create_contact(rpc, a, "Hooked")
    assert wait_for(lambda: receiver.bodies(f"{a}/created")), "no delivery arrived"
    [(headers, body)] = receiver.bodies(f"{a}/created")
    envelope = json.loads(body)
    assert (envelope["type"], envelope["record_id"], envelope["tenant_id"]) == ("contact.created", record_id, a)
    assert headers["Mosaic-Event"] == "contact.created"
    assert verify(sub_a["secret"], body, headers["Mosaic-Signature"])
    assert not verify(sub_b["secret"], body, headers["Mosaic-Signature"])

    # The same event redelivered (twice) changes nothing: one delivery, one POST.
    publish(settings.amqp_uri, envelope, times=2)
    assert wait_for(lambda: queue_idle(settings.amqp_uri))
    assert hub_count(settings, WebhookDelivery.event_id == envelope["id"]) == 1
    log = rpc.call("hub", "webhook_deliveries", admin(a), sub_a["id"])
    assert [(d["event_id"], d["status"]) for d in log["items"]] == [(envelope["id"], "delivered")]
    assert log["items"][0]["history"][0]["status_code"] == 200 and len(receiver.bodies(f"{a}/created")) == 1

    # B's catch-all subscription never saw A's event; each tenant sees only its own.
    assert receiver.bodies(f"{b}/all") == []
    assert [s["id"] for s in rpc.call("hub", "list_webhooks", admin(a))["items"]] == [sub_a["id"]]
    assert [s["id"] for s in rpc.call("hub", "list_webhooks", admin(b))["items"]] == [sub_b["id"]]
    for method, args in (("get_webhook", (sub_a["id"],)), ("webhook_deliveries", (sub_a["id"],)),
                         ("update_webhook", (sub_a["id"], {"active": False})), ("delete_webhook", (sub_a["id"],))):
        with pytest.raises(NotFound):
            rpc.call("hub", method, admin(b), *args)
    other = create_contact(rpc, b, "Theirs")
    assert wait_for(lambda: receiver.bodies(f"{b}/all"))
    [(_, theirs)] = receiver.bodies(f"{b}/all")
    assert json.loads(theirs)["record_id"] == other and len(receiver.bodies(f"{a}/created")) == 1


def test_the_events_filter_and_platform_internal_events(env):
    settings, rpc, receiver = env
    tenant = "tf-" + uuid.uuid4().hex[:6]
    created_only = subscribe(rpc, tenant, receiver.url(f"{tenant}/created"), ["contact.created"])
    everything = subscribe(rpc, tenant, receiver.url(f"{tenant}/all"), ["*"])
    record_id = create_contact(rpc, tenant, "Filtered")
    rpc.call("contacts", "update_record", admin(tenant), "contact", record_id, {"title": "CTO"})
    assert wait_for(lambda: len(receiver.bodies(f"{tenant}/all")) == 2)
    updated = next(json.loads(b) for _, b in receiver.bodies(f"{tenant}/all")
                   if json.loads(b)["type"] == "contact.updated")
    assert processed(settings, updated["id"])  # queued (or not) in the same commit
    assert hub_count(settings, WebhookDelivery.event_id == updated["id"]) == 1  # only the catch-all's
    assert [json.loads(b)["type"] for _, b in receiver.bodies(f"{tenant}/created")] == ["contact.created"]

    internal = make_envelope("platform.notification.requested", tenant, "system", "contact", record_id,
                             {"recipient": "user:u1", "message": "hello", "object": "contact",
                              "record_id": record_id, "source": "test"}, 1)
    publish(settings.amqp_uri, internal)
    assert wait_for(lambda: queue_idle(settings.amqp_uri))
    assert hub_count(settings, WebhookDelivery.event_id == internal["id"]) == 0
    assert not processed(settings, internal["id"])  # skipped before any effect
    assert all(json.loads(b)["id"] != internal["id"] for _, _, b in receiver.requests)
    assert {created_only["id"], everything["id"]} == {
        s["id"] for s in rpc.call("hub", "list_webhooks", admin(tenant))["items"]}


def test_subscriptions_and_deliveries_page_with_no_gap_or_duplicate(env):
    settings, rpc, receiver = env
    tenant = "tp-" + uuid.uuid4().hex[:6]
    subs = [subscribe(rpc, tenant, receiver.url(f"{tenant}/{i}"), ["contact.created"])["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        page = rpc.call("hub", "list_webhooks", admin(tenant), 2, cursor)
        assert len(page["items"]) <= 2
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == subs
    for sub_id in subs[1:]:
        rpc.call("hub", "delete_webhook", admin(tenant), sub_id)
    made = [create_contact(rpc, tenant, f"Paged{i}") for i in range(7)]
    assert wait_for(lambda: len(receiver.bodies(f"{tenant}/0")) == 7)
    pages, cursor = [], None
    while True:
        page = rpc.call("hub", "webhook_deliveries", admin(tenant), subs[0], 3, cursor)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    ids = [d["id"] for p in pages for d in p]
    assert [len(p) for p in pages] == [3, 3, 1] and len(set(ids)) == 7
    assert sorted(d["payload"]["record_id"] for p in pages for d in p) == sorted(made)
    stamps = [(d["created_at"], d["id"]) for p in pages for d in p]
    assert stamps == sorted(stamps, reverse=True)  # newest first across pages


def test_only_admins_manage_subscriptions_and_a_secret_is_never_read_back(env):
    _settings, rpc, receiver = env
    tenant = "ts-" + uuid.uuid4().hex[:6]
    rep = RequestContext(tenant_id=tenant, user_id="u2", roles=("sales",), modules=("contacts",))
    with pytest.raises(Forbidden):
        rpc.call("hub", "create_webhook", rep, {"url": receiver.url("x"), "events": ["*"]})
    with pytest.raises(Forbidden):
        rpc.call("hub", "list_webhooks", rep)
    sub = subscribe(rpc, tenant, receiver.url(f"{tenant}/x"), ["*"])
    shown = [rpc.call("hub", "get_webhook", admin(tenant), sub["id"]),
             *rpc.call("hub", "list_webhooks", admin(tenant))["items"]]
    assert all("secret" not in s for s in shown)
    rotated = rpc.call("hub", "update_webhook", admin(tenant), sub["id"], {"rotate_secret": True})
    assert rotated["secret"] and rotated["secret"] != sub["secret"]
    with system_session(get_engine(_settings, "hub")) as session:
        stored = session.get(WebhookSubscription, sub["id"]).secret
    assert stored.startswith("sealed:v1:") and rotated["secret"] not in stored


def test_a_repeated_create_makes_one_subscription_and_the_log_keeps_no_secret(env):
    settings, rpc, _receiver = env
    tenant = "tr-" + uuid.uuid4().hex[:6]
    ctx = admin(tenant)  # one request id: what a redelivered or retried request carries
    hook = {"url": "https://93.184.216.34/hook", "events": ["contact.created"]}  # a public address
    first = rpc.call("hub", "create_webhook", ctx, hook)
    again = rpc.call("hub", "create_webhook", ctx, hook)
    assert first["secret"] and again["id"] == first["id"] and again["secret"] is None
    assert "shown once" in again["redacted"]["secret"]
    assert [s["id"] for s in rpc.call("hub", "list_webhooks", admin(tenant))["items"]] == [first["id"]]
    with tenant_session(get_engine(settings, "hub"), tenant) as session:
        stored = session.scalars(select(RequestLog.result)).all()
    assert stored and first["secret"] not in str(stored)


def test_a_subscription_a_service_held_before_the_hub_is_adopted_once_and_keeps_its_secret(env, capsys):
    settings, rpc, receiver = env
    tenant = "tl-" + uuid.uuid4().hex[:6]
    legacy_secret = "legacy-" + uuid.uuid4().hex  # what the receiver was given before the upgrade
    with system_session(get_engine(settings, "contacts")) as session:
        session.add(WebhookSubscription(id=str(uuid.uuid4()), tenant_id=tenant, url=receiver.url(f"{tenant}/old"),
                                        events=["contact.created"], secret=legacy_secret, active=True))
        session.commit()
    assert adopt_command(settings, []) == 0
    assert adopt_command(settings, []) == 0  # a second run adopts nothing more
    assert "adopted 0 webhook subscriptions" in capsys.readouterr().out
    [adopted] = rpc.call("hub", "list_webhooks", admin(tenant))["items"]
    assert adopted["url"] == receiver.url(f"{tenant}/old")
    record_id = create_contact(rpc, tenant, "Adopted")
    assert wait_for(lambda: receiver.bodies(f"{tenant}/old"))
    [(headers, body)] = receiver.bodies(f"{tenant}/old")
    assert json.loads(body)["record_id"] == record_id
    assert verify(legacy_secret, body, headers["Mosaic-Signature"])  # the receiver changes nothing
