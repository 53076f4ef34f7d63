"""Building blocks of the automation tests: the objects, a stand-in for the tenant's logic, a
controllable clock and a RecordStore with the AutomationStep (a module of its own: several test
folders have a conftest, so ``from conftest import`` would find the wrong one)."""
from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timezone

import mosaic.audit  # noqa: F401 - tables
import mosaic.events.outbox  # noqa: F401
import mosaic.records.models  # noqa: F401
import mosaic_contacts.models  # noqa: F401
try:
    import mosaic.webhooks.models  # noqa: F401 - the direct deliveries a webhook action queues
except ImportError:  # built by another helper; its tests skip without it
    pass
from sqlalchemy import select

from mosaic.automation import AutomationStep, compile_rule
from mosaic.context import RequestContext
from mosaic.events.envelope import is_internal
from mosaic.events.outbox import OutboxEvent
from mosaic.metadata.fields import FieldDef, FieldType
from mosaic.records.store import RecordStore
from mosaic_contacts.objects import ACCOUNT, ACTIVITY, CONTACT

NOW = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)  # a Monday
TENANTS = itertools.count()


def _activity_with_tasks():
    """The activity object as the lead extends it: a "task" type and a ``due_at`` field (kept
    as they are once the contacts service has them)."""
    fields = tuple(replace(f, choices=f.choices + ("task",)) if f.name == "type" and "task" not in f.choices
                   else f for f in ACTIVITY.fields)
    if ACTIVITY.field("due_at") is None:
        fields += (FieldDef("due_at", FieldType.DATETIME, "Due at"),)
    return replace(ACTIVITY, fields=fields, _index={})


OBJECTS = {"contact": CONTACT, "account": ACCOUNT, "activity": _activity_with_tasks()}


class FakeLogic:
    """What ``store.logic`` gives a step: compiled rules per object."""

    def __init__(self):
        self.by_object: dict[str, list] = {}

    def add(self, definition: dict):
        definition.setdefault("object", "contact")
        rule = compile_rule(definition, OBJECTS[definition["object"]], OBJECTS)
        self.by_object.setdefault(rule.object, []).append(rule)
        return rule

    def rules(self, obj_name):
        return self.by_object.get(obj_name, [])

    def processes(self, obj_name):
        return []

    def validation_rules(self, obj_name):
        return []



class Clock:
    """A controllable ``store.clock``."""

    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


def build_store(session, logic, clock=None, ctx=None) -> RecordStore:
    ctx = ctx or RequestContext(tenant_id=session.info["tenant_id"], user_id="u-admin", roles=("admin",),
                                modules=("contacts",))
    return RecordStore(session, OBJECTS, ctx, module="contacts", metadata_version=7301,
                       steps=[AutomationStep()], logic=logic, clock=clock)


def emitted(session) -> list[dict]:
    """The domain events written to the outbox in ``session``, oldest first (what the hub, and so
    webhook subscribers, and every other consumer get); platform-internal ones left out."""
    rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))
    return [row.payload for row in rows if not is_internal(row.payload)]
