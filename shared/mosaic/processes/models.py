"""Process tables: every record's stage history, and the transitions waiting for an approval.

Both live with the records they describe (each record-hosting service has them), so a move, its
history row and its approval decision commit in one transaction with the record itself.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, TenantScoped, UTCDateTime, new_id, utcnow
from mosaic.metadata.values import format_datetime

PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"
APPROVAL_STATUSES = (PENDING, APPROVED, REJECTED)


class ProcessTransition(TenantScoped, Base):
    """One entry of a record into a stage: the initial one (``from_stage`` null) and every move.

    A stage timer remembers the id of the entry that scheduled it and fires only while that entry
    is still the record's latest one for the process.
    """

    __tablename__ = "process_transitions"
    __table_args__ = (
        Index("ix_process_transitions_record", "tenant_id", "record_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    object: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[str] = mapped_column(String(64), nullable=False)
    process: Mapped[str] = mapped_column(String(64), nullable=False)
    from_stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_stage: Mapped[str] = mapped_column(String(64), nullable=False)
    transition: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        """The API form of this entry."""
        return {"id": self.id, "object": self.object, "record_id": self.record_id,
                "process": self.process, "from": self.from_stage, "to": self.to_stage,
                "transition": self.transition, "actor": self.actor, "comment": self.comment,
                "at": format_datetime(self.at)}


class ProcessApproval(TenantScoped, Base):
    """A transition that waits for an approver's decision; the record stays in ``from_stage``."""

    __tablename__ = "process_approvals"
    __table_args__ = (
        # At most one pending approval per record and process, also between concurrent requests.
        Index("uq_process_approvals_pending", "tenant_id", "record_id", "process", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        # The approvers' inbox: pending approvals, oldest first.
        Index("ix_process_approvals_status", "tenant_id", "status", "requested_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    object: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[str] = mapped_column(String(64), nullable=False)
    process: Mapped[str] = mapped_column(String(64), nullable=False)
    transition: Mapped[str] = mapped_column(String(64), nullable=False)
    from_stage: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_stage: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    requested_by: Mapped[str] = mapped_column(String(128), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(Text, nullable=True)

    def to_dict(self) -> dict[str, Any]:
        """The API form of this approval."""
        return {"id": self.id, "object": self.object, "record_id": self.record_id,
                "process": self.process, "transition": self.transition, "from": self.from_stage,
                "to": self.to_stage, "status": self.status, "requested_by": self.requested_by,
                "requested_at": format_datetime(self.requested_at), "decided_by": self.decided_by,
                "decided_at": None if self.decided_at is None else format_datetime(self.decided_at),
                "comment": self.comment, "decision_comment": self.decision_comment}
