"""Writes take effect once (mosaic.request_log) in the contacts service on the real PostgreSQL and
RabbitMQ, called over nameko RPC with a request id in the context the way the gateway calls it;
and RPC requests that outwait their caller are dropped by the broker, not run later."""
from __future__ import annotations


import eventlet
import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import func, select

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db import get_engine, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate_all
from mosaic.errors import Conflict, ServiceUnavailable, ValidationFailed
from mosaic.events.outbox import OutboxEvent
from mosaic.rpc import RpcPool
from mosaic.runtime import start_service
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


@pytest.fixture(scope="module")
def env():
    vhost = fresh_vhost("mosaic_once")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_once"),
                              "MOSAIC_AMQP_URI": amqp, "MOSAIC_SECRET_KEY": "it"})
    migrate_all(settings)
    container = start_service(settings, "contacts")
    pool = RpcPool(amqp, size=16, timeout=20)
    try:
        yield settings, pool
    finally:
        pool.close()
        container.stop()
        dispose_engines()
        drop_vhost(vhost)


def ctx(tenant: str, request_id: str | None = None) -> RequestContext:
    return RequestContext(tenant_id=tenant, user_id="u1", roles=("admin",), modules=("contacts",),
                          request_id=request_id)


def counts(settings, tenant: str, last_name: str) -> tuple[int, int]:
    """(contacts named ``last_name``, contact.created events in the outbox) of ``tenant``."""
    from mosaic_contacts.models import Contact

    with tenant_session(get_engine(settings, "contacts"), tenant) as s:
        contacts = s.scalar(select(func.count()).select_from(Contact).where(Contact.last_name == last_name))
        events = s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "contact.created"))
    return contacts, events


def test_a_repeated_request_id_is_answered_not_run(env):
    settings, rpc = env
    body = {"last_name": "Once", "email": "once@a.test"}
    first = rpc.call("contacts", "create_record", ctx("t1", "r-1"), "contact", body)
    again = rpc.call("contacts", "create_record", ctx("t1", "r-1"), "contact", body)
    assert again == first  # not a false 409 on the client's own write
    assert counts(settings, "t1", "Once") == (1, 1)
    # the same id in another tenant is another write
    other = rpc.call("contacts", "create_record", ctx("t2", "r-1"), "contact", body)
    assert other["record"]["id"] != first["record"]["id"]


def test_concurrent_duplicates_run_once(env):
    settings, rpc = env
    body = {"last_name": "Race", "email": "race@a.test"}
    pool = eventlet.GreenPool(12)
    results = list(pool.imap(lambda _: rpc.call("contacts", "create_record", ctx("t3", "r-race"), "contact", body),
                             range(12)))
    assert len({r["record"]["id"] for r in results}) == 1
    assert counts(settings, "t3", "Race") == (1, 1)


def test_a_refusal_is_stored_and_answered_again(env):
    settings, rpc = env
    made = rpc.call("contacts", "create_record", ctx("t4"), "contact", {"last_name": "Dup", "email": "d@a.test"})
    with pytest.raises(Conflict):
        rpc.call("contacts", "create_record", ctx("t4", "r-dup"), "contact", {"last_name": "Dup", "email": "d@a.test"})
    rpc.call("contacts", "delete_record", ctx("t4"), "contact", made["record"]["id"])
    with pytest.raises(Conflict):  # the first outcome stands, though the create would pass now
        rpc.call("contacts", "create_record", ctx("t4", "r-dup"), "contact", {"last_name": "Dup", "email": "d@a.test"})
    assert counts(settings, "t4", "Dup") == (0, 1)


def test_a_request_id_reused_for_another_write_is_refused(env):
    _settings, rpc = env
    rpc.call("contacts", "create_record", ctx("t5", "r-x"), "contact", {"last_name": "A"})
    with pytest.raises(ValidationFailed):
        rpc.call("contacts", "create_record", ctx("t5", "r-x"), "contact", {"last_name": "B"})
    with pytest.raises(ValidationFailed):
        rpc.call("contacts", "add_field", ctx("t5", "r-x"), "contact", {"name": "tier", "type": "text"})


def test_updates_and_deletes_run_once(env):
    _settings, rpc = env
    record = rpc.call("contacts", "create_record", ctx("t6"), "contact", {"last_name": "Up"})["record"]
    up = [rpc.call("contacts", "update_record", ctx("t6", "r-up"), "contact", record["id"], {"first_name": "X"},
                   expected_version=1) for _ in range(2)]
    assert up[0] == up[1] and up[0]["version"] == 2  # the repeat is no 412 on the client's own update
    for _ in range(2):
        assert rpc.call("contacts", "delete_record", ctx("t6", "r-del"), "contact", record["id"]) is None
    # (a webhook subscription's create, run once: tests/integration/test_hub_webhooks_rabbitmq.py)


def test_writes_without_a_request_id_run_as_before(env):
    settings, rpc = env
    for _ in range(2):
        rpc.call("contacts", "create_record", ctx("t7"), "contact", {"last_name": "Plain"})
    assert counts(settings, "t7", "Plain") == (2, 2)


def test_a_request_that_outwaits_its_caller_is_dropped(env):
    settings, _rpc = env
    # A service that is down: its queue exists (durable, bound as nameko binds it), nobody consumes.
    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    queue = Queue("rpc-sleeper", exchange=exchange, routing_key="sleeper.*", durable=True)
    impatient = RpcPool(settings.amqp_uri, size=1, timeout=1.5)
    with Connection(settings.amqp_uri) as conn:
        bound = queue(conn.channel())
        bound.declare()
        try:
            call = eventlet.spawn(impatient.call, "sleeper", "create_record", ctx("t8"), "contact", {})
            while bound.queue_declare(passive=True).message_count == 0:  # the request is queued
                eventlet.sleep(0.05)
            with pytest.raises(ServiceUnavailable):
                call.wait()
            eventlet.sleep(0.3)
            assert bound.get(no_ack=True) is None  # expired with the caller's wait: never delivered
        finally:
            impatient.close()
            bound.delete()
