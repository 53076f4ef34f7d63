"""A pooled nameko RPC client for callers outside a service (the gateway, the CLI, benchmarks).

A new ``ClusterRpcProxy`` per request costs a connection, a channel and a reply queue (~16 ms on
RabbitMQ, and the queue lingers for minutes). The pool keeps ``size`` started proxies; a caller
checks one out for one call, sets the caller's context data on it, and gives it back. Under
eventlet the pool's queue is green, so many requests wait for a proxy cooperatively.
"""
from __future__ import annotations

import logging
import queue
import threading
from contextlib import contextmanager
from typing import Any, Iterable

from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from mosaic.context import RequestContext
from mosaic.errors import MosaicError, ServiceUnavailable, from_remote
from mosaic.telemetry import current_traceparent, span

log = logging.getLogger(__name__)


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
        try:
            standalone = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._created < self.size
                if grow:
                    self._created += 1
            if grow:
                try:
                    standalone = self._new()
                except Exception as exc:
                    with self._lock:
                        self._created -= 1
                    raise ServiceUnavailable(f"message broker unreachable: {exc}") from exc
                with self._lock:
                    self._all.append(standalone)
            else:
                standalone = self._idle.get(timeout=self.timeout)
        healthy = True
        try:
            yield standalone
        except (RpcTimeout, OSError, ConnectionError):
            healthy = False  # a late reply or a dead connection: do not reuse this proxy
            raise
        finally:
            if healthy:
                self._idle.put(standalone)
            else:
                self._discard(standalone)

    def _discard(self, standalone: ClusterRpcProxy) -> None:
        with self._lock:
            self._created -= 1
            if standalone in self._all:
                self._all.remove(standalone)
        try:
            standalone.stop()
        except Exception:  # the connection may be gone already
            log.debug("closing a broken RPC proxy failed", exc_info=True)

    def call(self, service: str, method: str, ctx: RequestContext | None, *args: Any, **kwargs: Any) -> Any:
        """Call ``service.method`` carrying ``ctx`` as nameko context data; typed errors come back typed."""
        with span(f"rpc {service}.{method}", kind="client",
                  attributes={"rpc.system": "nameko", "rpc.service": service, "rpc.method": method}):
            data = (ctx or RequestContext()).with_trace(current_traceparent()).to_nameko()
            try:
                with self._checkout() as standalone:
                    standalone._worker_ctx.data = dict(data)
                    proxy = standalone._proxy
                    return getattr(getattr(proxy, service), method)(*args, **kwargs)
            except RemoteError as exc:
                typed = from_remote(exc.exc_type, exc.value)
                if typed is not None:
                    raise typed from None
                log.error("remote error from %s.%s: %s", service, method, exc)
                raise MosaicError("the service failed to handle the request") from None
            except UnknownService:
                raise ServiceUnavailable(f"the {service} service is not running") from None
            except RpcTimeout:
                raise ServiceUnavailable(f"the {service} service did not answer in time") from None
            except (OSError, ConnectionError) as exc:
                raise ServiceUnavailable(f"message broker unreachable: {exc}") from None

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
