"""The contacts service on the real PostgreSQL and RabbitMQ, called over nameko RPC the way the
gateway calls it: context data carries the tenant, the service refuses what the context forbids,
DB calls are green, and committed changes leave through the outbox and the pika relay."""
from __future__ import annotations

import json
import time

import eventlet
import pytest
from kombu import Connection, Exchange, Queue

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate_all
from mosaic.errors import NotFound, Unauthorized, ValidationFailed
from mosaic.rpc import RpcPool
from mosaic.runtime import start_relay, start_service
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


@pytest.fixture(scope="module")
def env():
    vhost = fresh_vhost("mosaic_it")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_contacts"),
                              "MOSAIC_AMQP_URI": amqp, "MOSAIC_SECRET_KEY": "it", "MOSAIC_RELAY_INTERVAL": "0.05"})
    migrate_all(settings)
    container = start_service(settings, "contacts")
    pool = RpcPool(amqp, size=8, timeout=20)
    try:
        yield settings, pool
    finally:
        pool.close()
        container.stop()
        dispose_engines()
        drop_vhost(vhost)


def ctx(tenant: str, *, modules=("contacts",), roles=("admin",), user="u1") -> RequestContext:
    return RequestContext(tenant_id=tenant, user_id=user, roles=roles, modules=modules)


def test_rpc_round_trip_and_context_checks(env):
    _settings, rpc = env
    made = rpc.call("contacts", "create_record", ctx("ta"), "contact", {"last_name": "Rpc", "email": "rpc@a.test"})
    rid = made["record"]["id"]
    assert made["record"]["owner_id"] == "u1"
    assert rpc.call("contacts", "get_record", ctx("ta"), "contact", rid)["email"] == "rpc@a.test"
    with pytest.raises(NotFound):
        rpc.call("contacts", "get_record", ctx("tb"), "contact", rid)  # another tenant
    with pytest.raises(NotFound):
        rpc.call("contacts", "get_record", ctx("ta", modules=()), "contact", rid)  # module disabled
    with pytest.raises(Unauthorized):
        rpc.call("contacts", "get_record", RequestContext(), "contact", rid)  # no tenant at all
    with pytest.raises(ValidationFailed) as bad:
        rpc.call("contacts", "create_record", ctx("ta"), "contact", {"last_name": 5})
    assert "last_name" in bad.value.errors


def test_concurrent_rpcs_are_served_in_parallel(env):
    _settings, rpc = env
    pool = eventlet.GreenPool(20)
    results = list(pool.imap(lambda i: rpc.call("contacts", "create_record", ctx("tc"), "contact",
                                                {"last_name": f"C{i}", "email": f"c{i}@c.test"}), range(40)))
    assert len({r["record"]["id"] for r in results}) == 40
    listed = rpc.call("contacts", "list_records", ctx("tc"), "contact", limit=100)
    assert len(listed["items"]) == 40


def test_committed_changes_reach_rabbitmq_through_the_relay(env):
    settings, rpc = env
    exchange = Exchange("mosaic.events", type="topic", durable=True)
    received = []
    with Connection(settings.amqp_uri) as conn:
        queue = Queue("it-contacts-events", exchange=exchange, routing_key="contact.*", auto_delete=True)
        with conn.Consumer(queue, callbacks=[lambda body, msg: (received.append(body), msg.ack())],
                           accept=["json"]):
            relay, thread = start_relay(settings, "contacts")
            try:
                made = rpc.call("contacts", "create_record", ctx("td"), "contact", {"last_name": "Evented"})
                rid = made["record"]["id"]
                rpc.call("contacts", "update_record", ctx("td"), "contact", rid, {"title": "CTO"})
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and len([b for b in received if _rid(b) == rid]) < 2:
                    try:
                        conn.drain_events(timeout=0.5)
                    except OSError:
                        pass
                # the retained log shows them once the relay has committed their publication
                deadline = time.monotonic() + 20
                replay = {"items": []}
                while time.monotonic() < deadline and len([e for e in replay["items"] if e["record_id"] == rid]) < 2:
                    replay = rpc.call("contacts", "events_since", ctx("td"), 0, 100)
                    eventlet.sleep(0.1)
            finally:
                relay.stop()
                thread.kill()
    mine = [_env(b) for b in received if _rid(b) == rid]
    assert [e["type"] for e in mine] == ["contact.created", "contact.updated"]
    assert mine[0]["tenant_id"] == "td" and mine[1]["data"]["changes"]["title"] == [None, "CTO"]
    assert mine[1]["version"] == 2 and mine[0]["actor"] == "user:u1"
    assert [e["id"] for e in replay["items"] if e["record_id"] == rid] == [e["id"] for e in mine]


def _env(body):
    return json.loads(body) if isinstance(body, (str, bytes)) else body


def _rid(body):
    return _env(body).get("record_id")
