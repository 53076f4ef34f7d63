"""``RecordService.handle_plugin_event`` on SQLite: the hooks of the event's tenant's plugins run
once per event (a redelivery changes nothing), and a tenant without the plugin is left alone."""
from __future__ import annotations

import types
import uuid

import pytest
from sqlalchemy import func, select

from mosaic.automation.notifications import REQUESTED
from mosaic.db import Base, make_engine, system_session
from mosaic.db.migrate import load_models, owned_tables
from mosaic.events.consumer import ProcessedEvent
from mosaic.events.outbox import OutboxEvent
from mosaic.events.envelope import make_envelope
from mosaic.metadata.schema_factory import clear_schema_cache
from mosaic.plugins import Manifest, PluginHost, hookimpl, set_host
from mosaic.records.provider import Records
from mosaic.records.service import RecordService
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.objects import build_registry


def probe_plugin():
    module = types.ModuleType("probe_events")
    module.MANIFEST = Manifest(name="probe", version="1.0.0", events=("contact.*",))

    @hookimpl
    def mosaic_handle_event(store, event, service):
        from mosaic.automation.notifications import notify

        notify(store.session, "user:u1", f"{service} saw {event['id']}", event["object"], event["record_id"])

    module.mosaic_handle_event = mosaic_handle_event
    return module


@pytest.fixture
def service(tmp_path):
    host = PluginHost().load(discover=False)
    host.add(probe_plugin())
    set_host(host)
    load_models()
    engine = make_engine(f"sqlite:///{tmp_path / 'contacts.db'}", "contacts")
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in owned_tables("contacts")])
    clear_schema_cache()
    records = Records("contacts", lambda: build_registry(host), build_behaviours)
    records.engine = engine  # what the container's setup() does
    fake = types.SimpleNamespace(name="contacts", data=types.SimpleNamespace(provider=records, engine=engine))
    yield fake, records, engine
    engine.dispose()
    set_host(None)


def counts(engine, tenant: str, event_id: str) -> tuple[int, int]:
    with system_session(engine) as s:
        seen = s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.tenant_id == tenant,
                                                                          OutboxEvent.type == REQUESTED))
        done = s.scalar(select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.event_id == event_id))
    return seen, done


def envelope(tenant: str) -> dict:
    return make_envelope("contact.created", tenant, "user:u1", "contact", str(uuid.uuid4()), {"record": {}}, 1)


def test_the_hook_runs_once_however_often_the_event_arrives(service):
    fake, records, engine = service
    records.tenant_plugins.note(engine, "with", ("probe",))
    event = envelope("with")
    assert RecordService.handle_plugin_event(fake, event) is True
    assert RecordService.handle_plugin_event(fake, event) is False  # the redelivery
    assert counts(engine, "with", event["id"]) == (1, 1)


def test_a_tenant_without_the_plugin_is_left_alone(service):
    fake, records, engine = service
    records.tenant_plugins.note(engine, "without", ())
    event = envelope("without")
    assert RecordService.handle_plugin_event(fake, event) is False
    assert counts(engine, "without", event["id"]) == (0, 0)


def test_platform_internal_events_never_reach_plugins(service):
    """``platform.*`` events (a notification asked of the hub) are not domain events: a plugin that
    handles every event (``#``) is never called with one."""
    fake, records, engine = service
    records.tenant_plugins.note(engine, "with", ("probe",))
    event = make_envelope(REQUESTED, "with", "system", "notification", None,
                          {"recipient": "user:u1", "message": "hi"}, None)
    assert RecordService.handle_plugin_event(fake, event) is False
    assert counts(engine, "with", event["id"]) == (0, 0)
