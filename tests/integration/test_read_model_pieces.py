"""A read model composed of pieces (health, event log, plugins' event handlers) runs in a nameko
container beside contacts and the gateway, in both run modes (SQLite and the in-process broker;
PostgreSQL and RabbitMQ): it answers its RPCs, polls no timer, reacts to contacts' events through
its plugins, and the gateway asks it only what every service answers — so installing it breaks no
route."""
from __future__ import annotations

import types

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.exceptions import MethodNotFound
from sqlalchemy import func, select, text

from mosaic import pieces, services
from mosaic.automation.notifications import requested
from mosaic.config import load_settings
from mosaic.context import RequestContext, Tenancy
from mosaic.db import Base, get_engine, system_session
from mosaic.db.engine import dispose_engines, schema_for
from mosaic.db.migrate import PLATFORM_TABLES, load_models, migrate_all
from mosaic.errors import MosaicError, Unauthorized
from mosaic.events.consumer import ProcessedEvent, domain_events
from mosaic.events.envelope import make_envelope
from mosaic.events.outbox import emit
from mosaic.metadata.registry import ObjectRegistry
from mosaic.plugins import Manifest, PluginHost, get_host, hookimpl, set_host
from mosaic.records.provider import Records
from mosaic.rpc import RpcPool
from mosaic.runtime import nameko_config, start_relay, start_service
from mosaic.services import ServiceSpec
from mosaic_gateway import identity
from mosaic_gateway.app import create_app
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

PASSWORD = "a long enough password"


class LedgerService(pieces.Health, pieces.EventLog, pieces.PluginEvents):
    """A read model: no objects, no records, no timers; it learns from other services' events."""

    name = "ledger"
    ctx = Tenancy(module="ledger")
    data = Records("ledger", lambda: ObjectRegistry("ledger"))

    @domain_events("ledger", lambda: get_host().event_patterns())
    def on_event(self, envelope):
        self.handle_plugin_event(envelope)


LEDGER = ServiceSpec(name="ledger", label="Ledger", package="mosaic_ledger", records=False,
                     service_class=f"{__name__}:LedgerService")


def probe_plugin():
    """A plugin that notes, in the service that handles it, each contact event it sees."""
    module = types.ModuleType("probe_pieces")
    module.MANIFEST = Manifest(name="probe", version="1.0.0", events=("contact.*",))

    @hookimpl
    def mosaic_handle_event(store, event, service):
        from mosaic.automation.notifications import notify

        notify(store.session, "user:u1", f"{service} saw {event['type']}", event["object"], event["record_id"])

    module.mosaic_handle_event = mosaic_handle_event
    return module


@pytest.fixture(params=["embedded", pytest.param("distributed", marks=[pytest.mark.postgres,
                                                                       pytest.mark.rabbitmq])])
def stack(request, tmp_path, memory_broker, monkeypatch):
    env = {"MOSAIC_DATA_DIR": str(tmp_path), "MOSAIC_SECRET_KEY": "pieces-test-" + "k" * 40,
           "MOSAIC_RELAY_INTERVAL": "0.05"}
    vhost = None
    if request.param == "distributed":
        vhost = fresh_vhost("mosaic_it_pieces")
        env.update({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_pieces"),
                    "MOSAIC_AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}"})
    settings = load_settings(env)
    migrate_all(settings)  # the gateway and contacts, as installed
    monkeypatch.setattr(services, "_services", {**services.installed(), "ledger": LEDGER})
    load_models()
    ledger_db = get_engine(settings, "ledger")  # a read model still has the platform's tables
    if ledger_db.dialect.name == "postgresql":
        with ledger_db.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for("ledger")}"'))
    Base.metadata.create_all(ledger_db, tables=[Base.metadata.tables[t] for t in PLATFORM_TABLES])
    host = PluginHost().load(discover=False)
    host.add(probe_plugin())
    set_host(host)
    with system_session(get_engine(settings, "gateway")) as session:
        identity.create_tenant(session, "pieces", "Pieces", "admin@pieces.test", PASSWORD,
                               modules=("contacts", "ledger"))
        session.commit()
    ledger = ServiceContainer(services.get("ledger").load_class(), nameko_config(settings))
    ledger.start()
    contacts = start_service(settings, "contacts")
    hub = start_service(settings, "hub")  # the platform service every stack runs (readiness, inbox, webhooks)
    relay, relay_thread = start_relay(settings, "contacts")
    rpc = RpcPool(settings.amqp_uri, size=4, timeout=10)
    app = create_app(settings, rpc)
    try:
        yield types.SimpleNamespace(client=app.test_client(), rpc=rpc, ledger=ledger, ledger_db=ledger_db)
    finally:
        rpc.close()
        relay.stop()
        relay_thread.kill()
        contacts.stop()
        hub.stop()
        ledger.stop()
        set_host(None)
        dispose_engines()
        if vhost:
            drop_vhost(vhost)


def login(client) -> dict:
    resp = client.post("/api/v1/auth/login", json={"tenant": "pieces", "email": "admin@pieces.test",
                                                   "password": PASSWORD})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


def wait_for(predicate, seconds=10.0):
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return True
        eventlet.sleep(0.05)
    return predicate()


def test_the_read_model_runs_only_the_entrypoints_it_took(stack):
    kinds = {ep.method_name: type(ep).__name__ for ep in stack.ledger.entrypoints}
    assert kinds == {"ping": "FastRpc", "sync_tenant": "FastRpc", "events_since": "FastRpc",
                     "on_event": "DomainEvents"}
    ctx = RequestContext(tenant_id="t1", user_id="u1", roles=("admin",), modules=("ledger",), plugins=("probe",))
    assert stack.rpc.call("ledger", "ping", None) == {"service": "ledger", "ok": True}
    assert stack.rpc.call("ledger", "sync_tenant", ctx) == {"service": "ledger", "plugins": ["probe"]}
    with pytest.raises(MethodNotFound):  # it hosts no records: not an RPC it has
        stack.rpc.call("ledger", "describe", ctx)


def test_the_read_models_event_log_replays_per_tenant_and_for_the_platform(stack):
    with system_session(stack.ledger_db) as session:
        for tenant in ("t1", "t2"):
            row = emit(session, make_envelope("ledger.scored", tenant, "system", "contact", "c1", {"score": 3}, 1))
            row.published_at = row.created_at
        session.commit()
    tenant = RequestContext(tenant_id="t1", user_id="u1", roles=("sales",), modules=("ledger",))
    mine = stack.rpc.call("ledger", "events_since", tenant, 0)
    assert [e["tenant_id"] for e in mine["items"]] == ["t1"]
    everyone = stack.rpc.call("ledger", "events_since", RequestContext(roles=("system",)), 0, 10, ["ledger.scored"])
    assert sorted(e["tenant_id"] for e in everyone["items"]) == ["t1", "t2"]
    with pytest.raises(Unauthorized):
        stack.rpc.call("ledger", "events_since", RequestContext(), 0)
    with pytest.raises(MosaicError):  # the module is not enabled for the caller
        stack.rpc.call("ledger", "events_since", RequestContext(tenant_id="t1", modules=("contacts",)), 0)


def test_the_gateway_asks_the_read_model_only_what_every_service_answers(stack):
    client = stack.client
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["services"] == {"contacts": "ok", "hub": "ok", "ledger": "ok"}
    assert client.get("/api/v1/openapi.json").status_code == 200  # describe_core: record hosts only
    headers = login(client)
    doc = client.get("/api/v1/openapi.json", headers=headers)
    assert doc.status_code == 200 and "/api/v1/contacts" in doc.get_json()["paths"]
    for path in ("/api/v1/metadata/objects", "/api/v1/metadata/processes", "/api/v1/metadata/rules",
                 "/api/v1/webhooks", "/api/v1/notifications", "/api/v1/approvals", "/api/v1/admin/config"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 200, (path, resp.get_data(as_text=True))
    objects = client.get("/api/v1/metadata/objects", headers=headers).get_json()
    assert {o["service"] for o in objects["items"]} == {"contacts"}
    # With two modules enabled, the only one hosting records hosts a new custom object.
    made = client.post("/api/v1/metadata/objects", headers=headers,
                       json={"name": "pet", "label": "Pet", "plural": "pets",
                             "fields": [{"name": "nick", "type": "text"}]})
    assert made.status_code == 201 and made.get_json()["service"] == "contacts", made.get_data(as_text=True)
    refused = client.post("/api/v1/metadata/objects", headers=headers,
                          json={"name": "bowl", "label": "Bowl", "plural": "bowls", "service": "ledger",
                                "fields": [{"name": "size", "type": "integer"}]})
    assert refused.status_code == 422 and "service" in refused.get_json()["errors"]


def test_the_read_model_reacts_to_contacts_events_through_its_plugins(stack):
    client = stack.client
    headers = login(client)
    enabled = client.put("/api/v1/admin/plugins/probe", headers=headers)  # sync_tenant on both services
    assert enabled.status_code == 200, enabled.get_data(as_text=True)
    created = client.post("/api/v1/contacts", headers=headers, json={"last_name": "Event"})
    assert created.status_code == 201, created.get_data(as_text=True)

    def seen():
        with system_session(stack.ledger_db) as session:
            return [n["message"] for n in requested(session)]  # asked of the hub, in the ledger's outbox

    assert wait_for(lambda: "ledger saw contact.created" in seen())
    with system_session(stack.ledger_db) as session:
        handled = session.scalar(select(func.count()).select_from(ProcessedEvent)
                                 .where(ProcessedEvent.consumer == "ledger.plugins"))
    assert handled >= 1
