"""Publishers that put envelopes on the events topic exchange and wait for the broker to confirm.

:class:`~mosaic.events.rabbitmq.PikaPublisher` talks to RabbitMQ (distributed mode): it sends a
whole batch, then waits for the broker's publisher confirms of the batch. :class:`KombuPublisher` goes through kombu, whose
``memory://`` transport is the embedded mode's in-process broker, one message at a time. Both send
the same body (``encode_body``) and the same properties (:func:`message_properties`), and both
publish each envelope inside a producer span whose trace context travels in the ``traceparent``
header. Use :func:`make_publisher` to get the right one.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from typing import Iterable, Iterator, Sequence

from kombu import Connection, Exchange, Producer

from mosaic.events.confirms import ConfirmTracker
from mosaic.events.envelope import encode_body
from mosaic.telemetry import inject_headers, span

log = logging.getLogger(__name__)

DEFAULT_EXCHANGE = "mosaic.events"
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"


class PublishError(RuntimeError):
    """Publishing a batch failed. ``confirmed`` lists the indexes (ascending) of the envelopes the
    broker confirmed before or despite the failure; every other envelope of the batch may or may
    not have reached a queue and must be published again. ``published`` is how many were confirmed."""

    def __init__(self, message: str, published: int = 0, confirmed: Sequence[int] | None = None):
        super().__init__(message)
        self.confirmed = list(confirmed) if confirmed is not None else list(range(published))

    @property
    def published(self) -> int:
        """How many envelopes of the batch the broker confirmed."""
        return len(self.confirmed)


@dataclass(eq=False)
class PendingBatch:
    """A batch on its way to the broker: what :meth:`Publisher.send` returns and
    :meth:`Publisher.wait` settles."""

    ids: list[str]
    tracker: ConfirmTracker | None = None
    connection: object = None
    error: PublishError | None = field(default=None, repr=False)


def message_properties(envelope: dict) -> dict:
    """Message properties of an envelope, shared by every publisher. ``message_id`` is the event
    id, so consumers and tests can deduplicate on it without parsing the body."""
    return {
        "message_id": envelope["id"],
        "content_type": CONTENT_TYPE,
        "content_encoding": CONTENT_ENCODING,
        "headers": {"tenant_id": envelope["tenant_id"], "event_type": envelope["type"]},
    }


@contextmanager
def producer_span(exchange: str, envelope: dict, traceparent: str | None) -> Iterator[dict]:
    """Open the producer span of one envelope (a child of ``traceparent``) and yield its message
    properties, whose headers carry the span's own trace context."""
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": exchange,
        "messaging.rabbitmq.destination.routing_key": envelope["type"],
        "messaging.message.id": envelope["id"],
        "mosaic.tenant_id": envelope["tenant_id"],
    }
    with span("event publish " + envelope["type"], kind="producer", traceparent=traceparent,
              attributes=attributes):
        props = message_properties(envelope)
        inject_headers(props["headers"])
        yield props


class Publisher:
    """Base: publishes a batch one envelope at a time, each confirmed, each in its own span."""

    exchange: str

    def publish(self, envelopes: Sequence[dict], traceparents: Iterable[str | None] | None = None) -> None:
        """Publish ``envelopes`` in order, routing key = event type; return once all are confirmed.

        ``traceparents`` (one per envelope, e.g. the outbox rows') parent each producer span.
        Raises :class:`PublishError` (saying which were confirmed) on a nack or a broker error;
        the next call reconnects. An unroutable message (no queue bound yet) is not an error: the
        retained log lets a late consumer replay it.
        """
        done = 0
        for envelope, traceparent in zip(envelopes, traceparents if traceparents is not None else repeat(None)):
            try:
                with producer_span(self.exchange, envelope, traceparent) as props:
                    self._send(envelope["type"], encode_body(envelope), props)
            except PublishError as exc:
                raise PublishError(str(exc), done) from exc
            except Exception as exc:
                self._reset()
                raise PublishError(f"publishing {envelope['id']} failed: {exc!r}", done) from exc
            done += 1

    def send(self, envelopes: Sequence[dict], traceparents: Iterable[str | None] | None = None) -> PendingBatch:
        """Start publishing ``envelopes``; :meth:`wait` on the result returns once the broker has
        confirmed them (or raises :class:`PublishError`). Between the two the caller may do other
        work - the relay claims its next batch. Here (one envelope at a time) the work is done
        at once and ``wait`` only reports it."""
        batch = PendingBatch([e["id"] for e in envelopes])
        try:
            self.publish(envelopes, traceparents)
        except PublishError as exc:
            batch.error = exc
        return batch

    def wait(self, batch: PendingBatch) -> None:
        """Return once every envelope of ``batch`` is confirmed; raise :class:`PublishError`
        (naming the confirmed ones) if not."""
        if batch.error is not None:
            raise batch.error

    def _send(self, routing_key: str, body: bytes, props: dict) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        """Drop the connection after an error; the next publish reconnects."""

    def keepalive(self) -> None:
        """Let the connection answer heartbeats while the caller is idle (the relay calls this)."""

    def close(self) -> None:
        """Close the connection, if open."""
        self._reset()


class KombuPublisher(Publisher):
    """The same contract through kombu: ``memory://`` in the embedded mode (kombu's virtual
    transport has no confirms; a put is synchronous), ``amqp://`` with ``confirm_publish``."""

    def __init__(self, uri: str, exchange: str = DEFAULT_EXCHANGE):
        self.uri = uri
        self.exchange = exchange
        self._connection = None
        self._producer = None

    def _ensure(self):
        if self._producer is not None:
            return self._producer
        connection = Connection(self.uri, transport_options={"confirm_publish": True})
        exchange = Exchange(self.exchange, type="topic", durable=True)
        channel = connection.channel()
        exchange.declare(channel=channel)
        self._connection = connection
        self._producer = Producer(channel, exchange=exchange, auto_declare=False)
        return self._producer

    def _send(self, routing_key: str, body: bytes, props: dict) -> None:
        producer = self._ensure()
        producer.publish(body, routing_key=routing_key, delivery_mode=2, retry=False,
                         content_type=props["content_type"],
                         content_encoding=props["content_encoding"],
                         headers=props["headers"], message_id=props["message_id"])

    def _reset(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is gone anyway
                log.debug("closing the publisher connection failed", exc_info=True)


def make_publisher(settings_or_uri, exchange: str = DEFAULT_EXCHANGE) -> Publisher:
    """The publisher for a broker URI (or :class:`mosaic.config.Settings`): ``memory://`` gives a
    :class:`KombuPublisher`, ``amqp://``/``amqps://`` a :class:`PikaPublisher`."""
    uri = settings_or_uri if isinstance(settings_or_uri, str) else settings_or_uri.amqp_uri
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "memory":
        return KombuPublisher(uri, exchange)
    if scheme in ("amqp", "amqps"):
        from mosaic.events.rabbitmq import PikaPublisher  # it builds on this module

        return PikaPublisher(uri, exchange)
    raise ValueError(f"no event publisher for broker URI scheme {scheme!r}")
