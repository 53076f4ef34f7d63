"""The relay: moves outbox rows to the broker, at least once, in ``seq`` order.

Each round claims a batch of unpublished rows, publishes them all, waits for the broker's confirms
of the batch, stamps ``published_at`` on the confirmed rows and commits. On PostgreSQL the next
batch is claimed and sent while the broker still confirms the previous one (:meth:`Relay.drain`). A crash anywhere before the commit leaves the rows unpublished, so
the next round publishes them again: consumers deduplicate on the event id
(``mosaic.events.consumer.apply_once``). Several relays may run side by side: on PostgreSQL each
claims rows with ``FOR UPDATE SKIP LOCKED``, so no row is published by two relays at once; on
SQLite a relay takes the database's write lock before it reads, so relays take turns.

With one relay, events leave in commit-then-seq order. With several, two batches may be in flight
at once, so a consumer must not assume global order; the envelope's ``version`` orders the events
of one record.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import false, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from mosaic.db import system_session, utcnow
from mosaic.events.outbox import OutboxEvent
from mosaic.events.publishers import PendingBatch, PublishError, Publisher

log = logging.getLogger(__name__)


@dataclass
class _Flight:
    """A claimed batch on its way: its open transaction, its rows, the publisher's handle."""

    session: Session
    rows: list
    pending: PendingBatch


class Relay:
    """``Relay(engine, publisher).run_forever(stop_event)`` in a thread, green thread or process."""

    def __init__(self, engine: Engine, publisher: Publisher, batch: int = 500, interval: float = 0.2,
                 max_backoff: float = 10.0):
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.engine = engine
        self.publisher = publisher
        self.batch = batch
        self.interval = interval
        self.max_backoff = max_backoff
        self._stop_event = threading.Event()  # green under eventlet's monkey patching

    # -- one round -----------------------------------------------------------------------------

    def _claim(self, session: Session) -> list:
        """Lock and read the next batch: rows with ``seq``, ``payload`` and ``traceparent``."""
        # Plain rows, not ORM instances: the relay only reads them, and a batch is hundreds.
        stmt = (select(OutboxEvent.seq, OutboxEvent.payload, OutboxEvent.traceparent)
                .where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.seq).limit(self.batch))
        if self.engine.dialect.name == "postgresql":
            # Rows another relay holds are skipped, not waited for: relays share the backlog.
            stmt = stmt.with_for_update(skip_locked=True)
        elif self.engine.dialect.name == "sqlite":
            # A write statement (even one matching nothing) takes SQLite's write lock now, so a
            # second relay on the same file waits here instead of reading the same rows.
            session.execute(update(OutboxEvent.__table__).where(false()).values(published_at=None))
        return session.execute(stmt).all()

    def _mark_published(self, session: Session, rows: list) -> None:
        """Stamp ``rows`` as published (in the claiming transaction)."""
        if not rows:
            return
        table = OutboxEvent.__table__
        session.execute(update(table).where(table.c.seq.in_([r.seq for r in rows]))
                        .values(published_at=utcnow()))

    def _launch(self) -> _Flight | None:
        """Claim the next batch and send it; None if there is nothing to relay."""
        # Closing the session rolls back whatever was not committed: a crash or an error before
        # the commit leaves every claimed row unpublished and releases its lock.
        session = system_session(self.engine)
        try:
            rows = self._claim(session)
            if not rows:
                session.close()
                return None
            pending = self.publisher.send([r.payload for r in rows], [r.traceparent for r in rows])
        except BaseException:
            session.close()
            raise
        return _Flight(session, rows, pending)

    def _land(self, flight: _Flight) -> int:
        """Wait for the broker's confirms of ``flight``, stamp the confirmed rows and commit."""
        session, rows = flight.session, flight.rows
        try:
            try:
                self.publisher.wait(flight.pending)
            except PublishError as exc:
                log.warning("event relay: the broker confirmed %d of %d events, then failed: %s",
                            exc.published, len(rows), exc)
                self._mark_published(session, [rows[i] for i in exc.confirmed])
                session.commit()
                raise
            self._mark_published(session, rows)
            session.commit()
            return len(rows)
        finally:
            session.close()

    def _land_quietly(self, flight: _Flight) -> None:
        """Land ``flight`` while another error is on its way out; its own failure is only logged."""
        try:
            self._land(flight)
        except Exception:  # noqa: BLE001 - the first error is the one raised
            log.info("event relay: a batch in flight failed too", exc_info=True)

    def run_once(self) -> int:
        """Publish up to ``batch`` unpublished rows; return how many were published.

        The publisher sends the whole batch, then waits for the broker's confirms of it. If that
        fails part way (a nack, a lost connection), exactly the rows the broker confirmed are still
        marked (so they are not sent twice), the rest stay unpublished for the next round, and the
        error is raised.
        """
        flight = self._launch()
        return 0 if flight is None else self._land(flight)

    def drain(self) -> int:
        """Relay the backlog until a batch comes back short; return how many were published.

        On PostgreSQL two batches overlap: batch k+1 is claimed (its claim skips batch k's rows,
        still locked) and sent while the broker is still confirming batch k, so the database, the
        broker and the relay work at the same time. They go out on one channel, k before k+1. On
        SQLite, which has one writer, batches take turns. Errors are those of :meth:`run_once`;
        an error in one batch still lands the other (its confirmed rows are marked).
        """
        if self.engine.dialect.name != "postgresql":
            total = 0
            while (count := self.run_once()):
                total += count
                if count < self.batch or self._stop_event.is_set():
                    break
            return total
        total = 0
        current = self._launch()
        while current is not None:
            try:
                following = (self._launch() if len(current.rows) >= self.batch
                             and not self._stop_event.is_set() else None)
            except BaseException:
                self._land_quietly(current)
                raise
            try:
                total += self._land(current)
            except BaseException:
                if following is not None:
                    self._land_quietly(following)
                raise
            current = following
        return total

    # -- the loop ------------------------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event | None = None) -> None:
        """Relay until ``stop_event`` (or :meth:`stop`) is set.

        A full batch is followed at once by the next (:meth:`drain`); an empty outbox is polled
        every ``interval`` seconds; an error backs off exponentially up to ``max_backoff``.
        """
        if stop_event is not None:
            self._stop_event = stop_event
        stop = self._stop_event
        backoff = 0.0
        try:
            while not stop.is_set():
                try:
                    self.drain()
                except Exception:  # noqa: BLE001 - a relay must outlive broker and database outages
                    backoff = min(self.max_backoff, max(0.5, backoff * 2))
                    log.exception("event relay round failed; retrying in %.1fs", backoff)
                    stop.wait(backoff)
                    continue
                backoff = 0.0
                self.publisher.keepalive()
                stop.wait(self.interval)
        finally:
            self.publisher.close()

    def stop(self) -> None:
        """Ask :meth:`run_forever` to return after its current round."""
        self._stop_event.set()
