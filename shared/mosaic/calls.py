"""Calls from one service to another, inside a nameko worker.

A service declares ``services = ServiceCalls()`` and calls
``self.services.call("contacts", "get_record", "contact", contact_id)``. The caller's context
(tenant, user, roles, modules, plugins, trace) travels as nameko context data, as it does for the
gateway's calls, so the callee checks the same permissions; errors come back as the typed
``mosaic.errors`` the callee raised (a NotFound stays a NotFound), and a service that does not
answer within ``timeout`` seconds is a ServiceUnavailable, never a hang; its request expires
with that timeout, so it does not run later behind the caller's back.

Request ids. A write is named by its request id (``mosaic.request_log``): the same id twice is the
same write, answered with the first outcome. So a call does not pass the caller's id on unchanged
— a worker that creates two records in another service would see its second create answered with
the first one's record (or refused, 422, for other arguments). Each call gets a *child* id
instead, derived from the caller's id, the callee, the method and how many calls of that method
on that service this worker has made before (:func:`child_request_id`)::

    k:3f…:create_record                        the gateway's call (from the Idempotency-Key)
    k:3f…:create_record>contacts.create_record    its first create in contacts
    k:3f…:create_record>contacts.create_record:2  its second one

A redelivered or retried caller runs the same code and makes the same calls in the same order, so
its calls carry the same ids and are answered with their first outcomes instead of writing again.
That holds as long as the calls of one method on one service are made in an order, and with
arguments, that the request determines (not raced from green threads of the worker, no clock
read or random value in them: a repeat with other arguments is refused, 422). A caller without a request id (a read,
a timer) passes none on.
"""
from __future__ import annotations

import hashlib
import logging

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import ReplyListener, ServiceProxy

from mosaic.entrypoints import ResilientQueueConsumer
from mosaic.errors import MosaicError, ServiceUnavailable, from_remote

log = logging.getLogger(__name__)

#: the request log's column width: a deeper chain of ids is hashed down to fit
MAX_REQUEST_ID = 200


def child_request_id(parent: str, service: str, method: str, n: int) -> str:
    """The request id of a caller's ``n``-th call (from 1) of ``service.method``, the caller's own
    id being ``parent``: readable while it fits the request log, a digest of it beyond."""
    child = f"{parent}>{service}.{method}" + (f":{n}" if n > 1 else "")
    if len(child) > MAX_REQUEST_ID:
        child = "h:" + hashlib.sha256(child.encode()).hexdigest()
    return child


class _CallContext:
    """The worker's context as one call sends it: the same, but for the request id."""

    def __init__(self, worker_ctx, request_id: str | None):
        self._worker_ctx = worker_ctx
        self._request_id = request_id

    def __getattr__(self, name):
        return getattr(self._worker_ctx, name)

    @property
    def context_data(self) -> dict:
        data = self._worker_ctx.context_data  # a copy, with nameko's call id stack
        data.pop("request_id", None)
        if self._request_id:
            data["request_id"] = self._request_id
        return data


class _ReplyListener(ReplyListener):
    """nameko's reply listener on a consumer whose acks survive a dead connection (a broker
    restart must not kill the calling service)."""

    queue_consumer = ResilientQueueConsumer()


class ServiceCalls(DependencyProvider):
    """The dependency: one reply queue per container, a :class:`Caller` per worker."""

    rpc_reply_listener = _ReplyListener()

    def __init__(self, timeout: float | None = None):
        self.timeout = timeout

    def get_dependency(self, worker_ctx):
        timeout = self.timeout
        if timeout is None:
            settings = self.container.config.get("MOSAIC_SETTINGS")
            timeout = getattr(settings, "rpc_timeout", 30.0)
        return Caller(worker_ctx, self.rpc_reply_listener, timeout)


class Caller:
    """What a worker sees as ``self.services``."""

    def __init__(self, worker_ctx, reply_listener, timeout: float):
        self.worker_ctx = worker_ctx
        self.reply_listener = reply_listener
        self.timeout = timeout
        self._calls: dict[tuple[str, str], int] = {}

    def request_id_for(self, service: str, method: str) -> str | None:
        """The request id of this worker's next call of ``service.method`` (counts the call)."""
        parent = self.worker_ctx.data.get("request_id")
        n = self._calls[(service, method)] = self._calls.get((service, method), 0) + 1
        return child_request_id(parent, service, method, n) if parent else None

    def call(self, service: str, method: str, *args, **kwargs):
        """``service.method(*args, **kwargs)`` as this worker's caller; typed errors raised typed."""
        ctx = _CallContext(self.worker_ctx, self.request_id_for(service, method))
        proxy = ServiceProxy(ctx, service, self.reply_listener, expiration=self.timeout)
        try:
            with eventlet.Timeout(self.timeout):
                return getattr(proxy, method)(*args, **kwargs)
        except eventlet.Timeout:
            raise ServiceUnavailable(f"the {service} service did not answer in time", retry_after=1) from None
        except UnknownService:
            raise ServiceUnavailable(f"the {service} service is not running", retry_after=1) from None
        except RemoteError as exc:
            typed = from_remote(exc.exc_type, exc.value)
            if typed is not None:
                raise typed from None
            log.error("remote error from %s.%s: %s", service, method, exc)
            raise MosaicError(f"the {service} service failed to handle the request") from None

    def enabled(self, module: str) -> bool:
        """Whether the caller's tenant has ``module`` enabled (call it before reaching for it)."""
        modules = self.worker_ctx.data.get("modules") or ""
        return module in (modules.split(",") if isinstance(modules, str) else modules)
