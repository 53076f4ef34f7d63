"""Calls from one service to another, inside a nameko worker.

A service declares ``services = ServiceCalls()`` and calls
``self.services.call("contacts", "get_record", "contact", contact_id)``. The caller's context
(tenant, user, roles, modules, plugins, trace) travels as nameko context data, as it does for the
gateway's calls, so the callee checks the same permissions; errors come back as the typed
``mosaic.errors`` the callee raised (a NotFound stays a NotFound), and a service that does not
answer within ``timeout`` seconds is a ServiceUnavailable, never a hang.
"""
from __future__ import annotations

import logging

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import ReplyListener, ServiceProxy

from mosaic.entrypoints import ResilientQueueConsumer
from mosaic.errors import MosaicError, ServiceUnavailable, from_remote

log = logging.getLogger(__name__)


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

    def call(self, service: str, method: str, *args, **kwargs):
        """``service.method(*args, **kwargs)`` as this worker's caller; typed errors raised typed."""
        proxy = ServiceProxy(self.worker_ctx, service, self.reply_listener)
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
