"""The hub's own tables: users' notifications and the approvers' inbox index.

Both are filled from events (``mosaic_hub.notifications``, ``mosaic_hub.approvals``), never by
another service's RPC, so a producer's rolled-back write leaves nothing here.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, TenantScoped, UTCDateTime, utcnow
from mosaic.db.base import JSONType


class HubNotification(TenantScoped, Base):
    """One message for ``recipient`` (``user:<id>`` or ``role:<name>``) about a record.

    Its id is the id of the ``platform.notification.requested`` event that asked for it, so a
    redelivered event can never make a second row. A role-addressed row is one row every member
    sees; reading it marks it read for the role (a shared inbox, like a team queue).
    """

    __tablename__ = "hub_notifications"
    __table_args__ = (
        # A user's inbox (their own recipient and their roles'), newest first, keyset-paged.
        Index("ix_hub_notifications_inbox", "tenant_id", "recipient", "created_at", "id"),
        # The unread count.
        Index("ix_hub_notifications_unread", "tenant_id", "recipient", "read_at"),
        # The hourly purge of notifications read long ago, every tenant's.
        Index("ix_hub_notifications_read_at", "read_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    object: Mapped[str | None] = mapped_column(String(100), nullable=True)
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the service whose write asked for it (where ``object`` lives)
    service: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HubApproval(TenantScoped, Base):
    """The inbox's copy of one approval a service filed (``process.approval_*`` events).

    The record's service keeps deciding; this row says who may decide (``approver_roles`` and
    ``approver_users`` as the transition defined them when the request was filed) and where the
    approval stands, so the inbox pages from one table. ``event_at`` is the time of the newest
    event applied: an older event arriving late changes nothing.
    """

    __tablename__ = "hub_approvals"
    __table_args__ = (
        # The inbox: one status, oldest request first, keyset-paged.
        Index("ix_hub_approvals_inbox", "tenant_id", "status", "requested_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service: Mapped[str] = mapped_column(String(64), nullable=False)
    object: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[str] = mapped_column(String(64), nullable=False)
    process: Mapped[str] = mapped_column(String(64), nullable=False)
    transition: Mapped[str] = mapped_column(String(64), nullable=False)
    from_stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_stage: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    approver_roles: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    approver_users: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    requested_by: Mapped[str] = mapped_column(String(128), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    event_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class HubApprover(TenantScoped, Base):
    """Who may decide an approval, one row per ``role:<name>`` or ``user:<id>``: the inbox asks
    "any of the caller's recipients among the approval's" in SQL, on both databases."""

    __tablename__ = "hub_approval_approvers"
    __table_args__ = (Index("ix_hub_approval_approvers_approver", "tenant_id", "approver", "approval_id"),)

    approval_id: Mapped[str] = mapped_column(String(36), ForeignKey("hub_approvals.id", ondelete="CASCADE"),
                                             primary_key=True)
    approver: Mapped[str] = mapped_column(String(200), primary_key=True)
