"""Running queued actions: the handler of ``"actions"`` jobs.

The actions run in order, in the job's transaction, against the record as it is now (not as it
was when they were queued); every write they make is an ``automation`` write, which rules do not
react to again. A record deleted in the meantime makes the job a no-op.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import Integer, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.automation.actions import ACTIONS_JOB, field_value
from mosaic.automation.jobs import DEPTH_KEY, Job
from mosaic.automation.notifications import notify
from mosaic.automation.offsets import add_offset
from mosaic.automation.templates import render
from mosaic.db import Base, TenantScoped
from mosaic.errors import NotFound
from mosaic.events.envelope import make_envelope
from mosaic.metadata.fields import ObjectDef
from mosaic.metadata.values import json_safe

if TYPE_CHECKING:
    from mosaic.records.store import RecordStore

log = logging.getLogger(__name__)

#: record links an activity has for the objects it knows; anything else is related_object/id
_ACTIVITY_LINKS = {"contact": "contact_id", "account": "account_id"}


class AssignmentCursor(TenantScoped, Base):
    """Where a round-robin assignment continues: the next position in its user list."""

    __tablename__ = "assignment_cursors"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


@dataclass
class Run:
    """One job's actions on one record."""

    store: "RecordStore"
    obj: ObjectDef
    row: Any
    source: str
    context: dict
    job: Job
    #: the position of the running action in the job's list
    index: int = 0

    #: set while only actions that leave the record alone run (inline, inside its write)
    frozen_values: dict | None = None

    @property
    def values(self) -> dict:
        """The record's current python values (re-read: an earlier action may have changed it)."""
        if self.frozen_values is not None:
            return self.frozen_values
        return self.store.values_of(self.obj, self.row)

    @property
    def rule(self) -> str | None:
        """The rule that queued the actions, if a rule did."""
        return self.context.get("rule")

    def label(self) -> str:
        """Who queued the actions, for notifications, comments and cursor keys."""
        if self.rule:
            return self.rule
        parts = [str(self.context[k]) for k in ("process", "stage", "timer") if self.context.get(k)]
        return ":".join(parts) or self.job.key


def next_round_robin(store: "RecordStore", key: str, users: list[str]) -> str:
    """The next of ``users`` for the round-robin cursor ``key``, advancing it under a row lock so
    concurrent jobs never hand out the same position."""
    session, tenant = store.session, store.session.info["tenant_id"]
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(dialect_insert(AssignmentCursor).values(tenant_id=tenant, key=key, position=0)
                        .on_conflict_do_nothing(index_elements=["tenant_id", "key"]))
    elif session.get(AssignmentCursor, (tenant, key)) is None:
        session.add(AssignmentCursor(tenant_id=tenant, key=key, position=0))
        session.flush()
    cursor = session.scalars(select(AssignmentCursor).where(AssignmentCursor.key == key)
                             .with_for_update().execution_options(populate_existing=True)).one()
    user = users[cursor.position % len(users)]
    cursor.position = (cursor.position + 1) % len(users)
    session.flush()
    return user


def _set_field(run: Run, action: dict) -> None:
    value = field_value(run.store, run.obj, action, run.values, run.store.now())
    run.store.update_values(run.obj, run.row, {action["field"]: value}, action="automation")


def _assign_owner(run: Run, action: dict) -> None:
    if action["strategy"] == "round_robin":
        user = next_round_robin(run.store, f"{run.source}:{run.label()}:{run.index}", action["users"])
    else:
        value = run.values.get(action["field"])
        user = action["territories"].get(value if isinstance(value, str) else json_safe(value)) \
            if value is not None else None
        user = user or action.get("default")
    if user is None:
        log.info("no territory owner for %s %s; owner left unchanged", run.obj.name, run.row.id)
        return
    run.store.update_values(run.obj, run.row, {"owner_id": user}, action="automation")


def _create_activity(run: Run, action: dict, *, task: bool = False) -> None:
    activity = run.store.objects.get("activity")
    if activity is None:  # refused when the definition was saved; the object has gone since
        raise LookupError(f"this service hosts no activity object for {action['type']}")
    values, now = run.values, run.store.now()
    data: dict[str, Any] = {"type": "task" if task else action["activity_type"],
                            "owner_id": values.get("owner_id")}
    for key in ("subject", "body"):
        text = render(action.get(key), values)
        fd = activity.field(key)
        if text and fd is not None:
            data[key] = text[:fd.max_length] if fd.max_length else text
    if activity.field("occurred_at") is not None:
        data["occurred_at"] = json_safe(now)
    if task and action.get("due") and activity.field("due_at") is not None:
        data["due_at"] = json_safe(add_offset(now, action["due"]))
    link = _ACTIVITY_LINKS.get(run.obj.name)
    if link and activity.field(link) is not None:
        data[link] = run.row.id
    else:
        data["related_object"], data["related_id"] = run.obj.name, str(run.row.id)
    run.store.create("activity", {k: v for k, v in data.items() if v is not None}, action="automation")


def _notify(run: Run, action: dict) -> None:
    recipient = action["to"]
    if recipient == "owner":
        owner = run.values.get("owner_id")
        if not owner:
            log.info("%s %s has no owner to notify", run.obj.name, run.row.id)
            return
        recipient = f"user:{owner}"
    notify(run.store.session, recipient, render(action["message"], run.values), run.obj.name,
           str(run.row.id), f"{run.source}:{run.label()}", actor=run.store.ctx.actor, service=run.store.module)


def _envelope_data(run: Run) -> dict:
    return {"record": run.store.to_api(run.obj, run.values), "rule": run.rule}


def _webhook(run: Run, action: dict) -> None:
    from mosaic.webhooks.delivery import enqueue_direct  # noqa: PLC0415 - optional sibling package

    store = run.store
    envelope = make_envelope(f"{run.obj.name}.automation", store.session.info["tenant_id"], store.ctx.actor,
                             run.obj.name, str(run.row.id), _envelope_data(run), run.row.version)
    enqueue_direct(store.session, action["url"], action.get("secret"), envelope)


def _emit_event(run: Run, action: dict) -> None:
    run.store.emit_event(run.obj, action["event"], run.row, _envelope_data(run))


def _transition(run: Run, action: dict) -> None:
    from mosaic.processes.engine import transition_system  # noqa: PLC0415 - written beside this one

    comment = action.get("comment") or f"automation: {run.label()}"
    transition_system(run.store, run.obj, run.row, action["to"], comment)


EXECUTORS: dict[str, Callable[[Run, dict], None]] = {
    "set_field": _set_field,
    "assign_owner": _assign_owner,
    "create_activity": _create_activity,
    "create_task": lambda run, action: _create_activity(run, action, task=True),
    "notify": _notify,
    "webhook": _webhook,
    "emit_event": _emit_event,
    "transition": _transition,
}


def run_actions_job(store: "RecordStore", job: Job) -> None:
    """The ``"actions"`` job handler: run the job's actions in order on its record."""
    obj = store.objects.get(job.object)
    if obj is None:
        log.info("job %s: object %s is gone; nothing to do", job.id, job.object)
        return
    try:
        row = store.load_row(obj, job.record_id)
    except NotFound:
        log.info("job %s: %s %s was deleted; nothing to do", job.id, job.object, job.record_id)
        return
    run = Run(store, obj, row, job.payload.get("source") or "", job.payload.get("context") or {}, job)
    for run.index, action in enumerate(job.payload.get("actions") or ()):
        EXECUTORS[action["type"]](run, action)


class _Inline:
    """What :class:`Run` reads of a job when the actions run inside the triggering write."""

    def __init__(self, key: str):
        self.key = key
        self.id = None


def run_inline(store: "RecordStore", obj: ObjectDef, row, actions: list[dict], *, source: str, key: str,
               context: dict, depth: int) -> None:
    """Run ``actions`` (only :data:`~mosaic.automation.actions.LOCAL_ACTIONS`) now, in the
    caller's transaction; writes they make count one link deeper in the automation chain."""
    info = store.session.info
    previous = info.get(DEPTH_KEY)
    info[DEPTH_KEY] = depth
    try:
        run = Run(store, obj, row, source, context, _Inline(f"{source}:{key}"))
        run.frozen_values = store.values_of(obj, row)  # local actions do not change the record
        for run.index, action in enumerate(actions):
            EXECUTORS[action["type"]](run, action)
    finally:
        if previous is None:
            info.pop(DEPTH_KEY, None)
        else:
            info[DEPTH_KEY] = previous

