"""A pooled nameko RPC client for callers outside a service (the gateway, the CLI, benchmarks).

A new ``ClusterRpcProxy`` per request costs a connection, a channel and a reply queue (~16 ms on
RabbitMQ, and the queue lingers for minutes). The pool keeps ``size`` started proxies; a caller
checks one out for one call, sets the caller's context data on it, and gives it back. Under
eventlet the pool's queue is green, so many requests wait for a proxy cooperatively.

Broker outages. A pooled proxy outlives its connection: after a broker restart its socket is
closed, and nameko's standalone proxy cannot recover from every state it is then in. So an idle
proxy is checked before it is handed out (:func:`proxy_is_healthy`: connected, and nothing
unexpected waiting on its socket, such as the broker's close or the cancel of a deleted reply
queue), a proxy that failed a call is dropped, and after a broker failure the idle proxies are
checked at once and the broken ones dropped. Each broker failure reaches the caller as :class:`~mosaic.errors.ServiceUnavailable`
with a ``retry_after`` (the gateway answers 503 with ``Retry-After``), never as a bare exception;
the next call connects afresh, so the pool recovers by itself once the broker is back.

Requests expire with the caller's timeout (AMQP per-message ``expiration``): a request that
waited in the queue longer than its caller waits (the service was down) is dropped by the broker,
not run later behind the caller's back. The caller's ``request_id`` travels in the context data
(``mosaic.request_log``), so a retry of a timed-out write is answered, not applied twice.

The request itself. On RabbitMQ a call is published by :func:`publish_request` on a channel of
the pooled proxy's own connection, the one its reply queue is consumed on: the same message,
headers and properties nameko's ``MethodProxy`` sends, without its per-call ``Publisher``, kombu
``Connection`` and producer-pool checkout, and without waiting for a publisher confirm. nameko
needs the confirm to learn that no queue took a ``mandatory`` request (an unknown service); here
the broker's ``basic.return`` arrives on the connection the caller is reading anyway for the
reply, so it is seen as promptly, without the extra round trip. The reply queue is consumed
without acks and read ahead (:func:`read_ahead`). Together that halves the CPU a call costs the
caller (docs/benchmarks.md). The embedded mode's in-process broker goes through nameko's own
proxy.
"""
from __future__ import annotations

import logging
import queue
import threading
import uuid
from contextlib import contextmanager
from typing import Any, Iterable

import amqp
from amqp import spec
from amqp.exceptions import AMQPError, ChannelError
from amqp.transport import TCPTransport
from eventlet.patcher import original
from kombu.common import maybe_declare
from kombu.exceptions import KombuError
from kombu.messaging import Consumer
from kombu.serialization import dumps
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.messaging import HeaderEncoder
from nameko.rpc import RpcReply, ServiceProxy, get_rpc_exchange
from nameko.standalone.rpc import ClusterRpcProxy, PollingQueueConsumer, SingleThreadedReplyListener

from mosaic.context import RequestContext
from mosaic.errors import MosaicError, ServiceUnavailable, from_remote
from mosaic.telemetry import current_traceparent, recording, span

log = logging.getLogger(__name__)

#: seconds a caller is told to wait (``Retry-After``) after the broker failed a call
BROKER_RETRY_AFTER = 5
#: ... and after the pool had no free proxy for the whole timeout
BUSY_RETRY_AFTER = 1

#: what a call raises when the broker, not the service, failed it: socket errors, kombu's
#: OperationalError (publish retries exhausted), py-amqp's connection and channel errors (a reply
#: queue gone is a 404 channel error), and nameko's RuntimeError for a proxy whose consumer was
#: disconnected or stopped.
BROKER_ERRORS = (OSError, ConnectionError, KombuError, AMQPError, RuntimeError)

_HEADERS = HeaderEncoder()
#: the blocking select: a zero-timeout poll of one socket needs no green thread switch, and
#: eventlet's green select registers the socket with its hub and runs a hub iteration each time
_poll = original("select").select
_NO_CONTEXT = RequestContext()
#: what nameko's publisher sets on every request: persistent, priority 0
_PERSISTENT = 2
#: basic.publish's argument signature (ticket, exchange, routing key, mandatory, immediate)
_PUBLISH_ARGS = "Bssbb"


def broker_unavailable(exc: BaseException) -> ServiceUnavailable:
    """The typed error a caller sees for a broker failure: 503 with ``retry_after``."""
    return ServiceUnavailable(f"message broker unreachable: {exc!r}", retry_after=BROKER_RETRY_AFTER)


class _AutoAckQueueConsumer(PollingQueueConsumer):
    """nameko's polling reply consumer, consuming with ``no_ack``: the reply queue is the proxy's
    own (exclusive, auto-deleted), so a reply the proxy does not read is lost with the proxy
    either way, and an explicit ``basic.ack`` per reply is one more send for nothing."""

    def _setup_consumer(self):
        # nameko's own, but for no_ack=True
        if self.consumer is not None:
            try:
                self.consumer.cancel()
            except OSError:
                pass  # the connection is gone already, and the consumer with it
        channel = self.connection.channel()
        self.queue = self.queue.bind(channel)
        maybe_declare(self.queue, channel)
        consumer = Consumer(channel, queues=[self.queue], accept=self.accept, no_ack=True)
        consumer.callbacks = [self.on_message]
        consumer.consume()
        self.consumer = consumer

    def ack_message(self, msg):
        """Nothing to acknowledge (see the class)."""


class _ReplyListener(SingleThreadedReplyListener):
    """The standalone proxy's reply listener with :class:`_AutoAckQueueConsumer`."""

    def __init__(self, timeout=None):
        super().__init__(timeout=timeout)
        self.queue_consumer = _AutoAckQueueConsumer(timeout=timeout)


def proxy_is_healthy(standalone: ClusterRpcProxy) -> bool:
    """Can this idle proxy be handed out? False when its connection is gone, or when something
    waits unread on its socket: an idle proxy has no call in flight (one that timed out is never
    pooled again), so that is the broker closing the connection (a restart), the cancel of its
    deleted reply queue, or the end of the stream."""
    consumer = standalone._reply_listener.queue_consumer
    if consumer.stopped:
        return False
    connection = consumer.connection
    try:
        if not connection.connected:
            return False
        if connection.transport.driver_type != "amqp":
            return True  # the embedded mode's in-process broker: no socket to die
        if getattr(getattr(connection.connection, "transport", None), "_read_buffer", b""):
            return False  # read ahead, unread: nothing is due on an idle connection
        sock = connection.connection.sock
        if sock is None:
            return False
        readable, _, errored = _poll([sock], [], [sock], 0)
    except (ValueError, *BROKER_ERRORS):  # ValueError: a closed socket's fileno is -1
        return False
    return not readable and not errored


def drop_proxy(standalone: ClusterRpcProxy) -> None:
    """Release a broken proxy's connection without talking to the broker (a close handshake on a
    dead connection could wait forever)."""
    consumer = standalone._reply_listener.queue_consumer
    consumer.stopped = True
    try:
        consumer.connection.collect()
    except Exception:  # noqa: BLE001 - it is broken already; nothing else to release
        log.debug("releasing a broken RPC proxy failed", exc_info=True)


#: bytes a proxy's connection asks the socket for at once (a reply is usually one segment)
READ_AHEAD = 65536


def read_ahead(standalone: ClusterRpcProxy) -> None:
    """Let the proxy's py-amqp transport take what the socket holds, not the exact bytes of the
    part of a frame it is parsing: a reply (deliver, header and body frames) then costs one
    ``recv`` instead of nine. py-amqp keeps what it read beyond a frame in its read buffer
    (``_read`` returns ``n`` bytes and keeps the rest), which :func:`proxy_is_healthy` checks."""
    connection = standalone._reply_listener.queue_consumer.connection
    transport = getattr(getattr(connection, "connection", None), "transport", None)
    if isinstance(transport, TCPTransport) and transport.sock is not None:
        recv = transport.sock.recv
        transport._quick_recv = lambda n: recv(max(n, READ_AHEAD))


def _request_channel(standalone: ClusterRpcProxy):
    """The py-amqp channel this proxy publishes requests on, opened on the connection its reply
    queue is consumed on; None for a transport that is not AMQP (the in-process broker)."""
    connection = standalone._reply_listener.queue_consumer.connection
    channel = getattr(standalone, "_mosaic_channel", None)
    # the consumer reconnects after a socket error: a channel of its former connection is dead
    if channel is not None and channel.is_open and channel.connection is connection.connection:
        return channel
    if getattr(getattr(connection, "transport", None), "driver_type", None) != "amqp":
        return None
    channel = standalone._mosaic_channel = connection.connection.channel()
    return channel


def publish_request(standalone: ClusterRpcProxy, channel, exchange: str, service: str, method: str,
                    args: tuple, kwargs: dict, expiration: float) -> Any:
    """Send ``service.method(*args, **kwargs)`` as nameko's ``MethodProxy`` does (same body,
    headers, properties, ``mandatory``) on ``channel``, then wait for the reply; the result, or
    the remote error raised. A request no queue takes comes back as ``basic.return`` on this
    connection while the reply is awaited: :class:`~nameko.exceptions.UnknownService`."""
    listener = standalone._reply_listener
    content_type, encoding, body = dumps({"args": args, "kwargs": kwargs}, serializer="json")
    correlation_id = str(uuid.uuid4())
    message = amqp.Message(body.encode(encoding) if isinstance(body, str) else body,
                           content_type=content_type, content_encoding=encoding,
                           application_headers=_HEADERS.get_message_headers(standalone._worker_ctx),
                           delivery_mode=_PERSISTENT, priority=0, reply_to=listener.routing_key,
                           correlation_id=correlation_id, expiration=str(int(expiration * 1000)))
    reply = RpcReply(listener.get_reply_event(correlation_id))
    try:
        # py-amqp's basic_publish first drains the socket (timeout 0) on every publish, for a
        # connection.blocked notice: a fifth of a call's CPU in the gateway. The proxy was just found idle with
        # nothing on its socket (proxy_is_healthy), so the publish frames are sent straight away.
        channel.send_method(spec.Basic.Publish, _PUBLISH_ARGS,
                            (0, exchange, f"{service}.{method}", True, False), message)
        return reply.result()
    except ChannelError as exc:
        listener._reply_events.pop(correlation_id, None)
        if "NO_ROUTE" in str(exc):  # py-amqp raises basic.return when no handler is set
            raise UnknownService(service) from None
        raise


class RpcPool:
    """``pool.call("contacts", "get_record", ctx, "contact", id)`` with the caller's context."""

    def __init__(self, amqp_uri: str, size: int = 64, timeout: float = 30.0):
        self.config = {"AMQP_URI": amqp_uri}
        self._exchange = get_rpc_exchange(self.config).name
        self.size = size
        self.timeout = timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        self._all: list[ClusterRpcProxy] = []

    def _new(self) -> ClusterRpcProxy:
        standalone = ClusterRpcProxy(self.config, timeout=self.timeout, reply_listener_cls=_ReplyListener)
        standalone.start()
        read_ahead(standalone)
        return standalone

    @contextmanager
    def _checkout(self):
        standalone = self._take()
        healthy = True
        try:
            yield standalone
        except (RpcTimeout, *BROKER_ERRORS):
            healthy = False  # a late reply or a dead connection: do not reuse this proxy
            raise
        finally:
            if healthy:
                self._idle.put(standalone)
            else:
                self._discard(standalone)

    def _take(self) -> ClusterRpcProxy:
        """An idle proxy that passes :func:`proxy_is_healthy`, or a new one while the pool may
        grow; else wait up to ``timeout`` for one to come back."""
        while True:
            try:
                standalone = self._idle.get_nowait()
            except queue.Empty:
                break
            if proxy_is_healthy(standalone):
                return standalone
            log.info("dropping a pooled RPC proxy whose broker connection is gone")
            self._discard(standalone)
        with self._lock:
            grow = self._created < self.size
            if grow:
                self._created += 1
        if not grow:
            try:
                standalone = self._idle.get(timeout=self.timeout)
            except queue.Empty:
                raise ServiceUnavailable("every connection to the services is busy",
                                         retry_after=BUSY_RETRY_AFTER) from None
            if proxy_is_healthy(standalone):
                return standalone
            self._discard(standalone)
            return self._take()
        try:
            standalone = self._new()
        except Exception as exc:
            with self._lock:
                self._created -= 1
            raise broker_unavailable(exc) from exc
        with self._lock:
            self._all.append(standalone)
        return standalone

    def _discard(self, standalone: ClusterRpcProxy) -> None:
        with self._lock:
            self._created -= 1
            if standalone in self._all:
                self._all.remove(standalone)
        drop_proxy(standalone)

    def _drop_idle(self) -> None:
        """After a broker failure: the idle proxies shared the dead broker; drop the broken ones now
        rather than one failed call at a time."""
        keep = []
        while True:
            try:
                standalone = self._idle.get_nowait()
            except queue.Empty:
                break
            if proxy_is_healthy(standalone):
                keep.append(standalone)
            else:
                self._discard(standalone)
        for standalone in keep:
            self._idle.put(standalone)

    def _expiring(self, standalone: ClusterRpcProxy, service: str) -> ServiceProxy:
        """``standalone``'s proxy of ``service`` whose requests expire when this pool stops waiting
        (kombu takes the TTL in seconds)."""
        return ServiceProxy(standalone._worker_ctx, service, standalone._reply_listener, expiration=self.timeout)

    def call(self, service: str, method: str, ctx: RequestContext | None, *args: Any, **kwargs: Any) -> Any:
        """Call ``service.method`` carrying ``ctx`` as nameko context data; typed errors come back typed."""
        if not recording():  # no span to record: the call carries the current trace context as it is
            return self._call(service, method, ctx, args, kwargs)
        with span(f"rpc {service}.{method}", kind="client",
                  attributes={"rpc.system": "nameko", "rpc.service": service, "rpc.method": method}):
            return self._call(service, method, ctx, args, kwargs)

    def _call(self, service: str, method: str, ctx: RequestContext | None, args: tuple, kwargs: dict) -> Any:
        data = (ctx or _NO_CONTEXT).to_nameko()
        data.pop("traceparent", None)  # the trace context is the caller's at this moment
        traceparent = current_traceparent()
        if traceparent:
            data["traceparent"] = traceparent
        try:
            with self._checkout() as standalone:
                standalone._worker_ctx.data = data
                channel = _request_channel(standalone)
                if channel is None:
                    return getattr(self._expiring(standalone, service), method)(*args, **kwargs)
                return publish_request(standalone, channel, self._exchange, service, method, args, kwargs,
                                       self.timeout)
        except RemoteError as exc:
            typed = from_remote(exc.exc_type, exc.value)
            if typed is not None:
                raise typed from None
            log.error("remote error from %s.%s: %s", service, method, exc)
            raise MosaicError("the service failed to handle the request") from None
        except UnknownService:
            raise ServiceUnavailable(f"the {service} service is not running") from None
        except RpcTimeout:
            raise ServiceUnavailable(f"the {service} service did not answer in time",
                                     retry_after=BROKER_RETRY_AFTER) from None
        except BROKER_ERRORS as exc:
            log.warning("RPC %s.%s failed on the broker: %r", service, method, exc)
            self._drop_idle()
            raise broker_unavailable(exc) from None

    def call_many(self, calls: Iterable[tuple], ctx: RequestContext | None) -> list[Any]:
        """Run several ``(service, method, *args)`` calls in parallel; each result, or the error it
        raised. Each green thread carries the caller's trace context (a new one starts empty)."""
        import eventlet
        from opentelemetry import context as otel_context

        caller = otel_context.get_current()

        def one(call):
            service, method, *args = call
            token = otel_context.attach(caller)
            try:
                return self.call(service, method, ctx, *args)
            except MosaicError as exc:
                return exc
            finally:
                otel_context.detach(token)

        pool = eventlet.GreenPool(16)
        return list(pool.imap(one, list(calls)))

    def close(self) -> None:
        """Stop every proxy (shutdown)."""
        with self._lock:
            proxies, self._all = self._all, []
            self._created = 0
        while not self._idle.empty():
            self._idle.get_nowait()
        for standalone in proxies:
            try:
                standalone.stop()
            except Exception:
                log.debug("closing an RPC proxy failed", exc_info=True)
