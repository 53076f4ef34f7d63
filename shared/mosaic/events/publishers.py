"""Publishers that put envelopes on the events topic exchange and wait for the broker to confirm.

:class:`PikaPublisher` talks to RabbitMQ (distributed mode): it sends a whole batch, then waits for
the broker's publisher confirms of the batch. :class:`KombuPublisher` goes through kombu, whose
``memory://`` transport is the embedded mode's in-process broker, one message at a time. Both send
the same body (``encode_body``) and the same properties (:func:`message_properties`), and both
publish each envelope inside a producer span whose trace context travels in the ``traceparent``
header. Use :func:`make_publisher` to get the right one.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from itertools import repeat
from typing import Callable, Iterable, Iterator, Sequence

import pika
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

    def _send(self, routing_key: str, body: bytes, props: dict) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        """Drop the connection after an error; the next publish reconnects."""

    def keepalive(self) -> None:
        """Let the connection answer heartbeats while the caller is idle (the relay calls this)."""

    def close(self) -> None:
        """Close the connection, if open."""
        self._reset()


class _CoalescingConnection(pika.SelectConnection):
    """A SelectConnection that can hold the frames written during a batch and hand them to the
    transport as one chunk. pika sends every frame with its own ``send()`` (three per message:
    method, header, body) and sets TCP_NODELAY, so each is a syscall and a segment that wakes the
    broker; joined, a few dozen messages cost one. Frames keep their order either way."""

    _held: list[bytes] | None = None

    def _adapter_emit_data(self, data: bytes) -> None:  # pika's hook between protocol and transport
        if self._held is not None:
            self._held.append(data)
        else:
            super()._adapter_emit_data(data)

    def hold(self) -> None:
        """Keep frames back until :meth:`release`."""
        if self._held is None:
            self._held = []

    def release(self) -> None:
        """Write the frames held back, as one chunk, and stop holding."""
        held, self._held = self._held, None
        if held:
            super()._adapter_emit_data(b"".join(held))


class PikaPublisher(Publisher):
    """RabbitMQ through pika's asynchronous ``SelectConnection``, driven from inside each call.

    pika's BlockingChannel waits for the confirm of every ``basic_publish`` before the next one,
    one round trip per event. Here a batch is written out whole and the confirms are collected
    afterwards (the broker confirms many tags at once with ``multiple``), so the relay pays one
    round trip per batch. The connection's ioloop runs only while :meth:`publish`, :meth:`keepalive`
    or :meth:`close` runs; each returns with the loop stopped, so the publisher stays a plain
    blocking object for its caller. Under eventlet's monkey patching pika falls back to its
    select() poller, which is green, so a relay green thread does not block the hub.
    """

    #: messages written between two turns of the ioloop while a batch goes out: the broker starts
    #: routing (and confirming) the head of the batch while the tail is still being encoded
    PUMP_EVERY = 64
    #: what a connection is made with (a test puts a scripted stand-in here)
    connection_class = _CoalescingConnection

    def __init__(self, amqp_uri: str, exchange: str = DEFAULT_EXCHANGE, confirm_timeout: float = 30.0,
                 connect_timeout: float = 10.0):
        self.amqp_uri = amqp_uri
        self.exchange = exchange
        self.confirm_timeout = confirm_timeout
        self.connect_timeout = connect_timeout
        self._connection = None
        self._channel = None
        self._ready = False
        self._failure: object = None  # why the connection or channel went away, set by callbacks
        self._next_tag = 1
        self._tracker: ConfirmTracker | None = None
        self._until: Callable[[], bool] | None = None  # what the running ioloop waits for
        self._loop = None

    # -- driving the ioloop --------------------------------------------------------------------

    def _run_until(self, connection, done: Callable[[], bool], timeout: float) -> bool:
        """Turn ``connection``'s ioloop until ``done()`` or ``timeout`` seconds; return ``done()``."""
        if done():
            return True
        loop = connection.ioloop
        expired = []

        def expire():
            expired.append(True)
            loop.stop()

        timer = loop.call_later(timeout, expire)
        self._until, self._loop = done, loop
        try:
            while not done() and not expired:
                loop.start()  # returns when a callback saw done() (see _poke) or the timer fired
        finally:
            self._until = self._loop = None
            loop.remove_timeout(timer)
        return done()

    def _poke(self) -> None:
        """Stop the ioloop if what the running call waits for has happened."""
        if self._until is not None and self._until():
            self._loop.stop()

    def _pump(self) -> None:
        """One non-blocking turn of the ioloop: flush writes, read confirms."""
        self._connection.release()
        self._run_until(self._connection, lambda: False, 0)

    # -- connection and channel ----------------------------------------------------------------

    def _ensure(self):
        if self._ready and self._failure is None and self._channel is not None and self._channel.is_open:
            return self._channel
        self._reset()
        self._failure = None
        self._connection = self.connection_class(
            pika.URLParameters(self.amqp_uri), on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_open_error, on_close_callback=self._on_connection_closed)
        ready = self._run_until(self._connection, lambda: self._ready or self._failure is not None,
                                self.connect_timeout)
        if not ready or not self._ready:
            reason = self._failure or f"no answer within {self.connect_timeout}s"
            self._reset()
            raise PublishError(f"cannot open a confirmed channel to the broker: {reason!r}")
        return self._channel

    def _on_connection_open(self, connection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel) -> None:
        self._channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirm_selected)

    def _on_confirm_selected(self, _frame) -> None:
        self._channel.exchange_declare(self.exchange, exchange_type="topic", durable=True,
                                       callback=self._on_exchange_declared)

    def _on_exchange_declared(self, _frame) -> None:
        self._next_tag = 1  # delivery tags count from 1 on each newly confirmed channel
        self._ready = True
        self._poke()

    def _on_open_error(self, connection, error) -> None:
        if connection is self._connection:
            self._failure = error
            self._poke()

    def _on_connection_closed(self, connection, reason) -> None:
        if connection is self._connection:
            self._ready = False
            self._failure = reason
        self._poke()

    def _on_channel_closed(self, channel, reason) -> None:
        if channel is self._channel:
            self._ready = False
            self._failure = reason
            self._poke()

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if self._tracker is not None:
            self._tracker.settle(method.delivery_tag, bool(method.multiple),
                                 isinstance(method, pika.spec.Basic.Ack))
        self._poke()

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, envelopes: Sequence[dict], traceparents: Iterable[str | None] | None = None) -> None:
        """Send ``envelopes`` in order (routing key = event type), then wait for the broker to
        confirm them all; each envelope has its own producer span (parented by its traceparent).

        Raises :class:`PublishError` listing the confirmed ones if the broker nacks any, the
        connection is lost, or confirms do not come within ``confirm_timeout``; after a loss or a
        time-out the next call reconnects. Unroutable messages are confirmed (``mandatory`` off).
        """
        envelopes = list(envelopes)
        if not envelopes:
            return
        tps = list(traceparents) if traceparents is not None else [None] * len(envelopes)
        channel = self._ensure()
        tracker = self._tracker = ConfirmTracker(self._next_tag, len(envelopes))
        try:
            self._connection.hold()
            for i, (envelope, traceparent) in enumerate(zip(envelopes, tps)):
                with producer_span(self.exchange, envelope, traceparent) as props:
                    properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, **props)
                    channel.basic_publish(self.exchange, envelope["type"], encode_body(envelope), properties)
                self._next_tag += 1
                if i % self.PUMP_EVERY == self.PUMP_EVERY - 1:
                    self._pump()
                    if self._failure is not None:
                        break
                    self._connection.hold()
            self._connection.release()
            self._run_until(self._connection, lambda: tracker.settled or self._failure is not None,
                            self.confirm_timeout)
        except Exception as exc:
            self._tracker = None
            self._reset()
            raise PublishError(f"publishing failed: {exc!r}", confirmed=tracker.confirmed) from exc
        self._tracker = None
        if not tracker.settled:
            reason = self._failure or f"no confirms within {self.confirm_timeout}s"
            # Late confirms on this connection would be for a batch nobody waits for: start afresh.
            self._reset()
            raise PublishError(f"{tracker.pending} of {len(envelopes)} events unconfirmed: {reason!r}",
                               confirmed=tracker.confirmed)
        if tracker.nacked:
            first = envelopes[tracker.nacked[0]]["id"]
            raise PublishError(f"the broker refused {len(tracker.nacked)} of {len(envelopes)} events "
                               f"(first {first})", confirmed=tracker.confirmed)

    def keepalive(self) -> None:
        """Answer heartbeats on an idle connection; a dead one is dropped for the next publish."""
        if self._connection is None:
            return
        try:
            self._pump()
        except Exception:  # noqa: BLE001 - any failure just means "reconnect next time"
            log.info("event publisher connection failed while idle; will reconnect", exc_info=True)
            self._failure = self._failure or "keepalive failed"
        if self._failure is not None:
            log.info("event publisher connection lost while idle (%r); will reconnect", self._failure)
            self._reset()

    def _reset(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._ready = False
        if connection is None:
            return
        try:
            if not (connection.is_closing or connection.is_closed):
                connection.close()
            if not connection.is_closed:
                # Let the close handshake (or the socket's teardown) finish, briefly.
                self._run_until(connection, lambda: connection.is_closed, 2.0)
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone anyway
            log.debug("closing the publisher connection failed", exc_info=True)

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
        return PikaPublisher(uri, exchange)
    raise ValueError(f"no event publisher for broker URI scheme {scheme!r}")
