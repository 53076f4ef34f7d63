"""RabbitMQ publishing for the relay: a batch written whole, then its publisher confirms collected.

Built on pika's asynchronous ``SelectConnection``, driven from inside each call (see
:class:`PikaPublisher`); the contract is :class:`mosaic.events.publishers.Publisher`'s.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable, Sequence

import pika

from mosaic.events.confirms import ConfirmTracker
from mosaic.events.envelope import encode_body
from mosaic.events.publishers import DEFAULT_EXCHANGE, PendingBatch, Publisher, PublishError, producer_span

log = logging.getLogger(__name__)


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
        self._inflight: list[PendingBatch] = []  # sent on the current connection, not yet waited for
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
        acked = isinstance(method, pika.spec.Basic.Ack)
        for batch in self._inflight:  # each tracker takes the tags of its own batch
            batch.tracker.settle(method.delivery_tag, bool(method.multiple), acked)
        self._poke()

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, envelopes: Sequence[dict], traceparents: Iterable[str | None] | None = None) -> None:
        """Send ``envelopes`` in order (routing key = event type), then wait for the broker to
        confirm them all; each envelope has its own producer span (parented by its traceparent).

        Raises :class:`PublishError` listing the confirmed ones if the broker nacks any, the
        connection is lost, or confirms do not come within ``confirm_timeout``; after a loss or a
        time-out the next call reconnects. Unroutable messages are confirmed (``mandatory`` off).
        """
        self.wait(self.send(envelopes, traceparents))

    def send(self, envelopes: Sequence[dict], traceparents: Iterable[str | None] | None = None) -> PendingBatch:
        """Write ``envelopes`` to the broker without waiting for confirms (see :meth:`publish`);
        batches sent one after another leave in that order on the one channel."""
        envelopes = list(envelopes)
        batch = PendingBatch([e["id"] for e in envelopes])
        if not envelopes:
            return batch
        tps = list(traceparents) if traceparents is not None else [None] * len(envelopes)
        try:
            channel = self._ensure()
        except PublishError as exc:
            batch.error = exc
            return batch
        batch.tracker = ConfirmTracker(self._next_tag, len(envelopes))
        batch.connection = self._connection
        self._inflight.append(batch)
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
            self._pump()  # the tail goes out now: the broker works on it while the caller goes on
        except Exception as exc:  # noqa: BLE001 - reported by wait(), with what was confirmed
            log.info("event publisher: sending a batch failed: %r", exc)
            self._failure = self._failure or exc
        return batch

    def wait(self, batch: PendingBatch) -> None:
        """Turn the ioloop until the broker has answered for every envelope of ``batch``; raise
        :class:`PublishError` naming the confirmed ones on a nack, a lost connection or a time-out."""
        try:
            if batch.error is None and batch.tracker is not None:
                self._settle(batch)
        finally:
            if batch in self._inflight:
                self._inflight.remove(batch)
        if batch.error is not None:
            raise batch.error

    def _settle(self, batch: PendingBatch) -> None:
        tracker, current = batch.tracker, batch.connection is self._connection
        if current:
            try:
                self._run_until(self._connection, lambda: tracker.settled or self._failure is not None,
                                self.confirm_timeout)
            except Exception as exc:  # noqa: BLE001 - the connection broke under the ioloop
                self._failure = self._failure or exc
        if not tracker.settled:
            reason = (self._failure or f"no confirms within {self.confirm_timeout}s") if current else "connection reset"
            batch.error = PublishError(f"{tracker.pending} of {len(batch.ids)} events unconfirmed: {reason!r}",
                                       confirmed=tracker.confirmed)
            if current:
                # Late confirms would be for a batch nobody waits for: start afresh.
                self._reset()
        elif tracker.nacked:
            batch.error = PublishError(f"the broker refused {len(tracker.nacked)} of {len(batch.ids)} events "
                                       f"(first {batch.ids[tracker.nacked[0]]})", confirmed=tracker.confirmed)

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
        self._inflight = []  # their wait() reports them unconfirmed: this connection is gone
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
