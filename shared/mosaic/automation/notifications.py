"""In-app notifications: what an automation's ``notify`` action, an approval's announcement or a
reminder leaves for a user or a role — owned by the hub (``services/hub``).

A producer never writes a notification itself: :func:`notify` writes a platform-internal event,
``platform.notification.requested`` (:data:`REQUESTED`), through the service's outbox in the
producer's own transaction. The hub consumes it exactly once and stores the row (its id is the
event's id). So a notification is never lost (the outbox is relayed until the broker confirms)
and never made for a write that rolled back (the event rolls back with it). The ``platform.``
type namespace keeps it from webhook subscribers, analytics and plugins
(:func:`mosaic.events.envelope.is_internal`).

A notification addressed to a role is one row every member sees; reading it marks it read for the
role as a whole (a shared inbox, like a team queue), which keeps ``notify`` one event however
large the role is.

:class:`Notification` is the table where services kept notifications before the hub owned them;
``mosaic hub adopt`` copies what is left there into the hub (docs/hub.md).
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from mosaic.db import Base, TenantScoped, UTCDateTime, new_id, utcnow
from mosaic.errors import ValidationFailed
from mosaic.events.envelope import INTERNAL_PREFIX, make_envelope
from mosaic.events.outbox import emit

#: the event a producer writes to ask the hub for a notification
REQUESTED = f"{INTERNAL_PREFIX}notification.requested"


class Notification(TenantScoped, Base):
    """A notification a service stored itself before the hub owned them (read only by ``mosaic
    hub adopt``; nothing writes here any more)."""

    __tablename__ = "notifications"
    __table_args__ = (
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


def check_recipient(recipient) -> str:
    """``recipient`` if it is ``user:<id>`` or ``role:<name>``; ValidationFailed otherwise."""
    if not isinstance(recipient, str) or not recipient.startswith(("user:", "role:")) or len(recipient) <= 5:
        raise ValidationFailed("a recipient is user:<id> or role:<name>", errors={"recipient": ["invalid"]})
    return recipient[:200]


def notify(session: Session, recipient: str, message: str, object: str | None = None,
           record_id: str | None = None, source: str | None = None, *, actor: str = "system",
           service: str | None = None) -> dict:
    """Ask the hub for a notification, in ``session``'s transaction (a tenant session): writes a
    ``platform.notification.requested`` event to the outbox and returns it. The notification's id
    is the event's id; it appears in the hub's inbox once the event is relayed and applied.

    ``service`` names the service the record (``object``, ``record_id``) lives in."""
    data = {"recipient": check_recipient(recipient), "message": str(message), "object": object,
            "record_id": None if record_id is None else str(record_id),
            "source": None if source is None else str(source)[:200], "service": service}
    envelope = make_envelope(REQUESTED, session.info["tenant_id"], actor or "system", "notification",
                             None, data, None)
    emit(session, envelope)
    return envelope


def requested(session: Session) -> list[dict]:
    """The notifications asked for in ``session``'s outbox (not yet relayed, or kept in the event
    log), oldest first: ``{"id", "recipient", "message", "object", "record_id", "source",
    "service"}`` each. What a service's tests and operators read; the hub holds the inbox."""
    from sqlalchemy import select

    from mosaic.events.outbox import OutboxEvent

    rows = session.scalars(select(OutboxEvent).where(OutboxEvent.type == REQUESTED).order_by(OutboxEvent.seq))
    return [{"id": row.id, **row.payload["data"]} for row in rows]
