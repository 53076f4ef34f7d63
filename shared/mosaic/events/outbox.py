"""The transactional outbox: events are rows written in the same transaction as the change.

A change and its event commit together or not at all; the relay (``mosaic.events.relay``) later
publishes unpublished rows in ``seq`` order and stamps ``published_at``. Published rows stay: they
are the service's retained event log (``mosaic.events.log``).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, utcnow
from mosaic.db.batch import defer_insert
from mosaic.events.envelope import validate_envelope


class OutboxEvent(TenantScoped, Base):
    """One event waiting for (or done with) publication. ``payload`` is the full envelope."""

    __tablename__ = "outbox"

    # BIGINT identity on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    type: Mapped[str] = mapped_column(String(200), nullable=False)
    object: Mapped[str] = mapped_column(String(100), nullable=False)
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict] = mapped_column(JSONType, nullable=False)
    traceparent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        # The relay's hot query: a small index over the backlog only, not the whole retained log.
        Index("ix_outbox_unpublished", "seq",
              postgresql_where=text("published_at IS NULL"),
              sqlite_where=text("published_at IS NULL")),
        # Replay filtered by type walks the log in seq order.
        Index("ix_outbox_type_seq", "type", "seq"),
    )

    def envelope(self) -> dict:
        """The published envelope plus its position in the log."""
        return {**self.payload, "seq": self.seq}




def _row(envelope: dict, traceparent: str | None, validated: bool = False) -> dict:
    if not validated:
        validate_envelope(envelope)
    return {"id": envelope["id"], "tenant_id": envelope["tenant_id"], "type": envelope["type"],
            "object": envelope["object"], "record_id": envelope.get("record_id"), "payload": envelope,
            "traceparent": traceparent, "created_at": utcnow()}


def emit(session: Session, envelope: dict, traceparent: str | None = None) -> OutboxEvent:
    """Add ``envelope`` to the outbox in ``session``'s transaction; the caller commits.

    Works in a tenant session (the row is stamped with, and checked against, the session's tenant)
    or a system session. ``traceparent`` links the later publish span to the change's trace.
    """
    row = OutboxEvent(**_row(envelope, traceparent))
    session.add(row)
    return row


def write_event(session: Session, envelope: dict, traceparent: str | None = None, *,
                validated: bool = False) -> None:
    """:func:`emit` as one INSERT that rides with the transaction's next statement
    (:mod:`mosaic.db.batch`; the record engine's path: an outbox row is append-only, and the ORM's
    unit of work adds nothing but its cost). Queued statements run in order, so events written
    this way still take their ``seq`` in the order they are written. ``validated``: the caller
    has the envelope straight from :func:`~mosaic.events.envelope.make_envelope`, which checked it."""
    defer_insert(session, OutboxEvent.__table__, _row(envelope, traceparent, validated))
