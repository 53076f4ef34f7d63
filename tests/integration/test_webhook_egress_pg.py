"""Where webhooks may go, on the real PostgreSQL with a real HTTP receiver on 127.0.0.1: a name
resolving to loopback is refused on save and at delivery unless MOSAIC_WEBHOOK_ALLOW allows it,
the log then says only "connection failed", and a rule's sealed secret signs what it sends."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import text

from mosaic.config import Settings
from mosaic.db import Base, make_engine, schema_for, system_session, tenant_session
from mosaic.errors import ValidationFailed
from mosaic.events import make_envelope
from mosaic.metadata import METADATA_TABLES
from mosaic.webhooks import (CONNECTION_FAILED, STRICT, WEBHOOK_TABLES, WebhookDelivery, active_subscriptions,
                             create_subscription, egress_policy, enqueue_direct, enqueue_for_event,
                             run_due_deliveries, verify)
from mosaic.webhooks.sealing import secret_box
from tests.conftest import fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

SERVICE = "webhooks"
SETTINGS = Settings(secret_key="k" * 48, webhook_allow=("127.0.0.1/32",))


@pytest.fixture(scope="module")
def engine():
    eng = make_engine(fresh_database("mosaic_it_egress"), SERVICE, pool_size=4)
    with eng.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema_for(SERVICE)}"'))
    Base.metadata.create_all(eng, tables=WEBHOOK_TABLES + METADATA_TABLES)
    yield eng
    eng.dispose()


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


def test_a_name_resolving_to_loopback_is_refused_without_the_allow_list(engine, receiver):
    port, got = receiver
    url = f"http://localhost:{port}/hook"
    with tenant_session(engine, "t-egress") as session:
        with pytest.raises(ValidationFailed) as info:
            create_subscription(session, {"url": url, "events": ["*"]})
        assert "does not resolve to a public address" in info.value.errors["url"][0]
        sub, secret = create_subscription(session, {"url": url, "events": ["*"]}, policy=egress_policy(SETTINGS))
        [delivery] = enqueue_for_event(session, active_subscriptions(session),
                                       make_envelope("contact.created", "t-egress", "user:u1", "contact", "c1", {}, 1))
        session.commit()
    # A runner without the allow-list (production) does not call it, and says nothing more.
    assert run_due_deliveries(engine, policy=STRICT, timeout=2) == 1
    row = _delivery(engine, delivery.id)
    assert (row.status, row.last_status_code, row.last_error) == ("pending", None, CONNECTION_FAILED)
    assert got == []
    with engine.begin() as conn:  # due again now rather than after the backoff
        conn.execute(text("UPDATE webhook_deliveries SET next_attempt_at = now()"))
    assert run_due_deliveries(engine, policy=egress_policy(SETTINGS), timeout=2) == 1
    assert _delivery(engine, delivery.id).status == "delivered"
    [(headers, body)] = got
    assert headers["Host"] == f"localhost:{port}" and verify(secret, body, headers["Mosaic-Signature"])


def test_a_sealed_rule_secret_signs_the_delivery(engine, receiver):
    port, got = receiver
    box = secret_box(SETTINGS)
    with tenant_session(engine, "t-sealed") as session:
        queued = enqueue_direct(session, f"http://127.0.0.1:{port}/hook", box.seal("r" * 24),
                                make_envelope("contact.automation", "t-sealed", "system", "contact", "c1", {}, 1))
        session.commit()
        assert queued.secret.startswith("sealed:v1:") and "r" * 24 not in queued.secret
    assert run_due_deliveries(engine, policy=egress_policy(SETTINGS), box=box, timeout=2) == 1
    [(headers, body)] = got
    assert verify("r" * 24, body, headers["Mosaic-Signature"])
