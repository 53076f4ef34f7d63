"""Services are composed of opt-in pieces (``mosaic.pieces``): contacts keeps every entrypoint it
had, a read model takes only what it needs, and a class that does not hold together (a need
unmet, an RPC its spec promises missing) is refused when it is loaded, not when the gateway calls."""
from __future__ import annotations

import types
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mosaic import pieces, services
from mosaic.context import Tenancy
from mosaic.db import Base, make_engine, system_session, utcnow
from mosaic.db.migrate import load_models
from mosaic.entrypoints import rpc
from mosaic.metadata.registry import ObjectRegistry
from mosaic.records.provider import Records
from mosaic.records.service import RecordService
from mosaic.request_log import RETENTION, RequestLog, write_once
from mosaic.services import ServiceSpec

#: what the contacts service answered before RecordService was split into pieces: every RPC
#: (the gateway, other services and scripts call them by name) and every timer and handler, with
#: what changed since (object_names, sync_users: the services check references themselves;
#: notifications, approvals and webhook subscriptions moved to the hub)
CONTACTS_RPCS = {
    "add_field", "change_field", "create_object", "create_record", "decide",
    "delete_definition", "delete_object", "delete_record", "describe", "describe_core",
    "events_since", "export_page", "find_duplicates", "get_record", "import_abort",
    "import_chunk", "import_commit", "import_errors", "import_start", "import_status", "list_definitions",
    "list_imports", "list_records", "merge", "object_names",
    "ping", "put_definition", "record_history", "remove_field", "sync_tenant", "sync_users", "timeline", "transition",
    "transitions", "update_record", "view_360",
}
CONTACTS_TIMERS = {"purge_finished_work": 3600, "run_imports": 1, "run_jobs": 1.0, "run_scheduled_rules": 30}


def timers_with_intervals(cls) -> dict[str, float]:
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    return {name: ep.interval for name in pieces.timer_names(cls)
            for ep in getattr(getattr(cls, name), ENTRYPOINT_EXTENSIONS_ATTR)}


class Ledger(pieces.Health, pieces.EventLog, pieces.PluginEvents):
    """A read model: health, the event log and plugins' event handlers, nothing else."""

    name = "ledger"
    ctx = Tenancy(module="ledger")
    data = Records("ledger", lambda: ObjectRegistry("ledger"))


def ledger_spec(**kw) -> ServiceSpec:
    return ServiceSpec(name="ledger", package="mosaic_ledger", service_class=f"{__name__}:Ledger",
                       **{"records": False, **kw})


def test_contacts_keeps_every_entrypoint_it_had():
    cls = services.get("contacts").load_class()
    assert pieces.rpc_names(cls) == CONTACTS_RPCS
    assert timers_with_intervals(cls) == CONTACTS_TIMERS
    assert pieces.entrypoints(cls)["on_event"] == ("DomainEvents",)
    assert set(pieces.entrypoints(cls)) == CONTACTS_RPCS | set(CONTACTS_TIMERS) | {"on_event"}


def test_record_service_is_the_composition_of_the_record_pieces():
    composed = pieces.pieces_of(RecordService)
    assert set(pieces.RECORD_HOST) <= set(composed)
    assert {pieces.EventLog, pieces.PluginEvents, pieces.AutomationJobs, pieces.Housekeeping} <= set(composed)
    brought = set().union(*(pieces.rpc_names(p) for p in composed))
    # RecordService's own body holds no entrypoint: every one comes from a piece (the user-level
    # features it once held, notifications, approvals and webhook subscriptions, are the hub's).
    assert pieces.rpc_names(RecordService) == brought
    assert {pieces.references.ReferencesRpc} <= set(composed)
    assert pieces.timer_names(RecordService) == {"run_jobs", "run_scheduled_rules", "purge_finished_work"}


def test_a_read_model_takes_no_timer_and_answers_only_what_it_took():
    assert pieces.timer_names(Ledger) == set()
    assert pieces.rpc_names(Ledger) == {"ping", "sync_tenant", "events_since"}
    pieces.check_service(ledger_spec(), Ledger)  # holds together: records=False promises no record RPCs
    assert pieces.timer_names(type("Cleaner", (Ledger, pieces.Housekeeping), {})) == {"purge_finished_work"}


def test_every_installed_service_holds_together_with_its_spec():
    for spec in services.installed().values():
        pieces.check_service(spec, spec.load_class())


def test_a_spec_promising_records_refuses_a_read_model_class():
    with pytest.raises(TypeError) as err:
        pieces.check_service(ledger_spec(records=True, imports=True, view_360="view_360"), Ledger)
    message = str(err.value)
    for name in ("describe", "describe_core", "list_definitions", "list_records", "transition",
                 "import_start", "view_360"):
        assert name in message
    assert "events_since" not in message
    with pytest.raises(TypeError, match="lacks RPCs its ServiceSpec promises"):
        ledger_spec(records=True).load_class()  # what `mosaic serve` and the embedded mode start
    assert ledger_spec().load_class() is Ledger


def test_an_unmet_need_is_named():
    class NoData(pieces.Health):
        name = "nodata"
        ctx = Tenancy()

    class WrongCtx(pieces.EventLog):
        ctx = "contacts"
        data = Records("x", lambda: ObjectRegistry("x"))

    with pytest.raises(TypeError, match="Health needs data = a Database"):
        pieces.check_class(NoData)
    with pytest.raises(TypeError, match="EventLog needs ctx = a Tenancy"):
        pieces.check_class(WrongCtx)


def test_write_rpcs_need_housekeeping():
    class Writer(pieces.Health):
        name = "writer"
        ctx = Tenancy()
        data = Records("writer", lambda: ObjectRegistry("writer"))

        @rpc
        @write_once
        def save(self):
            return None

    with pytest.raises(TypeError, match=r"write entrypoints \(save\) need the Housekeeping piece"):
        pieces.check_class(Writer)
    pieces.check_class(type("KeptWriter", (Writer, pieces.Housekeeping), {}))


def test_a_service_of_plain_tables_may_take_health():
    from mosaic.db.provider import Database

    class Inbox(pieces.Health, pieces.Housekeeping):
        name = "inbox"
        ctx = Tenancy(module="inbox")
        data = Database("inbox")

    pieces.check_service(ServiceSpec(name="inbox", package="mosaic_inbox", records=False), Inbox)
    assert pieces.timer_names(Inbox) == {"purge_finished_work"}


def test_housekeeping_runs_every_pieces_purges_once_in_mro_order(monkeypatch):
    calls = []

    def purge(label):
        return lambda service, now: calls.append((label, service.name))

    a, b = purge("a"), purge("b")
    monkeypatch.setattr(pieces.Housekeeping, "purges", (purge("log"),))

    class PieceA(pieces.Housekeeping):
        purges = (a,)

    class PieceB(pieces.Housekeeping):
        purges = (b, a)

    class Service(PieceA, PieceB):
        name = "s"

    Service().purge_finished_work()
    assert calls == [("a", "s"), ("b", "s"), ("log", "s")]
    assert pieces.timer_names(Service) == {"purge_finished_work"}


def test_housekeeping_purges_the_request_log_past_its_retention(tmp_path):
    load_models()
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}", "ledger")
    Base.metadata.create_all(engine, tables=[RequestLog.__table__])
    old, fresh = utcnow() - RETENTION - timedelta(hours=1), utcnow()
    with system_session(engine) as s:
        for rid, at in (("old", old), ("fresh", fresh)):
            s.add(RequestLog(tenant_id="t1", request_id=rid, method="save", fingerprint="f", status="done",
                             created_at=at))
        s.commit()

    class Cleaner(Ledger, pieces.Housekeeping):
        pass

    service = Cleaner()
    service.data = types.SimpleNamespace(engine=engine)  # what the container injects: its engine
    service.purge_finished_work()
    with system_session(engine) as s:
        assert s.scalars(select(RequestLog.request_id)).all() == ["fresh"]
        assert s.scalar(select(func.count()).select_from(RequestLog)) == 1
    engine.dispose()
