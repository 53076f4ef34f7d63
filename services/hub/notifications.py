"""Users' notifications, owned by the hub.

A producer (an automation rule's ``notify``, an approval's announcement, a reminder) never writes
here: it asks, in its own write's transaction, with a ``platform.notification.requested`` event
through its service's outbox (:func:`mosaic.automation.notifications.request`). The hub applies
that event exactly once (:func:`apply_requested` under ``apply_once``): a rolled-back write
asked for nothing, a redelivered event stores nothing twice (the row's id is the event's id).

A notification addressed to a role is one row every member sees; reading it marks it read for the
role as a whole (a shared inbox, like a team queue).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from mosaic.automation.notifications import REQUESTED, recipients_of
from mosaic.db import system_session, utcnow
from mosaic.errors import ValidationFailed
from mosaic.metadata.values import format_datetime
from mosaic.records import paging
from mosaic_hub.models import HubNotification

__all__ = ["REQUESTED", "MAX_PAGE", "apply_requested", "list_for", "mark_read", "unread_count"]

MAX_PAGE = 200
log = logging.getLogger(__name__)
MAX_MARK = 1000


def _time(text: str | None) -> datetime:
    if not text:
        return utcnow()
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def apply_requested(session: Session, envelope: dict) -> bool:
    """Store the notification a ``platform.notification.requested`` event asks for (a tenant
    session of the event's tenant, inside ``apply_once``'s transaction). A request that is no
    notification (``notify`` checks what it sends, so only a foreign publisher makes one) can never
    be stored: it is logged and dropped (False), not retried forever."""
    data = envelope["data"]
    recipient, message, record_id = data.get("recipient"), data.get("message"), data.get("record_id")
    if not isinstance(recipient, str) or not recipient.startswith(("user:", "role:")) or len(recipient) <= 5 \
            or not isinstance(message, str):
        log.error("hub: dropping notification request %s: recipient %r, message %s", envelope["id"], recipient,
                  "missing" if message is None else type(message).__name__)
        return False
    session.add(HubNotification(
        id=envelope["id"], recipient=recipient[:200], message=message, object=data.get("object"),
        record_id=None if record_id is None else str(record_id),
        source=None if data.get("source") is None else str(data["source"])[:200],
        service=data.get("service"), created_at=_time(envelope.get("occurred_at")), read_at=None))
    return True


def _out(row) -> dict:
    """The API form of a notification (a row of :data:`_COLUMNS`)."""
    return {"id": row.id, "recipient": row.recipient, "message": row.message, "object": row.object,
            "record_id": row.record_id, "source": row.source, "service": row.service,
            "created_at": format_datetime(row.created_at),
            "read_at": None if row.read_at is None else format_datetime(row.read_at)}


_COLUMNS = tuple(HubNotification.__table__.c[name] for name in (
    "id", "recipient", "message", "object", "record_id", "source", "service", "created_at", "read_at"))


def list_for(session: Session, user_id: str | None, roles: Iterable[str], unread_only: bool = False,
             limit: int = 50, cursor: str | None = None) -> dict:
    """A page of the notifications ``user_id`` (with ``roles``) may read, newest first:
    ``{"items": [...], "next_cursor": str | None}``; pass ``next_cursor`` back for the next page.

    A keyset on (created_at, id): stable while notifications arrive, no OFFSET. One index range
    per recipient (the user's, each role's; a handful), each read backwards from the cursor for at
    most a page, then merged: a page costs the same on page 1 and page 1000, however large the
    inbox. (One ``IN`` query would read and sort every row of the inbox after the cursor.)"""
    limit = paging.page_limit(limit, MAX_PAGE)
    after = paging.read_time_cursor(cursor) if cursor else None
    table = HubNotification.__table__
    rows = []
    for recipient in recipients_of(user_id, roles):
        stmt = select(*_COLUMNS).where(table.c.recipient == recipient)
        if unread_only:
            stmt = stmt.where(table.c.read_at.is_(None))
        if after is not None:
            # the plain bound lets the index seek to the cursor; the keyset test breaks ties by id
            stmt = stmt.where(table.c.created_at <= after[0],
                              paging.before_time(table.c.created_at, table.c.id, after))
        stmt = stmt.order_by(*paging.newest_first(table.c.created_at, table.c.id)).limit(limit + 1)
        rows += session.execute(stmt).all()
    # ids are UUID strings of one format: Python orders ties as the database does
    rows = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)[:limit + 1]
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": [_out(r) for r in rows[:limit]],
            "next_cursor": paging.time_cursor(last.created_at, last.id) if last else None}


def unread_count(session: Session, user_id: str | None, roles: Iterable[str]) -> int:
    """How many notifications the user (with ``roles``) has not read."""
    return session.scalar(select(func.count()).select_from(HubNotification).where(
        HubNotification.recipient.in_(recipients_of(user_id, roles)), HubNotification.read_at.is_(None))) or 0


def mark_read(session: Session, user_id: str | None, roles: Iterable[str], ids: Iterable[str],
              now: datetime | None = None) -> int:
    """Mark the notifications ``ids`` read, those this user may read and not read yet; returns how
    many changed. Ids of other users' notifications are ignored, not an error."""
    ids = list(dict.fromkeys(str(i) for i in ids))
    if len(ids) > MAX_MARK:
        raise ValidationFailed(f"at most {MAX_MARK} ids at a time", errors={"ids": [f"at most {MAX_MARK}"]})
    if not ids:
        return 0
    result = session.execute(
        update(HubNotification)
        .where(HubNotification.id.in_(ids), HubNotification.recipient.in_(recipients_of(user_id, roles)),
               HubNotification.read_at.is_(None))
        .values(read_at=now or utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount


def purge_read(engine: Engine, before: datetime) -> int:
    """Delete every tenant's notifications read before ``before`` (unread ones are kept, however
    old); how many went."""
    with system_session(engine) as session:
        gone = session.execute(delete(HubNotification).where(HubNotification.read_at.is_not(None),
                                                             HubNotification.read_at < before)).rowcount
        session.commit()
    return gone or 0
