"""The approvers' inbox, paged from one place.

The record's service keeps deciding (process state, ``POST …/{id}/approve|reject``); the hub keeps
an index of every approval, fed by the events the service emits in the same transactions:
``process.approval_requested`` (with the approvers, ``{"roles", "users"}``, as the transition
defined them), ``process.approval_decided`` and ``process.approval_voided`` (the record moved on
by another way). :func:`list_for` pages it with the rule of
:func:`mosaic.processes.approvals.may_decide`: admins see every approval, others those whose roles
they hold or whose users they are.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.orm import Session

from mosaic.automation.notifications import recipients_of
from mosaic.errors import ValidationFailed
from mosaic.metadata.values import format_datetime
from mosaic.processes.engine import SUPER_ROLES
from mosaic.processes.models import APPROVAL_STATUSES, PENDING
from mosaic.records import paging
from mosaic_hub.models import HubApproval, HubApprover

if TYPE_CHECKING:
    from mosaic.context import RequestContext

REQUESTED, DECIDED, VOIDED = "process.approval_requested", "process.approval_decided", "process.approval_voided"
EVENT_TYPES = (REQUESTED, DECIDED, VOIDED)
MAX_PAGE = 200
log = logging.getLogger(__name__)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def apply_event(session: Session, envelope: dict) -> bool:
    """Bring the inbox's copy of the event's approval up to date (inside ``apply_once``). An event
    older than the newest one applied to that approval changes nothing (events of one approval may
    arrive out of order when two relays race). An event that carries no approval can never be
    applied: it is logged and dropped (False), not retried forever."""
    approval = envelope["data"].get("approval")
    try:
        if not isinstance(approval, dict) or not approval.get("id"):
            raise KeyError("approval")
        _apply(session, envelope, approval)
    except (KeyError, TypeError, ValueError) as exc:
        log.error("hub: dropping %s %s, not an approval event (%r)", envelope["type"], envelope["id"], exc)
        return False
    return True


def _apply(session: Session, envelope: dict, approval: dict) -> None:
    data = envelope["data"]
    at = _time(envelope["occurred_at"])
    # every value read before the session is touched: a malformed event changes nothing
    values = {"object": approval.get("object") or envelope["object"],
              "record_id": str(approval.get("record_id") or envelope["record_id"]),
              "process": str(approval["process"]), "transition": str(approval["transition"]),
              "from_stage": approval.get("from"), "to_stage": str(approval["to"]), "status": str(approval["status"]),
              "requested_by": str(approval["requested_by"]), "requested_at": _time(approval["requested_at"]),
              "decided_by": approval.get("decided_by"), "decided_at": _time(approval.get("decided_at")),
              "comment": approval.get("comment"), "decision_comment": approval.get("decision_comment"),
              "event_at": at}
    if values["requested_at"] is None:
        raise ValueError("requested_at")
    approvers = data.get("approvers")
    row = session.get(HubApproval, str(approval["id"]))
    if row is not None and (row.event_at > at or (row.status != PENDING and values["status"] == PENDING)):
        # late: the approval moved on already; only the approvers a late request names are news
        if isinstance(approvers, dict) and not (row.approver_roles or row.approver_users):
            _set_approvers(session, row, approvers)
        return
    if row is None:
        row = HubApproval(id=str(approval["id"]), service="", approver_roles=[], approver_users=[])
        session.add(row)
    row.service = str(data.get("service") or row.service or "")
    for key, value in values.items():
        setattr(row, key, value)
    if isinstance(approvers, dict):
        _set_approvers(session, row, approvers)


def _set_approvers(session: Session, row: HubApproval, approvers: dict) -> None:
    roles = [str(r) for r in approvers.get("roles") or ()]
    users = [str(u) for u in approvers.get("users") or ()]
    row.approver_roles, row.approver_users = roles, users
    session.flush()
    session.execute(delete(HubApprover).where(HubApprover.approval_id == row.id))
    names = dict.fromkeys([f"role:{r}" for r in roles] + [f"user:{u}" for u in users])
    session.add_all(HubApprover(approval_id=row.id, approver=name[:200]) for name in names)


def _out(row: HubApproval) -> dict:
    """The API form of an approval (as the record's service shows it, plus its approvers)."""
    iso = lambda t: None if t is None else format_datetime(t)  # noqa: E731
    return {"id": row.id, "service": row.service, "object": row.object, "record_id": row.record_id,
            "process": row.process, "transition": row.transition, "from": row.from_stage, "to": row.to_stage,
            "status": row.status, "requested_by": row.requested_by, "requested_at": iso(row.requested_at),
            "decided_by": row.decided_by, "decided_at": iso(row.decided_at), "comment": row.comment,
            "decision_comment": row.decision_comment,
            "approvers": {"roles": list(row.approver_roles or ()), "users": list(row.approver_users or ())}}


def list_for(session: Session, ctx: "RequestContext", status: str = PENDING, limit: int = 100,
             cursor: str | None = None, objects: list[str] | None = None) -> dict:
    """Approvals with ``status`` the caller may decide, oldest request first (the approver's
    inbox): ``{"items", "next_cursor"}``. ``objects``, when given, limits them to those objects
    (the ones the caller may read)."""
    if status not in APPROVAL_STATUSES:
        raise ValidationFailed("Unknown approval status.",
                               errors={"status": [f"one of: {', '.join(APPROVAL_STATUSES)}"]})
    limit = paging.page_limit(limit, MAX_PAGE)
    stmt = select(HubApproval).where(HubApproval.status == status)
    if not SUPER_ROLES & set(ctx.roles):
        mine = recipients_of(ctx.user_id, ctx.roles)
        stmt = stmt.where(exists().where(HubApprover.approval_id == HubApproval.id,
                                         HubApprover.approver.in_(mine)))
    if objects is not None:
        stmt = stmt.where(HubApproval.object.in_(objects))
    if cursor:
        at, key = paging.read_time_cursor(cursor)
        stmt = stmt.where(HubApproval.requested_at >= at,  # lets the index seek to the cursor
                          or_(HubApproval.requested_at > at, and_(HubApproval.requested_at == at, HubApproval.id > key)))
    rows = list(session.scalars(stmt.order_by(HubApproval.requested_at, HubApproval.id).limit(limit + 1)))
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": [_out(r) for r in rows[:limit]],
            "next_cursor": paging.time_cursor(last.requested_at, last.id) if last else None}
