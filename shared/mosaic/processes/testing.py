"""Test support for processes: a fixed tenant logic, an example object and process, and record
stores wired with :class:`~mosaic.processes.engine.ProcessStep` — for this package's tests and for
plugin authors testing their own process definitions against a real database.

Nothing in the running platform imports this module.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from mosaic import permissions
from mosaic.context import RequestContext
from mosaic.db import tenant_session
from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.processes.definitions import Process, compile_process
from mosaic.records.store import RecordStore

#: a Wednesday morning, where test clocks start
WEDNESDAY = datetime(2024, 5, 8, 9, 0, tzinfo=timezone.utc)
PROPERTY = "realestate__property"
STAGES = ("available", "reserved", "under_contract", "sold")

#: the spec's listing process, with a timer that releases a reservation after 7 days
LISTING: dict = {
    "name": "listing", "label": "Listing", "object": PROPERTY, "field": "status",
    "initial": "available",
    "stages": [
        {"name": "available", "label": "Available"},
        {"name": "reserved", "on_enter": [{"type": "set_field", "field": "rating", "value": "hot"}],
         "timers": [{"name": "expire", "after": {"days": 7},
                     "actions": [{"type": "transition", "to": "available"},
                                 {"type": "notify", "to": "owner", "message": "{{title}} was released"}]}]},
        {"name": "under_contract"},
        {"name": "sold", "final": True},
    ],
    "transitions": [
        {"name": "reserve", "from": ["available"], "to": "reserved", "roles": ["admin", "sales"]},
        {"name": "contract", "from": ["reserved"], "to": "under_contract",
         "guard": "positive_viewings > 0", "guard_message": "A positive viewing is needed first.",
         "approval": {"roles": ["manager"], "users": []}},
        {"name": "sell", "from": ["under_contract"], "to": "sold"},
        {"name": "release", "from": ["reserved", "under_contract"], "to": "available"},
    ],
    "active": True,
}


def listing(**overrides) -> dict:
    """A deep copy of :data:`LISTING` with top-level ``overrides``."""
    return {**copy.deepcopy(LISTING), **overrides}


def property_object(**overrides) -> ObjectDef:
    """A plugin object (stored in the generic records table) with a ``status`` picklist."""
    fields = SYSTEM_FIELDS + (
        FieldDef("title", FieldType.TEXT, "Title"),
        FieldDef("status", FieldType.PICKLIST, "Status", choices=STAGES + ("withdrawn",)),
        FieldDef("positive_viewings", FieldType.INTEGER, "Positive viewings"),
        FieldDef("rating", FieldType.PICKLIST, "Rating", choices=("cold", "warm", "hot")),
    )
    args = {"name": PROPERTY, "label": "Property", "service": "contacts", "fields": fields,
            "plural": "realestate__properties", "kind": "plugin", "title_field": "title",
            "namespace": "realestate"}
    return ObjectDef(**{**args, **overrides})


class Clock:
    """A clock the test moves by hand (``clock.now = ...``); pass it as a store's ``clock``."""

    def __init__(self, now: datetime = WEDNESDAY):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class StaticLogic:
    """A tenant logic with fixed processes and no rules or validation rules."""

    def __init__(self, processes: Iterable[Process] = ()):
        self._processes = list(processes)

    def processes(self, object_name: str) -> list[Process]:
        """Active processes on ``object_name``."""
        return [p for p in self._processes if p.object == object_name and p.active]

    def process(self, name: str) -> Process | None:
        """The active process called ``name``."""
        return next((p for p in self._processes if p.name == name and p.active), None)

    def rules(self, object_name: str) -> list:
        """No automation rules."""
        return []

    def validation_rules(self, object_name: str) -> list:
        """No validation rules."""
        return []

    def implements(self, hook: str) -> bool:
        """No plugin hooks."""
        return False


def compile_all(objects: dict[str, ObjectDef], *definitions: dict) -> list[Process]:
    """``definitions`` compiled against ``objects``."""
    return [compile_process(d, objects[d["object"]], objects) for d in definitions]


#: the module of the stores :func:`make_store` builds, with the usual roles' default grants
MODULE = "testing"
for _role, _grants in {"manager": permissions.FULL, "sales": permissions.WORKER, "agent": permissions.WORKER,
                       "marketer": permissions.WORKER, "readonly": permissions.READ}.items():
    permissions.grant(MODULE, "*", _role, _grants)


def make_store(session: Session, objects: dict[str, ObjectDef], logic, *, user: str | None = "u1",
               roles: tuple[str, ...] = ("admin",), clock: Callable[[], datetime] | None = None) -> RecordStore:
    """A record store of ``session``'s tenant running :class:`ProcessStep`."""
    from mosaic.processes.engine import ProcessStep

    ctx = RequestContext(tenant_id=session.info["tenant_id"], user_id=user, roles=roles,
                         modules=(MODULE,))
    return RecordStore(session, objects, ctx, module=MODULE, steps=[ProcessStep()], logic=logic,
                       clock=clock)


def store_opener(engine: Engine, objects: dict[str, ObjectDef], logic):
    """``open_store(tenant_id)`` for :func:`mosaic.automation.jobs.run_due_jobs`: a system store
    on a fresh tenant session, closed on exit."""
    @contextmanager
    def open_store(tenant_id: str) -> Iterator[RecordStore]:
        with tenant_session(engine, tenant_id) as session:
            yield make_store(session, objects, logic, user=None, roles=("system",))
    return open_store
