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
caller (docs/benchmarks.md). The request's frames are built here (:func:`request_frames`: byte for
byte what py-amqp writes, a unit test compares them), not by py-amqp's general property and table
serialiser; a reply on the proxy's reply channel is read and decoded directly
(:func:`_read_delivery`: kombu's decoder, nameko's checks and timeouts), anything else on the
connection still goes through py-amqp's frame handler. The embedded mode's in-process broker goes
through nameko's own proxy.
"""
from __future__ import annotations

import logging
import queue
import socket
import threading
import uuid
from struct import pack, unpack_from
from contextlib import contextmanager
from typing import Any, Iterable

import amqp
from amqp import spec
from amqp.exceptions import AMQPError, ChannelError, RecoverableConnectionError
from amqp.exceptions import ConnectionError as AMQPConnectionError
from amqp.serialization import decode_properties_basic
from amqp.transport import TCPTransport
from eventlet.patcher import original
from kombu.common import maybe_declare
from kombu.exceptions import EncodeError, KombuError
from kombu.messaging import Consumer
from kombu.serialization import registry
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService, deserialize
from nameko.rpc import ServiceProxy, get_rpc_exchange
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


def _shortstr(value: str) -> bytes:
    """An AMQP short string, as py-amqp writes one (struct.error beyond 255 bytes, as there)."""
    raw = value.encode("utf-8", "surrogatepass")
    return pack("B", len(raw)) + raw


def _longstr_item(value: str) -> bytes:
    """A string value of an AMQP field table or array (type ``S``), as py-amqp writes one."""
    raw = value.encode("utf-8", "surrogatepass")
    return b"S" + pack(">I", len(raw)) + raw


#: header names as table keys, encoded once
_TABLE_KEYS: dict[str, bytes] = {}


def header_table(headers: dict) -> bytes | None:
    """``headers`` as py-amqp writes an AMQP field table, when every value is a string or a list
    of strings (what nameko's context headers hold); None for any other value, which the caller
    leaves to py-amqp's general serialiser."""
    parts = []
    for key, value in headers.items():
        name = _TABLE_KEYS.get(key)
        if name is None:
            name = _shortstr(key)
            if len(_TABLE_KEYS) < 64:  # nameko's handful of context keys
                _TABLE_KEYS[key] = name
        parts.append(name)
        if type(value) is str:
            parts.append(_longstr_item(value))
        elif type(value) is list and all(type(item) is str for item in value):
            items = b"".join(_longstr_item(item) for item in value)
            parts.append(b"A" + pack(">I", len(items)) + items)
        else:
            return None
    table = b"".join(parts)
    return pack(">I", len(table)) + table


#: property flags of a request: content type and encoding, headers, delivery mode, priority,
#: correlation id, reply-to and expiration present (AMQP 0-9-1 basic properties, in that order)
_REQUEST_PROPERTY_FLAGS = 0xFF00
#: the basic.publish method (class 60, method 40)
_BASIC_PUBLISH = pack(">HH", 60, 40)


def request_frames(channel_id: int, frame_max: int, exchange: str, routing_key: str, body: bytes,
                   content_type: str, content_encoding: str, headers: bytes, correlation_id: str,
                   reply_to: str, expiration: str) -> bytes:
    """The frames py-amqp writes for ``basic.publish`` (mandatory, not immediate) of ``body`` with
    these properties, persistent, priority 0 (``headers`` is a :func:`header_table`): the method
    frame, the content header, and the body in frames of at most ``frame_max`` bytes."""
    method = b"".join((_BASIC_PUBLISH, b"\x00\x00", _shortstr(exchange), _shortstr(routing_key), b"\x01"))
    header = b"".join((pack(">HHQH", 60, 0, len(body), _REQUEST_PROPERTY_FLAGS), _shortstr(content_type),
                       _shortstr(content_encoding), headers, pack("BB", _PERSISTENT, 0), _shortstr(correlation_id),
                       _shortstr(reply_to), _shortstr(expiration)))
    frames = [pack(">BHI", 1, channel_id, len(method)), method, b"\xce",
              pack(">BHI", 2, channel_id, len(header)), header, b"\xce"]
    chunk = frame_max - 8
    for start in range(0, len(body), chunk):
        part = body[start:start + chunk]
        frames += (pack(">BHI", 3, channel_id, len(part)), part, b"\xce")
    return b"".join(frames)


def _request_body(args: tuple, kwargs: dict) -> tuple[str, str, bytes]:
    """(content type, encoding, body) of a request as nameko serialises it: kombu's ``json``
    serialiser, whose errors kombu's registry reports as EncodeError."""
    content_type, content_encoding, encode = registry._encoders["json"]
    try:
        payload = encode({"args": args, "kwargs": kwargs})
    except Exception as exc:
        raise EncodeError(exc) from exc
    return content_type, content_encoding, payload.encode(content_encoding) if isinstance(payload, str) else payload


def _message_headers(standalone: ClusterRpcProxy, data: dict) -> dict:
    """nameko's headers of a request carrying context ``data``: each key prefixed ``nameko.``, and
    the proxy's call id stack (``HeaderEncoder.get_message_headers``; ``data`` holds no None)."""
    headers = {f"nameko.{key}": value for key, value in data.items()}
    headers["nameko.call_id_stack"] = standalone._worker_ctx.call_id_stack
    return headers


#: the basic.deliver method (class 60, method 60)
_BASIC_DELIVER = pack(">HH", 60, 60)


def _read_delivery(consumer: PollingQueueConsumer) -> None:
    """Read the next message or frame on ``consumer``'s connection. A reply delivered to its
    queue is decoded (kombu's decoder and accepted content types, as its ``Consumer`` would) and
    kept in ``consumer.replies`` by correlation id, without the objects py-amqp's frame handler,
    kombu's ``Message`` and nameko's callbacks build for it on the way; anything else (another
    channel's frame, the broker's ``basic.return`` or close, a compressed body) is handed to
    py-amqp's frame handler, with whatever was read before it, in order."""
    channel = consumer.consumer.channel
    connection = channel.connection
    transport = connection.transport
    on_frame = connection.on_inbound_frame
    with transport.having_timeout(consumer.timeout):
        frame = transport.read_frame()
        frame_type, channel_id, payload = frame
        if frame_type != 1 or channel_id != channel.channel_id or payload[:4] != _BASIC_DELIVER:
            on_frame(frame)
            return
        frames = [frame]
        header = transport.read_frame()
        frames.append(header)
        if header[0] == 2 and header[1] == channel_id:
            body_size, = unpack_from(">Q", header[2], 4)
            parts, received = [], 0
            while received < body_size:
                part = transport.read_frame()
                frames.append(part)
                if part[0] != 3 or part[1] != channel_id:
                    break
                parts.append(part[2])
                received += len(part[2])
            else:
                properties, _offset = decode_properties_basic(header[2], 12)
                tag = payload[5:5 + payload[4]].decode()
                ours = channel.callbacks.get(tag) == consumer.consumer._receive_callback
                if ours and "compression" not in (properties.get("application_headers") or {}):
                    connection.bytes_recv += len(frames)
                    body = parts[0] if len(parts) == 1 else b"".join(parts)
                    consumer.replies[properties.get("correlation_id")] = (registry.loads(
                        body, properties.get("content_type"), properties.get("content_encoding"),
                        accept=consumer.consumer.accept), None)
                    return
    for frame in frames:
        on_frame(frame)


def _await_reply(standalone: ClusterRpcProxy, correlation_id: str) -> dict:
    """The body of the reply to ``correlation_id``: what nameko's ``ConsumeEvent.wait`` and its
    polling consumer's ``get_message`` answer (same checks, same timeout, same reconnection), with
    the reply read by :func:`_read_delivery`."""
    consumer = standalone._reply_listener.queue_consumer
    if consumer.stopped:
        raise RuntimeError("This consumer has been stopped, and can no longer be used")
    if consumer.connection.connected is False:
        raise RuntimeError("This consumer has been disconnected, and can no longer be used")
    replies = consumer.replies
    while True:
        try:
            while correlation_id not in replies:
                _read_delivery(consumer)
            return replies.pop(correlation_id)[0]
        except socket.timeout:
            # the socket timed out mid-read: the consumer starts afresh, as nameko's does
            consumer._setup_consumer()
            raise RpcTimeout(consumer.timeout) from None
        except (OSError, AMQPConnectionError):
            consumer._setup_consumer()  # as nameko's: wait again, on the new channel


def publish_request(standalone: ClusterRpcProxy, channel, exchange: str, service: str, method: str,
                    args: tuple, kwargs: dict, expiration: float) -> Any:
    """Send ``service.method(*args, **kwargs)`` as nameko's ``MethodProxy`` does (same body,
    headers, properties, ``mandatory``) on ``channel``, then wait for the reply; the result, or
    the remote error raised. A request no queue takes comes back as ``basic.return`` on this
    connection while the reply is awaited: :class:`~nameko.exceptions.UnknownService`.

    The frames are built here, byte for byte what py-amqp's ``Message`` and frame writer make
    (:func:`request_frames`): its general serialiser walks a type ladder for every property and
    header, and its writer takes a lock the pool's checkout already makes needless."""
    listener = standalone._reply_listener
    data = standalone._worker_ctx.data
    correlation_id = str(uuid.uuid4())
    content_type, content_encoding, body = _request_body(args, kwargs)
    headers = _message_headers(standalone, data)
    table = header_table(headers)
    try:
        connection = channel.connection
        if connection is None:
            raise RecoverableConnectionError("connection already closed")
        routing_key = f"{service}.{method}"
        if table is not None:
            # py-amqp's basic_publish first drains the socket (timeout 0) on every publish, for a
            # connection.blocked notice: a fifth of a call's CPU in the gateway. The proxy was just
            # found idle with nothing on its socket (proxy_is_healthy), so the frames go straight out.
            connection.transport.write(request_frames(
                channel.channel_id, connection.frame_max, exchange, routing_key, body, content_type,
                content_encoding, table, correlation_id, listener.routing_key, str(int(expiration * 1000))))
            connection.bytes_sent += 1
        else:
            message = amqp.Message(body, content_type=content_type, content_encoding=content_encoding,
                                   application_headers=headers, delivery_mode=_PERSISTENT, priority=0,
                                   reply_to=listener.routing_key, correlation_id=correlation_id,
                                   expiration=str(int(expiration * 1000)))
            channel.send_method(spec.Basic.Publish, _PUBLISH_ARGS, (0, exchange, routing_key, True, False), message)
        body = _await_reply(standalone, correlation_id)
    except ChannelError as exc:
        if "NO_ROUTE" in str(exc):  # py-amqp raises basic.return when no handler is set
            raise UnknownService(service) from None
        raise
    error = body.get("error")
    if error:
        raise deserialize(error)
    return body["result"]


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
