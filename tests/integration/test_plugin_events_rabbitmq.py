"""A plugin's ``mosaic_handle_event`` on the real RabbitMQ and PostgreSQL: the contacts service
consumes every domain event, runs the hooks of the event's tenant's plugins, and a redelivered
event changes nothing twice (a tenant without the plugin: tests/unit/mosaic/records/
test_plugin_event_handling.py)."""
from __future__ import annotations

import time
import types
import uuid

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import func, select

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db import get_engine, system_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate_all
from mosaic.events.consumer import ProcessedEvent, queue_name
from mosaic.events.envelope import make_envelope
from mosaic.plugins import Manifest, PluginHost, hookimpl, set_host
from mosaic.rpc import RpcPool
from mosaic.runtime import start_service
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def probe_plugin():
    module = types.ModuleType("probe_plugin")
    module.MANIFEST = Manifest(name="probe", version="1.0.0")

    @hookimpl
    def mosaic_handle_event(store, event, service):
        from mosaic.automation.notifications import notify

        notify(store.session, "user:u1", f"{service} saw {event['type']} {event['id']}", event["object"],
               event["record_id"], source="probe")

    module.mosaic_handle_event = mosaic_handle_event
    return module


@pytest.fixture(scope="module")
def env():
    host = PluginHost().load(discover=False)
    host.add(probe_plugin())
    set_host(host)
    vhost = fresh_vhost("mosaic_it_plugins")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_AMQP_URI": amqp, "MOSAIC_SECRET_KEY": "it",
                              "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_plugin_events")})
    migrate_all(settings)
    container = start_service(settings, "contacts")
    pool = RpcPool(amqp, size=4, timeout=20)
    try:
        yield settings, pool
    finally:
        pool.close()
        container.stop()
        dispose_engines()
        drop_vhost(vhost)
        set_host(None)


def publish_twice(amqp: str, envelope: dict) -> None:
    with Connection(amqp) as conn:
        producer = Producer(conn.channel(), exchange=Exchange("mosaic.events", type="topic", durable=True),
                            serializer="json")
        for _ in range(2):  # what a relay restarted between publish and commit does
            producer.publish(envelope, routing_key=envelope["type"], delivery_mode=2)


def queue_idle(amqp: str) -> bool:
    with Connection(amqp) as conn:
        _, ready, consumers = conn.channel().queue_declare(queue_name("contacts"), passive=True)
    return ready == 0 and consumers > 0


def seen(settings, tenant: str) -> list[str]:
    from mosaic.automation.notifications import REQUESTED
    from mosaic.events.outbox import OutboxEvent

    with system_session(get_engine(settings, "contacts")) as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.tenant_id == tenant, OutboxEvent.type == REQUESTED)
                               .order_by(OutboxEvent.seq))
        return [row.payload["data"]["message"] for row in rows]


def processed(settings, event_id: str) -> int:
    with system_session(get_engine(settings, "contacts")) as session:
        return session.scalar(select(func.count()).select_from(ProcessedEvent)
                              .where(ProcessedEvent.event_id == event_id)) or 0


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_redelivered_event_runs_the_hook_once(env):
    settings, rpc = env
    tenant = "tp-" + uuid.uuid4().hex[:6]
    rpc.call("contacts", "sync_tenant", RequestContext(tenant_id=tenant, roles=("admin",), modules=("contacts",),
                                                       plugins=("probe",)))
    envelope = make_envelope("contact.created", tenant, "user:u1", "contact", str(uuid.uuid4()), {"record": {}}, 1)
    publish_twice(settings.amqp_uri, envelope)
    assert wait_for(lambda: processed(settings, envelope["id"]) == 1 and queue_idle(settings.amqp_uri))
    assert seen(settings, tenant) == [f"contacts saw contact.created {envelope['id']}"]

