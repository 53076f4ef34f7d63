"""Webhook deliveries on the real PostgreSQL (the code the hub and the services' timers run; the
hub end to end: test_hub_webhooks_rabbitmq.py): runners never post one delivery twice, a runner
skips rows another is claiming instead of waiting for it, and subscriptions stay per tenant. With
a real receiver on 127.0.0.1: a name resolving to loopback is refused on save and at delivery
unless MOSAIC_WEBHOOK_ALLOW allows it (the log then says only "connection failed"), and a rule's
sealed secret signs what it sends."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, text

from mosaic.config import Settings
from mosaic.db import Base, make_engine, schema_for, system_session, tenant_session
from mosaic.errors import ValidationFailed
from mosaic.events import make_envelope
from mosaic.metadata import METADATA_TABLES
from mosaic.webhooks import (CONNECTION_FAILED, STRICT, WEBHOOK_TABLES, WebhookDelivery,
                             create_subscription, delivery_log, egress_policy, enqueue_direct,
                             enqueue_subscribed, run_due_deliveries, verify)
from mosaic.webhooks.egress import EgressPolicy
from mosaic.webhooks.sealing import secret_box
from tests.conftest import fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

SERVICE = "webhooks"
NOW = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
#: the subscriptions point at loopback (never called: the tests post through a counter)
LOCAL = EgressPolicy.parse(["127.0.0.1/32"])
SETTINGS = Settings(secret_key="k" * 48, webhook_allow=("127.0.0.1/32",))
#: seals the subscriptions' secrets, as the hub's MOSAIC_SECRET_KEY does
BOX = secret_box(SETTINGS)


@pytest.fixture(scope="module")
def engine():
    eng = make_engine(fresh_database("mosaic_it_webhooks"), SERVICE, pool_size=4)
    with eng.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema_for(SERVICE)}"'))
    Base.metadata.create_all(eng, tables=WEBHOOK_TABLES + METADATA_TABLES)
    yield eng
    eng.dispose()


@pytest.fixture
def clean(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE webhook_attempts, webhook_deliveries, webhook_subscriptions, "
                          "metadata_versions"))
    return engine


def queue_events(engine, tenant: str, n: int) -> tuple[str, list[str]]:
    """A catch-all subscription of ``tenant`` and ``n`` queued events; (subscription id, ids)."""
    with tenant_session(engine, tenant) as session:
        sub, _ = create_subscription(session, {"url": "http://127.0.0.1:9/h", "events": ["*"]}, box=BOX,
                                     policy=LOCAL)
        for i in range(n):
            assert enqueue_subscribed(session, make_envelope("contact.created", tenant, "user:u1", "contact",
                                                             f"c{i}", {}, 1), now=NOW) == [sub.id]
        session.commit()
        ids = session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == sub.id)).all()
        return sub.id, list(ids)


def counting_post(posted: list[str], pause: float = 0.0):
    """A ``post`` that remembers each delivery it sent (and takes ``pause`` seconds)."""

    def post(url, body, headers, timeout):
        posted.append(headers["Mosaic-Delivery"])
        if pause:
            time.sleep(pause)  # green under eventlet: lets the other runner claim meanwhile
        return 200, None
    return post


def test_two_runners_post_each_delivery_exactly_once(clean):
    _, ids = queue_events(clean, "t1", 30)
    posted: list[str] = []
    counts: list[int] = []

    def runner():
        while True:
            n = run_due_deliveries(clean, now=NOW, limit=4, box=BOX, post=counting_post(posted, 0.005))
            counts.append(n)
            if n == 0:
                return

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(posted) == sorted(ids)  # every one, none twice
    assert sum(counts) == 30
    with system_session(clean) as session:
        assert set(session.scalars(select(WebhookDelivery.status))) == {"delivered"}


def test_a_runner_skips_rows_another_runner_has_locked(clean):
    _, ids = queue_events(clean, "t1", 10)
    holder = system_session(clean)
    try:
        # Another runner in the middle of its claim: it holds the first four rows' locks.
        locked = holder.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.next_attempt_at,
                                                                    WebhookDelivery.id)
                                .limit(4).with_for_update()).all()
        posted: list[str] = []
        assert run_due_deliveries(clean, now=NOW, box=BOX, post=counting_post(posted)) == 6
        assert set(posted) == set(ids) - set(locked)
    finally:
        holder.rollback()
        holder.close()
    posted_after: list[str] = []
    assert run_due_deliveries(clean, now=NOW, box=BOX, post=counting_post(posted_after)) == 4
    assert set(posted_after) == set(locked)


def test_one_run_serves_every_tenant_and_logs_stay_per_tenant(clean):
    sub1, _ = queue_events(clean, "t1", 2)
    sub2, _ = queue_events(clean, "t2", 3)
    posted: list[str] = []
    assert run_due_deliveries(clean, now=NOW, box=BOX, post=counting_post(posted)) == 5
    with tenant_session(clean, "t1") as session:
        items = delivery_log(session, sub1)["items"]
        assert len(items) == 2 and all(i["status"] == "delivered" for i in items)
    with tenant_session(clean, "t2") as session:
        assert len(delivery_log(session, sub2)["items"]) == 3


@pytest.fixture
def receiver():
    got: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            got.append((dict(self.headers), self.rfile.read(int(self.headers.get("Content-Length") or 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], got
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _delivery(engine, delivery_id) -> WebhookDelivery:
    with system_session(engine) as session:
        return session.get(WebhookDelivery, delivery_id)


def test_a_name_resolving_to_loopback_is_refused_without_the_allow_list(clean, receiver):
    engine = clean
    port, got = receiver
    url = f"http://localhost:{port}/hook"
    with tenant_session(engine, "t-egress") as session:
        with pytest.raises(ValidationFailed) as info:
            create_subscription(session, {"url": url, "events": ["*"]}, box=BOX)
        assert "does not resolve to a public address" in info.value.errors["url"][0]
        sub, secret = create_subscription(session, {"url": url, "events": ["*"]}, box=BOX,
                                          policy=egress_policy(SETTINGS))
        assert enqueue_subscribed(session, make_envelope("contact.created", "t-egress", "user:u1", "contact", "c1",
                                                         {}, 1)) == [sub.id]
        session.commit()
        delivery = session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)).one()
    # A runner without the allow-list (production) does not call it, and says nothing more.
    assert run_due_deliveries(engine, policy=STRICT, box=BOX, timeout=2) == 1
    row = _delivery(engine, delivery.id)
    assert (row.status, row.last_status_code, row.last_error) == ("pending", None, CONNECTION_FAILED)
    assert got == []
    with engine.begin() as conn:  # due again now rather than after the backoff
        conn.execute(text("UPDATE webhook_deliveries SET next_attempt_at = now()"))
    assert run_due_deliveries(engine, policy=egress_policy(SETTINGS), box=BOX, timeout=2) == 1
    assert _delivery(engine, delivery.id).status == "delivered"
    [(headers, body)] = got
    assert headers["Host"] == f"localhost:{port}" and verify(secret, body, headers["Mosaic-Signature"])


def test_a_sealed_rule_secret_signs_the_delivery(clean, receiver):
    engine = clean
    port, got = receiver
    box = BOX
    with tenant_session(engine, "t-sealed") as session:
        queued = enqueue_direct(session, f"http://127.0.0.1:{port}/hook", box.seal("r" * 24),
                                make_envelope("contact.automation", "t-sealed", "system", "contact", "c1", {}, 1))
        session.commit()
        assert queued.secret.startswith("sealed:v1:") and "r" * 24 not in queued.secret
    assert run_due_deliveries(engine, policy=egress_policy(SETTINGS), box=box, timeout=2) == 1
    [(headers, body)] = got
    assert verify("r" * 24, body, headers["Mosaic-Signature"])
