"""The retained event log: a service's published events, read in ``seq`` order from a cursor.

Read models (analytics first) rebuild themselves by replaying it: start at cursor 0, apply each
page with ``apply_once``, pass ``next_cursor`` back until a page comes back empty.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mosaic.errors import BadRequest
from mosaic.events.envelope import INTERNAL_PREFIX
from mosaic.events.outbox import OutboxEvent

MAX_LIMIT = 5000


def events_since(session: Session, after_seq: int = 0, limit: int = 500,
                 types: list[str] | None = None) -> dict:
    """Published events with ``seq > after_seq``, oldest first, at most ``limit``.

    Returns ``{"items": [envelope + "seq"], "next_cursor": seq of the last item (after_seq when
    there is none)}``. A system session reads every tenant's events; a tenant session only its
    own. ``types`` keeps only those event types. Platform-internal events (``platform.*``,
    :func:`mosaic.events.envelope.is_internal`) are not domain events: never listed.

    The page stops before the oldest event still waiting for the relay: an event with a lower seq
    can be published after one with a higher seq (a slower transaction, a second relay), and a
    cursor that had moved past it would never see it.
    """
    if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
        raise BadRequest("after_seq must be a non-negative integer")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")

    stmt = (select(OutboxEvent)
            .where(OutboxEvent.seq > after_seq, OutboxEvent.published_at.is_not(None),
                   ~OutboxEvent.type.startswith(INTERNAL_PREFIX, autoescape=True))
            .order_by(OutboxEvent.seq).limit(limit))
    if types is not None:
        stmt = stmt.where(OutboxEvent.type.in_(list(types)))
    pending = session.scalar(select(func.min(OutboxEvent.seq))
                             .where(OutboxEvent.seq > after_seq, OutboxEvent.published_at.is_(None)))
    if pending is not None:
        stmt = stmt.where(OutboxEvent.seq < pending)

    items = [row.envelope() for row in session.scalars(stmt)]
    return {"items": items, "next_cursor": items[-1]["seq"] if items else after_seq}
