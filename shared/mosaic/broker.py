"""The embedded mode's in-process broker: kombu's memory transport, made fit for nameko RPC.

Two things keep kombu's stock ``memory://`` transport from carrying nameko RPC and events well:

* nameko answers a request with the serializer named by ``message.properties['content_type']``;
  the virtual transport keeps the content type beside the properties, not in them. Our message
  class copies it in.
* the virtual transport polls its queues, sleeping ``polling_interval`` (1 s) when they are empty.
  Our channel wakes every waiting consumer as soon as a message is put, so an in-process RPC
  round trip costs microseconds, not a polling period, and idle consumers cost no CPU.

Everything else (exchanges, topic routing, acks, requeues) is kombu's, so the embedded mode runs
the same serialisation, RPC and event code as the distributed mode. :func:`install` makes
``memory://`` URIs use this transport; call it before any connection is made.
"""
from __future__ import annotations

import socket
from queue import Empty
from time import monotonic

import eventlet
from eventlet.event import Event
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import memory

_wakeup = Event()


def _notify() -> None:
    """Wake everyone waiting for a message (broadcast by swapping the event)."""
    global _wakeup
    current, _wakeup = _wakeup, Event()
    current.send(True)


class Message(memory.Channel.Message):
    """A message whose properties carry its content type, as AMQP's do."""

    def __init__(self, payload, channel=None, **kwargs):
        super().__init__(payload, channel=channel, **kwargs)
        if self.content_type and "content_type" not in self.properties:
            self.properties["content_type"] = self.content_type


class Channel(memory.Channel):
    """A memory channel that signals waiters on every put."""

    Message = Message

    def _put(self, queue, message, **kwargs):
        super()._put(queue, message, **kwargs)
        _notify()

    def _put_fanout(self, exchange, message, routing_key, **kwargs):
        super()._put_fanout(exchange, message, routing_key, **kwargs)
        _notify()


class Transport(memory.Transport):
    """``memory://`` with wake-on-put instead of polling."""

    Channel = Channel
    #: waiting longer than this re-checks the queues anyway (guards against a missed wake-up)
    polling_interval = 0.5

    def drain_events(self, connection, timeout=None):
        start = monotonic()
        get = self.cycle.get
        while True:
            waker = _wakeup  # taken before looking, so a put in between still wakes us
            try:
                get(self._deliver, timeout=timeout)
                return
            except Empty:
                wait = self.polling_interval
                if timeout is not None:
                    left = timeout - (monotonic() - start)
                    if left <= 0:
                        raise socket.timeout() from None
                    wait = min(wait, left)
                with eventlet.Timeout(wait, False):
                    waker.wait()


def install() -> None:
    """Route ``memory://`` connections to :class:`Transport` (idempotent)."""
    TRANSPORT_ALIASES["memory"] = "mosaic.broker:Transport"


def reset() -> None:
    """Forget every in-memory queue and exchange (tests start from an empty broker)."""
    memory.Channel.queues.clear()
    memory.Channel.events.clear()
    memory.Transport.global_state.clear()
