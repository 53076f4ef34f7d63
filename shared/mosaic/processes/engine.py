"""The process engine: records enter stages, move along allowed transitions, and stage timers fire.

A process owns one picklist field of its object. :class:`ProcessStep` (a write-pipeline step)
puts new records in the initial stage and refuses any other change of that field, except the
one :func:`transition` makes. Every entry into a stage — the initial one and every move — leaves a
history row, a ``process.stage_entered`` event, the stage's ``on_enter`` actions (``set_field``
ones inside the very write that moves the record, the others queued as automation jobs) and its
timers (``process_timer`` jobs); all of it in the transaction of the write.

Approvals, history and the approvers' inbox are in :mod:`mosaic.processes.approvals`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mosaic.db import new_id, utcnow
from mosaic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mosaic.events.envelope import make_envelope
from mosaic.filters import evaluate
from mosaic.metadata.fields import ObjectDef
from mosaic.processes.calendar import add_business_days, due_at
from mosaic.processes.definitions import Process, Transition
from mosaic.processes.models import PENDING, REJECTED, ProcessApproval, ProcessTransition
from mosaic.records.pipeline import Step, Write

if TYPE_CHECKING:
    from mosaic.records.store import RecordStore

__all__ = ["ProcessStep", "transition", "transition_system", "move", "enter_stage", "processes_of",
           "process_for", "current_stage", "find_transition", "check_roles", "check_guard",
           "check_comment", "run_timer", "register", "add_business_days", "due_at", "MOVE_NOTE",
           "TIMER_JOB", "STAGE_ENTERED"]

#: ``Write.notes`` key by which the engine lets its own stage change through ProcessStep
MOVE_NOTE = "process_move"
TIMER_JOB = "process_timer"
STAGE_ENTERED = "process.stage_entered"
#: roles that may make any transition (roles lists name who else may)
SUPER_ROLES = frozenset({"admin", "system"})
MAX_COMMENT = 4000


def processes_of(store: "RecordStore", obj: ObjectDef) -> list[Process]:
    """The active processes of ``obj`` in the store's tenant (none for a bare store)."""
    if store.logic is None:
        return []
    return list(store.logic.processes(obj.name))


def process_for(store: "RecordStore", obj: ObjectDef, name: str | None = None) -> Process:
    """The process a transition request is about: ``name``, or the object's only process."""
    procs = processes_of(store, obj)
    if name is not None:
        found = next((p for p in procs if p.name == name), None)
        if found is None:
            raise NotFound(f"{obj.label} has no active process {name!r}")
        return found
    if not procs:
        raise NotFound(f"{obj.label} records follow no process")
    if len(procs) > 1:
        raise ValidationFailed(f"{obj.label} records follow several processes; name one",
                               errors={"process": [f"one of: {', '.join(p.name for p in procs)}"]})
    return procs[0]


def check_comment(comment: Any) -> str | None:
    """The comment of a move or decision: None for none, 422 unless a text of reasonable size."""
    if comment is None or comment == "":
        return None
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise ValidationFailed("Invalid comment.", errors={"comment": [f"must be a text of at most {MAX_COMMENT} characters"]})
    return comment


def current_stage(process: Process, values: dict) -> str:
    """The record's stage; a record from before the process existed (no stage yet) counts as
    being in the initial stage."""
    return values.get(process.field) or process.initial


def check_roles(store: "RecordStore", t: Transition) -> None:
    """Forbidden unless the caller holds one of the transition's roles (none listed: anyone)."""
    roles = set(store.ctx.roles)
    if t.roles and not roles & (set(t.roles) | SUPER_ROLES):
        raise Forbidden(f"the transition {t.name!r} needs one of the roles: {', '.join(t.roles)}")


def check_guard(store: "RecordStore", t: Transition, values: dict) -> None:
    """ValidationFailed with the guard's message unless the guard is true on ``values``
    (unknown, e.g. a guard on an empty field, is not true)."""
    if t.guard is not None and not evaluate(t.guard, values, store.now()):
        raise ValidationFailed(t.guard_message, errors={"guard": [t.guard_message]})


def find_transition(process: Process, stage: str, to: str | None, name: str | None) -> Transition:
    """The transition from ``stage`` matching ``to``/``name``; 422 listing the allowed targets."""
    if to is None and name is None:
        raise ValidationFailed("Say where to move the record.", errors={"to": ["give 'to' or 'transition'"]})
    t = process.find(to=to, name=name, from_=stage)
    if t is None:
        allowed = [f"{x.name} → {x.to}" for x in process.transitions_from(stage)]
        what = f"to {to!r}" if to is not None else f"named {name!r}"
        raise ValidationFailed(f"No transition {what} from stage {stage!r}.",
                               errors={"transition" if to is None else "to":
                                       [f"allowed from {stage!r}: {', '.join(allowed) or 'none'}"]})
    return t


# -- the pipeline step ----------------------------------------------------------------------------

class ProcessStep(Step):
    """Keeps each process's stage field in the process's hands (see the module docstring)."""

    def job_handlers(self) -> dict:
        """Stage timers (``on_timer`` moves and actions of a stage a record stayed in)."""
        return {TIMER_JOB: run_timer}

    def active(self, store: "RecordStore", obj: ObjectDef) -> bool:
        """Whether ``obj`` follows any active process in this tenant."""
        return bool(processes_of(store, obj))

    def before_write(self, store: "RecordStore", w: Write) -> None:
        """Start new records in the initial stage; refuse stage changes not made by a move; put a
        move's ``set_field`` on_enter actions into the moving write."""
        move = w.notes.get(MOVE_NOTE)
        for p in processes_of(store, w.obj):
            if w.is_create:
                self._start(store, w, p)
            elif move and move.get("process") == p.name:
                _apply_inline(store, w, p.stage(move["to"]).inline_actions)
            elif p.field in w.values and w.values[p.field] != (w.before or {}).get(p.field):
                raise ValidationFailed(
                    f"The {p.label} process moves {w.obj.label} records between stages.",
                    errors={p.field: [f"use POST /api/v1/{w.obj.path}/{{id}}/transition"]})

    @staticmethod
    def _start(store: "RecordStore", w: Write, p: Process) -> None:
        value = w.values.get(p.field)
        fd = w.obj.field(p.field)
        # load_create fills in the field's default, which is not the caller asking for a stage.
        if value is not None and value != p.initial and not (fd is not None and value == fd.default):
            raise ValidationFailed(f"New {w.obj.label} records start in stage {p.initial!r}.",
                                   errors={p.field: [f"must be {p.initial!r} (or left out) on create"]})
        w.values[p.field] = p.initial
        _apply_inline(store, w, p.stage(p.initial).inline_actions)

    def after_write(self, store: "RecordStore", w: Write) -> None:
        """Record the entry into the initial stage (create) or the target stage (move)."""
        move = w.notes.get(MOVE_NOTE)
        for p in processes_of(store, w.obj):
            if w.is_create:
                enter_stage(store, p, w, None, None, None, store.ctx.actor)
            elif move and move.get("process") == p.name:
                move["history"] = enter_stage(store, p, w, move["from"], move.get("transition"),
                                              move.get("comment"), move.get("actor") or store.ctx.actor)


def _apply_inline(store: "RecordStore", w: Write, actions: list[dict]) -> None:
    if actions:
        from mosaic.automation.actions import apply_inline

        apply_inline(store, w, actions, store.now())


def enter_stage(store: "RecordStore", p: Process, w: Write, from_stage: str | None,
                transition_name: str | None, comment: str | None, actor: str) -> dict:
    """Everything a record's entry into ``w.after[p.field]`` leaves behind, in the write's
    transaction; returns the history entry (API form)."""
    from mosaic.automation import engine as automation, jobs
    from mosaic.automation.actions import queue_actions

    obj, row, to = w.obj, w.row, w.after[p.field]
    stage = p.stage(to)
    entry = ProcessTransition(id=new_id(), object=obj.name, record_id=row.id, process=p.name,
                              from_stage=from_stage, to_stage=to, transition=transition_name,
                              actor=actor, comment=comment, at=utcnow())
    store.session.add(entry)
    if from_stage is not None:
        _void_pending(store, p, row.id, to)
    data = {"process": p.name, "from": from_stage, "to": to, "transition": transition_name,
            "comment": comment, "record": store.to_api(obj, w.after)}
    event = store.emit_envelope(make_envelope(STAGE_ENTERED, store.session.info["tenant_id"], actor,
                                              obj.name, row.id, data, row.version))
    if stage.queued_actions:
        queue_actions(store, obj, row.id, stage.queued_actions, source="process", row=row,
                      key=f"{p.name}:{entry.id}:enter",
                      context={"process": p.name, "stage": to, "event_id": event["id"]})
    now = store.now()
    for timer in stage.timers:
        jobs.enqueue(store.session, TIMER_JOB, f"{p.name}:{entry.id}:{timer.name}", object=obj.name,
                     record_id=row.id, run_at=due_at(now, timer.after),
                     payload={"process": p.name, "stage": to, "history_id": entry.id, "timer": timer.name})
    automation.fire_stage_entered(store, obj, row, p.name, to, event)
    return entry.to_dict()


def _void_pending(store: "RecordStore", p: Process, record_id: str, stage: str) -> None:
    """A pending approval asked to move the record from where it no longer is: it is moot
    (``process.approval_voided`` tells the approvers' inbox)."""
    from mosaic.processes.approvals import announce_voided

    stmt = select(ProcessApproval).where(ProcessApproval.record_id == str(record_id),
                                         ProcessApproval.process == p.name,
                                         ProcessApproval.status == PENDING)
    for approval in store.session.scalars(stmt):
        if approval.from_stage != stage:
            approval.status, approval.decided_by, approval.decided_at = REJECTED, "system", utcnow()
            approval.decision_comment = f"the record moved to stage {stage!r} meanwhile"
            announce_voided(store, approval)


# -- moving records ---------------------------------------------------------------------------------

def move(store: "RecordStore", obj: ObjectDef, row, p: Process, t: Transition, from_stage: str,
         comment: str | None, actor: str | None = None) -> dict:
    """Move ``row`` along ``t`` (already authorised and guarded): one update of the stage field
    (with the target stage's set_field actions), audit, ``<object>.updated``, then the stage
    entry. Returns the history entry."""
    note = {"process": p.name, "from": from_stage, "to": t.to, "transition": t.name,
            "comment": comment, "actor": actor}
    store.update_values(obj, row, {p.field: t.to}, action="transition", notes={MOVE_NOTE: note})
    if "history" not in note:
        # update_values skips a write that changes nothing; a transition always changes the
        # stage (definitions refuse loops), so this is a definition the checks did not catch.
        raise Conflict(f"{obj.label} {row.id} did not change stage")
    return note["history"]


def transition(store: "RecordStore", obj_name: str, record_id: str, *, to: str | None = None,
               transition: str | None = None, comment: str | None = None,
               expected_version: int | None = None, process: str | None = None) -> dict:
    """Move a record along a transition of its process, as the caller (``POST …/{id}/transition``).

    The caller must be allowed to update the record and hold one of the transition's roles; its
    guard must hold. A transition with an approval becomes a pending approval instead
    (``status: "pending_approval"``, 409 if one is already pending for the record).
    """
    from mosaic.processes.approvals import request_approval

    obj = store.obj(obj_name)
    row = store.load_row(obj, record_id)
    store._check_version(row, expected_version)  # the same If-Match rule as a PATCH
    store.allow(obj, "update", row)
    comment = check_comment(comment)
    p = process_for(store, obj, process)
    values = store.values_of(obj, row)
    stage = current_stage(p, values)
    t = find_transition(p, stage, to, transition)
    check_roles(store, t)
    check_guard(store, t, values)
    if t.approval:
        approval = request_approval(store, obj, row, p, t, stage, comment)
        return {"status": "pending_approval", "approval": approval,
                "record": store.to_api(obj, values)}
    history = move(store, obj, row, p, t, stage, comment)
    return {"status": "moved", "record": store.to_api(obj, store.values_of(obj, row)), "transition": history}


def transition_system(store: "RecordStore", obj: ObjectDef | str, row, to: str,
                      comment: str | None = None, process: str | None = None) -> dict | None:
    """Move ``row`` to stage ``to`` for the platform (automation's ``transition`` action, stage
    timers): no roles or approval, but the move must be a transition of the process from the
    current stage and its guard must hold (else ValidationFailed). Returns the history entry,
    or None when the record already is in ``to``."""
    obj = store.obj(obj) if isinstance(obj, str) else obj
    if isinstance(row, str):
        row = store.load_row(obj, row)
    candidates = [p for p in processes_of(store, obj)
                  if (process is None or p.name == process) and p.stage(to) is not None]
    if not candidates:
        raise ValidationFailed(f"No process of {obj.label} has a stage {to!r}.",
                               errors={"to": ["not a stage of an active process"]})
    values = store.values_of(obj, row)
    p = candidates[0]
    stage = current_stage(p, values)
    if values.get(p.field) == to:
        return None
    t = find_transition(p, stage, to, None)
    check_guard(store, t, values)
    return move(store, obj, row, p, t, stage, check_comment(comment), actor="system")


# -- stage timers -----------------------------------------------------------------------------------

def run_timer(store: "RecordStore", job) -> None:
    """Handler of ``process_timer`` jobs: run a stage timer's actions if the record is still in
    the stage since the entry that scheduled the timer (it has not left, nor left and come back).

    ``set_field`` actions are one automation update, a ``transition`` action moves the record
    (system actor), every other action is queued as an automation job.
    """
    from mosaic.automation.actions import apply_inline, queue_actions

    payload = job.payload
    obj = store.objects.get(job.object)
    p = next((x for x in processes_of(store, obj) if x.name == payload.get("process")), None) if obj else None
    if p is None:
        return  # the object or the process is gone (or inactive): nothing is waiting any more
    try:
        row = store.load_row(obj, job.record_id)
    except NotFound:
        return
    latest = store.session.scalars(
        select(ProcessTransition.id)
        .where(ProcessTransition.record_id == str(row.id), ProcessTransition.process == p.name)
        .order_by(ProcessTransition.at.desc(), ProcessTransition.id.desc()).limit(1)).first()
    values = store.values_of(obj, row)
    if latest != payload.get("history_id") or values.get(p.field) != payload.get("stage"):
        return
    stage = p.stage(payload["stage"])
    timer = next((x for x in stage.timers if x.name == payload.get("timer")), None) if stage else None
    if timer is None:
        return  # the definition changed since the timer was scheduled
    inline = [a for a in timer.actions if a.get("type") == "set_field"]
    if inline:
        w = Write(obj, "automation", values, {})
        apply_inline(store, w, inline, store.now())
        store.update_values(obj, row, w.values, action="automation")
    moves = [a for a in timer.actions if a.get("type") == "transition"]
    rest = [a for a in timer.actions if a.get("type") not in ("set_field", "transition")]
    if rest:
        queue_actions(store, obj, row.id, rest, source="process",
                      key=f"{p.name}:{payload['history_id']}:timer:{timer.name}",
                      context={"process": p.name, "stage": stage.name, "timer": timer.name})
    for action in moves:
        transition_system(store, obj, row, action["to"], comment=f"timer {timer.name!r}", process=p.name)

