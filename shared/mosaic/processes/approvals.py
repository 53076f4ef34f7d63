"""Transitions that wait for an approver, a record's stage history, and the approvers' inbox.

A transition with ``approval`` does not move the record when asked: it files a pending
:class:`~mosaic.processes.models.ProcessApproval` (one per record and process at a time). A user
holding one of the approval's roles, or listed among its users (or an admin), approves it — the
guard is checked again and the record moves — or rejects it. A record that moves on by another
way meanwhile voids its pending approval (see ``engine.enter_stage``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mosaic.db import utcnow
from mosaic.events.envelope import make_envelope
from mosaic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mosaic.metadata.fields import ObjectDef
from mosaic.processes.definitions import Process, Transition
from mosaic.processes.engine import SUPER_ROLES, check_comment, check_guard, current_stage, move, processes_of
from mosaic.processes.models import APPROVAL_STATUSES, APPROVED, PENDING, REJECTED, ProcessApproval, ProcessTransition
from mosaic.records import paging

if TYPE_CHECKING:
    from mosaic.context import RequestContext
    from mosaic.records.store import RecordStore

MAX_PAGE = 200
_SCAN_BATCH = 500


def may_decide(ctx: "RequestContext", approval: dict | None) -> bool:
    """Whether the caller may approve or reject under ``approval`` ({roles, users}); admins may
    always (also when the definition lost its approval since the request was filed)."""
    if SUPER_ROLES & set(ctx.roles):
        return True
    if not approval:
        return False
    return bool(set(ctx.roles) & set(approval.get("roles") or ())) or (
        ctx.user_id is not None and ctx.user_id in (approval.get("users") or ()))


def _rule_of(store: "RecordStore", a: ProcessApproval) -> tuple[Process | None, Transition | None]:
    """The process and transition an approval was filed under, as currently defined."""
    obj = store.objects.get(a.object)
    p = next((x for x in processes_of(store, obj) if x.name == a.process), None) if obj else None
    t = p.find(name=a.transition, from_=a.from_stage) if p else None
    return p, t


def request_approval(store: "RecordStore", obj: ObjectDef, row, p: Process, t: Transition,
                     stage: str, comment: str | None) -> dict:
    """File a pending approval for moving ``row`` along ``t``; Conflict if one is pending."""
    pending = store.session.scalars(select(ProcessApproval.id).where(
        ProcessApproval.record_id == str(row.id), ProcessApproval.process == p.name,
        ProcessApproval.status == PENDING)).first()
    if pending is not None:
        raise Conflict(f"{obj.label} {row.id} already has a transition waiting for approval",
                       approval_id=pending)
    approval = ProcessApproval(object=obj.name, record_id=str(row.id), process=p.name, transition=t.name,
                               from_stage=stage, to_stage=t.to, status=PENDING,
                               requested_by=store.ctx.actor, requested_at=utcnow(), comment=comment)
    try:
        # A savepoint: a concurrent request that won the unique index leaves this transaction usable.
        with store.session.begin_nested():
            store.session.add(approval)
    except IntegrityError:
        raise Conflict(f"{obj.label} {row.id} already has a transition waiting for approval") from None
    out = approval.to_dict()
    title = store.values_of(obj, row).get(obj.title_field) or row.id
    approvers = {"roles": list(t.approval.get("roles") or ()), "users": list(t.approval.get("users") or ())}
    recipients = [f"role:{r}" for r in approvers["roles"]] + [f"user:{u}" for u in approvers["users"]]
    _announce(store, obj, row, "approval_requested", out, recipients,
              f"{obj.label} {title}: {t.name} ({stage} → {t.to}) waits for your approval", approvers)
    return out


def _announce(store: "RecordStore", obj: ObjectDef, row, verb: str, approval: dict, recipients: list[str],
              message: str, approvers: dict | None = None) -> None:
    """``process.<verb>`` for integrators and read models (the hub's approvers' inbox among them:
    the event names the service and, for a request, the approvers ``{roles, users}``), and a
    notification to whoever must act or asked (inside the caller's transaction)."""
    from mosaic.automation.notifications import notify

    data = {"approval": approval, "service": store.module}
    if approvers is not None:
        data["approvers"] = approvers
    store.emit_envelope(make_envelope(f"process.{verb}", store.session.info["tenant_id"], store.ctx.actor,
                                      obj.name, str(row.id), data, row.version))
    for recipient in dict.fromkeys(recipients):
        notify(store.session, recipient, message, obj.name, str(row.id), source=f"process:{approval['process']}",
               actor=store.ctx.actor, service=store.module)


def announce_voided(store: "RecordStore", approval: ProcessApproval) -> None:
    """``process.approval_voided``: a pending approval became moot (the record moved on by another
    way, ``engine.enter_stage``); the hub's inbox drops it from pending."""
    store.emit_envelope(make_envelope("process.approval_voided", store.session.info["tenant_id"], "system",
                                      approval.object, approval.record_id,
                                      {"approval": approval.to_dict(), "service": store.module}, None))


def _pending(store: "RecordStore", obj: ObjectDef, record_id: str, process: str | None) -> ProcessApproval:
    stmt = select(ProcessApproval).where(ProcessApproval.object == obj.name,
                                         ProcessApproval.record_id == str(record_id),
                                         ProcessApproval.status == PENDING)
    if process is not None:
        stmt = stmt.where(ProcessApproval.process == process)
    found = list(store.session.scalars(stmt.limit(2)))
    if not found:
        raise NotFound(f"{obj.label} {record_id} has no transition waiting for approval")
    if len(found) > 1:
        raise ValidationFailed("Several processes wait for an approval of this record; name one.",
                               errors={"process": [f"one of: {', '.join(a.process for a in found)}"]})
    return found[0]


def _decide(store: "RecordStore", obj_name: str, record_id: str, process: str | None, comment):
    obj = store.obj(obj_name)
    store.allow(obj, "read")
    comment = check_comment(comment)
    row = store.load_row(obj, record_id)
    approval = _pending(store, obj, record_id, process)
    p, t = _rule_of(store, approval)
    if not may_decide(store.ctx, t.approval if t else None):
        raise Forbidden("you may not decide this approval")
    return obj, row, approval, p, t, comment


def _record_decision(store: "RecordStore", obj: ObjectDef, row, approval: ProcessApproval, status: str,
                     comment: str | None) -> None:
    approval.status, approval.decided_by, approval.decided_at = status, store.ctx.actor, utcnow()
    approval.decision_comment = comment
    requester = approval.requested_by or ""
    recipients = [requester] if requester.startswith("user:") else []
    title = store.values_of(obj, row).get(obj.title_field) or row.id
    _announce(store, obj, row, "approval_decided", approval.to_dict(), recipients,
              f"{obj.label} {title}: {approval.transition} was {status}"
              + (f" — {comment}" if comment else ""))


def approve(store: "RecordStore", obj_name: str, record_id: str, comment: str | None = None,
            process: str | None = None) -> dict:
    """Approve the record's pending transition and move the record (``POST …/{id}/approve``).

    403 unless the caller holds one of the approval's roles or is one of its users (admins may
    always); 404 if nothing is pending; 422 (approval stays pending) if the guard no longer holds;
    409 if the record is no longer where the request found it or the transition is gone.
    """
    obj, row, approval, p, t, comment = _decide(store, obj_name, record_id, process, comment)
    if p is None or t is None:
        raise Conflict(f"the transition {approval.transition!r} no longer exists; reject the request")
    values = store.values_of(obj, row)
    if current_stage(p, values) != approval.from_stage:
        raise Conflict(f"{obj.label} {record_id} is no longer in stage {approval.from_stage!r}; reject the request")
    check_guard(store, t, values)
    # Decided before the move, whose stage entry voids the record's other pending approvals.
    _record_decision(store, obj, row, approval, APPROVED, comment)
    history = move(store, obj, row, p, t, approval.from_stage, approval.comment or comment)
    return {"status": "moved", "approval": approval.to_dict(), "transition": history,
            "record": store.to_api(obj, store.values_of(obj, row))}


def reject(store: "RecordStore", obj_name: str, record_id: str, comment: str | None = None,
           process: str | None = None) -> dict:
    """Reject the record's pending transition (``POST …/{id}/reject``); the record stays put.
    Same permissions as :func:`approve`; 404 if nothing is pending."""
    obj, row, approval, _p, _t, comment = _decide(store, obj_name, record_id, process, comment)
    _record_decision(store, obj, row, approval, REJECTED, comment)
    store.session.flush()
    return {"status": "rejected", "approval": approval.to_dict(),
            "record": store.to_api(obj, store.values_of(obj, row))}


def history(store: "RecordStore", obj_name: str, record_id: str, limit: int = 100) -> dict:
    """A record's stage entries, newest first (``GET …/{id}/transitions``)."""
    obj = store.obj(obj_name)
    store.allow(obj, "read")
    limit = paging.page_limit(limit, MAX_PAGE)
    row = store.load_row(obj, record_id)
    rows = store.session.scalars(
        select(ProcessTransition).where(ProcessTransition.object == obj.name,
                                        ProcessTransition.record_id == str(row.id))
        .order_by(ProcessTransition.at.desc(), ProcessTransition.id.desc()).limit(limit))
    return {"items": [r.to_dict() for r in rows]}


def approvals(store: "RecordStore", status: str = PENDING, limit: int = 100) -> dict:
    """Approvals with ``status`` the caller may decide, oldest first (the approver's inbox),
    limited to objects the caller may read."""
    if status not in APPROVAL_STATUSES:
        raise ValidationFailed("Unknown approval status.", errors={"status": [f"one of: {', '.join(APPROVAL_STATUSES)}"]})
    limit = paging.page_limit(limit, MAX_PAGE)
    readable: dict[str, bool] = {}
    items: list[dict] = []
    offset = 0
    while len(items) < limit:
        # Who may decide is in the (per-tenant, cached) definitions, not in SQL: filter in batches.
        batch = list(store.session.scalars(
            select(ProcessApproval).where(ProcessApproval.status == status)
            .order_by(ProcessApproval.requested_at, ProcessApproval.id).offset(offset).limit(_SCAN_BATCH)))
        for a in batch:
            if a.object not in readable:
                readable[a.object] = _can_read(store, a.object)
            if readable[a.object] and may_decide(store.ctx, _approval_rule(store, a)):
                items.append(a.to_dict())
                if len(items) == limit:
                    break
        if len(batch) < _SCAN_BATCH:
            break
        offset += _SCAN_BATCH
    return {"items": items}


def _approval_rule(store: "RecordStore", a: ProcessApproval) -> dict | None:
    t = _rule_of(store, a)[1]
    return t.approval if t else None


def _can_read(store: "RecordStore", obj_name: str) -> bool:
    obj = store.objects.get(obj_name)
    if obj is None:
        return False
    try:
        store.allow(obj, "read")
    except Forbidden:
        return False
    return True
