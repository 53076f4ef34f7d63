"""The audit log: who changed which fields of which record, when, from what to what."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, new_id, utcnow
from mosaic.db.batch import defer_insert
from mosaic.metadata.values import format_datetime, json_safe
from mosaic.records import paging

ACTIONS = frozenset({"create", "update", "delete", "merge", "import", "transition", "automation"})
#: fields the platform moves on every write; listing them would make every update look alike
#: and no update empty.
IGNORED_FIELDS = frozenset({"version", "updated_at"})
MAX_PAGE = 200


class AuditEntry(TenantScoped, Base):
    """One change of one record. ``changes`` is ``{field: [old, new]}`` in JSON-safe values."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_record", "tenant_id", "object", "record_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    object: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changes: Mapped[dict] = mapped_column(JSONType, default=dict)

    def to_dict(self) -> dict[str, Any]:
        """The API form of this entry."""
        return {"id": self.id, "object": self.object, "record_id": self.record_id,
                "action": self.action, "actor": self.actor, "at": format_datetime(self.at),
                "changes": self.changes}




def diff(before: dict | None, after: dict | None,
         ignore: frozenset[str] = IGNORED_FIELDS) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose JSON-safe value differs; a field missing on
    one side counts as null there (so a create lists the fields set, a delete those cleared)."""
    before = json_safe(dict(before or {}))
    after = json_safe(dict(after or {}))
    changes = {}
    for key in sorted(set(before) | set(after)):
        if key in ignore:
            continue
        old, new = before.get(key), after.get(key)
        if old != new:
            changes[key] = [old, new]
    return changes


def _entry(ctx_actor: str, object: str, record_id: str, action: str, before: dict | None,
           after: dict | None) -> dict | None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    changes = diff(before, after)
    if action == "update" and not changes:
        return None
    return {"object": object, "record_id": str(record_id), "action": action, "actor": ctx_actor or "system",
            "at": utcnow(), "changes": changes}


def record_change(session: Session, ctx_actor: str, object: str, record_id: str, action: str,
                  before: dict | None, after: dict | None) -> AuditEntry | None:
    """Add an audit entry for a change of a record in the caller's transaction.

    Returns None, writing nothing, for an update that changed no field.
    """
    values = _entry(ctx_actor, object, record_id, action, before, after)
    if values is None:
        return None
    entry = AuditEntry(**values)
    session.add(entry)
    return entry


def write_change(session: Session, ctx_actor: str, object: str, record_id: str, action: str,
                 before: dict | None, after: dict | None) -> str | None:
    """:func:`record_change` as one INSERT that rides with the transaction's next statement
    (:mod:`mosaic.db.batch`; the record engine's path: nothing reads the entry back in the write's
    transaction, and the ORM's unit of work would add nothing to an append-only row but its cost).
    Returns the entry's id, or None for an update that changed no field."""
    values = _entry(ctx_actor, object, record_id, action, before, after)
    if values is None:
        return None
    values["id"] = new_id()
    values["tenant_id"] = session.info.get("tenant_id")
    defer_insert(session, AuditEntry.__table__, values)
    return values["id"]


def history(session: Session, object: str, record_id: str, cursor: str | None = None,
            limit: int = 50) -> dict[str, Any]:
    """A record's changes, newest first: ``{"items": [...], "next_cursor": str | None}``.

    Keyset pagination on (at, id): a page never repeats or skips an entry, whatever is written
    meanwhile.
    """
    limit = max(1, min(int(limit), MAX_PAGE))
    stmt = select(AuditEntry).where(AuditEntry.object == object,
                                    AuditEntry.record_id == str(record_id))
    if cursor:
        stmt = stmt.where(paging.before_time(AuditEntry.at, AuditEntry.id, paging.read_time_cursor(cursor)))
    rows = session.scalars(stmt.order_by(*paging.newest_first(AuditEntry.at, AuditEntry.id))
                           .limit(limit + 1)).all()
    items = rows[:limit]
    next_cursor = paging.time_cursor(items[-1].at, items[-1].id) if len(rows) > limit else None
    return {"items": [e.to_dict() for e in items], "next_cursor": next_cursor}
