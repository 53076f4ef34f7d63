"""In-app notifications: what an automation's ``notify`` action leaves for a user or a role.

A notification addressed to a role is one row every member sees; reading it marks it read for
the role as a whole (a shared inbox, like a team queue), which keeps ``notify`` one insert however
large the role is.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import Index, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from mosaic.db import Base, TenantScoped, UTCDateTime, new_id, utcnow
from mosaic.errors import ValidationFailed
from mosaic.records import paging

MAX_PAGE = 200


class Notification(TenantScoped, Base):
    """One message for ``recipient`` (``user:<id>`` or ``role:<name>``) about a record."""

    __tablename__ = "notifications"
    __table_args__ = (
        # A user's inbox, newest first.
        Index("ix_notifications_inbox", "tenant_id", "recipient", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    recipient: Mapped[str] = mapped_column(String(200), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    object: Mapped[str | None] = mapped_column(String(100), nullable=True)
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def recipients_of(user_id: str | None, roles: Iterable[str]) -> list[str]:
    """The recipient names a user reads: their own and each of their roles'."""
    out = [f"role:{r}" for r in roles]
    if user_id:
        out.insert(0, f"user:{user_id}")
    return out


def notify(session: Session, recipient: str, message: str, object: str | None = None,
           record_id: str | None = None, source: str | None = None) -> Notification:
    """Add a notification in ``session``'s transaction (a tenant session). Emits no event."""
    if not recipient.startswith(("user:", "role:")) or len(recipient) <= 5:
        raise ValidationFailed("a recipient is user:<id> or role:<name>", errors={"recipient": ["invalid"]})
    row = Notification(id=new_id(), recipient=recipient[:200], message=message, object=object,
                       record_id=None if record_id is None else str(record_id),
                       source=None if source is None else source[:200], created_at=utcnow())
    session.add(row)
    return row


def notification_out(row: Notification) -> dict:
    """The API form of a notification."""
    return {"id": row.id, "recipient": row.recipient, "message": row.message, "object": row.object,
            "record_id": row.record_id, "source": row.source,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "read_at": row.read_at.isoformat() if row.read_at else None}


def list_for(session: Session, user_id: str | None, roles: Iterable[str], unread_only: bool = False,
             limit: int = 50, cursor: str | None = None) -> dict:
    """A page of the notifications ``user_id`` (with ``roles``) may read, newest first:
    ``{"items": [...], "next_cursor": str | None}``; pass ``next_cursor`` back for the next page."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}",
                               errors={"limit": [f"between 1 and {MAX_PAGE}"]})
    stmt = select(Notification).where(Notification.recipient.in_(recipients_of(user_id, roles)))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if cursor:
        # ids are unique but only millisecond-ordered: the creation time orders, the id breaks ties
        stmt = stmt.where(paging.before_time(Notification.created_at, Notification.id,
                                             paging.read_time_cursor(cursor)))
    order = paging.newest_first(Notification.created_at, Notification.id)
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    items = [notification_out(r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return {"items": items, "next_cursor": paging.time_cursor(last.created_at, last.id) if last else None}


def mark_read(session: Session, user_id: str | None, roles: Iterable[str], ids: Iterable[str],
              now: datetime | None = None) -> int:
    """Mark the notifications ``ids`` read, those this user may read and not read yet; returns
    how many changed. Ids of other users' notifications are ignored, not an error."""
    ids = [str(i) for i in ids]
    if not ids:
        return 0
    result = session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.recipient.in_(recipients_of(user_id, roles)),
               Notification.read_at.is_(None))
        .values(read_at=now or utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount
