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
"""
from __future__ import annotations

import logging
import queue
import select
import threading
from contextlib import contextmanager
from typing import Any, Iterable

from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.rpc import ServiceProxy
from nameko.standalone.rpc import ClusterRpcProxy

from mosaic.context import RequestContext
from mosaic.errors import MosaicError, ServiceUnavailable, from_remote
from mosaic.telemetry import current_traceparent, span

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


def broker_unavailable(exc: BaseException) -> ServiceUnavailable:
    """The typed error a caller sees for a broker failure: 503 with ``retry_after``."""
    return ServiceUnavailable(f"message broker unreachable: {exc!r}", retry_after=BROKER_RETRY_AFTER)


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
        sock = connection.connection.sock
        if sock is None:
            return False
        readable, _, errored = select.select([sock], [], [sock], 0)
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


class RpcPool:
    """``pool.call("contacts", "get_record", ctx, "contact", id)`` with the caller's context."""

    def __init__(self, amqp_uri: str, size: int = 64, timeout: float = 30.0):
        self.config = {"AMQP_URI": amqp_uri}
        self.size = size
        self.timeout = timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        self._all: list[ClusterRpcProxy] = []

    def _new(self) -> ClusterRpcProxy:
        standalone = ClusterRpcProxy(self.config, timeout=self.timeout)
        standalone.start()
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
        with span(f"rpc {service}.{method}", kind="client",
                  attributes={"rpc.system": "nameko", "rpc.service": service, "rpc.method": method}):
            data = (ctx or RequestContext()).with_trace(current_traceparent()).to_nameko()
            try:
                with self._checkout() as standalone:
                    standalone._worker_ctx.data = dict(data)
                    return getattr(self._expiring(standalone, service), method)(*args, **kwargs)
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
        """Run several ``(service, method, *args)`` calls in parallel; each result, or the error it raised."""
        import eventlet

        def one(call):
            service, method, *args = call
            try:
                return self.call(service, method, ctx, *args)
            except MosaicError as exc:
                return exc

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
