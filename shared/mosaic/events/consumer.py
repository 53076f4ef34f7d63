"""Consuming domain events: exactly-once effects on top of at-least-once delivery.

``apply_once`` records the event id and runs the handler in one database transaction, so a
redelivered or replayed event changes nothing twice. ``domain_events`` is the nameko entrypoint
that feeds it from the service's durable queue; the message is acked only after the worker
returns, i.e. after the handler's commit, and requeued if it raised::

    class Analytics:
        name = "analytics"
        db = Database("analytics")

        @domain_events("analytics", "contact.*")
        def on_contact(self, envelope):
            apply_once(self.db.engine, "analytics", envelope, handle_contact)
"""
from __future__ import annotations

import functools
import json
import logging
from datetime import datetime
from typing import Callable

import eventlet
from kombu import Exchange, Queue, binding
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer
from sqlalchemy import String, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from mosaic.db import Base, UTCDateTime, tenant_session, utcnow
from mosaic.entrypoints import ResilientQueueConsumer
from mosaic.errors import ValidationFailed
from mosaic.events.envelope import validate_envelope
from mosaic.events.publishers import DEFAULT_EXCHANGE
from mosaic.telemetry import current_traceparent, span

log = logging.getLogger(__name__)

Handler = Callable[[Session, dict], object]


class ProcessedEvent(Base):
    """An event a consumer has applied. Not tenant-scoped: dedup spans tenants, keyed by id."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


def _record(conn: Connection, consumer: str, envelope: dict) -> bool:
    """Insert the processed row; False if this consumer already has one for the event.

    ON CONFLICT DO NOTHING keeps the transaction usable (an IntegrityError would abort it on
    PostgreSQL) and makes a concurrent duplicate wait for the first one's outcome: if that
    commits, this finds the row; if it rolls back, this one applies the event.
    """
    values = {"consumer": consumer, "event_id": envelope["id"], "tenant_id": envelope["tenant_id"],
              "type": envelope["type"], "processed_at": utcnow()}
    table = ProcessedEvent.__table__
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(table).values(**values).on_conflict_do_nothing(
            index_elements=["consumer", "event_id"])
        return conn.execute(stmt).rowcount == 1
    # Other databases: a savepoint confines the duplicate-key error.
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


def apply_once(engine: Engine, consumer: str, envelope: dict, handler: Handler) -> bool:
    """Apply ``envelope`` with ``handler(session, envelope)`` unless ``consumer`` already did.

    One transaction holds both the processed-event row and everything the handler writes through
    ``session`` (a tenant session for the envelope's tenant): both commit or neither does.
    Returns True if the handler ran and committed, False for a duplicate. A handler exception
    rolls everything back and propagates (the message is then redelivered).
    """
    validate_envelope(envelope)
    with engine.connect() as conn:
        with conn.begin() as transaction:
            if not _record(conn, consumer, envelope):
                transaction.rollback()
                return False
            # Bound to our connection inside our transaction: the session joins it, and a commit
            # the handler might call does not end it early.
            session = tenant_session(conn, envelope["tenant_id"])
            try:
                handler(session, envelope)
                session.flush()
            finally:
                session.close()
    return True


# -- nameko entrypoint -------------------------------------------------------------------------

_CONTEXT_KWARG = "_mosaic_event_context"


def queue_name(service: str) -> str:
    """The durable queue a service's domain-event handlers consume from."""
    return f"mosaic.{service}.events"


class DomainEvents(Consumer):
    """Consumes envelopes from a durable queue bound to the events exchange with ``patterns``.

    Acks after the worker returns and requeues (after ``retry_delay`` seconds, so a failing
    handler does not spin) if it raised. A message that is not an envelope is rejected without
    requeue: it can never succeed (a broker dead-letter policy keeps it for inspection).

    A broker outage loses at most the ack of a handled event: the queue consumer reconnects by
    itself, the broker redelivers, and :func:`apply_once` skips what was already applied.
    """

    queue_consumer = ResilientQueueConsumer()  # an ack on a dead connection must not kill the service

    def __init__(self, service: str, patterns: tuple[str, ...] | Callable[[], tuple[str, ...]],
                 exchange: str = DEFAULT_EXCHANGE, queue: str | None = None, retry_delay: float = 1.0, **kwargs):
        if not patterns:
            raise ValueError("domain_events needs at least one routing key pattern, e.g. 'contact.*'")
        self.service = service
        # A callable is asked when the container starts (the loaded plugins decide, say).
        self._patterns = patterns if callable(patterns) else None
        self.patterns = () if callable(patterns) else tuple(patterns)
        self.retry_delay = retry_delay
        self.exchange_name = exchange
        self.queue_label = queue or queue_name(service)
        super().__init__(self._queue(), requeue_on_error=True, **kwargs)

    def _queue(self) -> Queue:
        events = Exchange(self.exchange_name, type="topic", durable=True)
        # bindings only (no queue-level exchange): kombu would otherwise also bind routing key "".
        return Queue(self.queue_label, durable=True,
                     bindings=[binding(events, routing_key=p) for p in self.patterns])

    def setup(self):
        """Register with the queue consumer, refusing a second entrypoint on the same queue."""
        if self._patterns is not None:
            self.patterns = tuple(self._patterns())
            if not self.patterns:
                raise ValueError(f"{self.method_name}: no routing key pattern to consume")
            self.queue = self._queue()
        # Two entrypoints on one queue would each receive the other's messages (the broker
        # round-robins between consumers of a queue), so refuse that outright.
        for other in self.container.entrypoints:
            if other is not self and isinstance(other, DomainEvents) and other.queue.name == self.queue.name:
                raise ValueError(
                    f"{other.method_name} and {self.method_name} both consume {self.queue.name}: use one "
                    "handler with several patterns, or give one a queue= of its own")
        super().setup()

    def handle_message(self, body, message):
        """Validate the envelope and spawn a worker for it; reject what can never be handled."""
        if isinstance(body, (bytes, str)):
            try:
                body = json.loads(body)
            except ValueError:
                pass
        try:
            envelope = validate_envelope(body)
        except ValidationFailed as exc:
            log.error("rejecting a message on %s that is not an event envelope: %s",
                      self.queue.name, exc.errors or exc.detail)
            try:
                message.reject(requeue=False)
            except Exception as err:  # noqa: BLE001 - connection lost: the broker redelivers it
                log.warning("could not reject the message (broker connection lost): %r", err)
            return
        context_data = self.unpack_message_headers(message)
        context_data["tenant_id"] = envelope["tenant_id"]  # the envelope is the authority
        # The worker's context data travels in kwargs too, so the worker can open its consumer
        # span from it and chain nested RPC calls under that span.
        kwargs = {_CONTEXT_KWARG: context_data}
        handle_result = functools.partial(self.handle_result, message)
        try:
            self.container.spawn_worker(self, (envelope,), kwargs, context_data=context_data,
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_message_processed(self, message, result=None, exc_info=None):
        """Ack after the worker returned; after an error wait ``retry_delay``, then requeue."""
        if exc_info is not None and self.retry_delay:
            eventlet.sleep(self.retry_delay)
        super().handle_message_processed(message, result, exc_info)


def domain_events(service: str, *patterns: str, exchange: str = DEFAULT_EXCHANGE,
                  queue: str | None = None, retry_delay: float = 1.0):
    """Decorate a nameko method as the handler of domain events matching ``patterns``.

    ``service`` names the consuming service (its queue is ``mosaic.<service>.events``);
    ``patterns`` are topic routing keys (``contact.*``, ``#``), or one callable returning them
    when the container starts. The method gets the envelope and
    runs inside a consumer span parented on the message's ``traceparent`` header.
    """

    def decorator(fn):
        @functools.wraps(fn)
        def worker(self, envelope, **kwargs):
            data = kwargs.pop(_CONTEXT_KWARG, None)
            data = data if data is not None else {}
            attributes = {"messaging.system": "rabbitmq", "messaging.message.id": envelope["id"],
                          "messaging.destination.name": exchange, "mosaic.tenant_id": envelope["tenant_id"],
                          "mosaic.consumer": service}
            with span("event consume " + envelope["type"], kind="consumer",
                      traceparent=data.get("traceparent"), attributes=attributes):
                traceparent = current_traceparent()
                if traceparent:
                    data["traceparent"] = traceparent
                return fn(self, envelope, **kwargs)

        wanted = patterns[0] if len(patterns) == 1 and callable(patterns[0]) else patterns
        return DomainEvents.decorator(service, wanted, exchange=exchange, queue=queue,
                                      retry_delay=retry_delay)(worker)

    return decorator
