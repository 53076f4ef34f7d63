"""Records a write names that another service hosts: a ``related_object``/``related_id`` pair (an
activity about a deal) or a lookup field to another service's object. The writing service asks the
hosting service during the write (its ``get_record``), whatever path the write came by (the API,
an automation rule, a plugin, an import), in both run modes: the call goes over nameko RPC, on
RabbitMQ or on the embedded mode's in-process broker.

Where an object lives is asked of the other services (their ``object_names``) and cached briefly
per tenant. An object no service hosts is a 422 naming ``related_object``; a record the host does
not have, a 422 naming ``related_id``; a host that is down or does not answer in time, a
ServiceUnavailable (503) — never a 500 and never a write that silently skips the check.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from nameko.containers import WorkerContext

from mosaic import services as installed
from mosaic.calls import Caller
from mosaic.context import RequestContext
from mosaic.errors import NotFound, ServiceUnavailable
from mosaic.metadata.cache import LRUCache

#: how long a service trusts what another told it of the objects it hosts (seconds); a custom
#: object created in another service is seen at most this much later
NAMES_TTL = 5.0
#: at most this many (tenant, service, plugins) answers are kept
NAMES_CACHED = 4096


class _Origin:
    """The entrypoint a check's RPC names as its origin in nameko's call id stack."""

    method_name = "check_reference"


class RemoteRecords:
    """The checks of one service (``own``) against the others, over ``reply_listener``."""

    def __init__(self, container, reply_listener, own: str, timeout: float, ttl: float = NAMES_TTL):
        self.container = container
        self.reply_listener = reply_listener
        self.own = own
        self.timeout = timeout
        self.ttl = ttl
        self._names: LRUCache = LRUCache(NAMES_CACHED)

    # -- calls ---------------------------------------------------------------------------------
    def _context(self, ctx: RequestContext, service: str) -> RequestContext:
        """The context a check calls ``service`` with: the caller's own, so the host applies the
        same permissions. The platform acting for a tenant (a job, an event handler: role
        ``system``) knows only its own module; it may check any service's records."""
        if "system" in ctx.roles and service not in ctx.modules:
            return replace(ctx, modules=(*ctx.modules, service))
        return ctx

    def call(self, ctx: RequestContext, service: str, method: str, *args: Any) -> Any:
        """``service.method(*args)`` as ``ctx``; typed errors come back typed
        (:class:`mosaic.calls.Caller`)."""
        worker_ctx = WorkerContext(self.container, None, _Origin(), data=self._context(ctx, service).to_nameko())
        return Caller(worker_ctx, self.reply_listener, self.timeout).call(service, method, *args)

    # -- where objects live ----------------------------------------------------------------------
    def _candidates(self, ctx: RequestContext) -> list[str]:
        """The other services that may host a tenant's object: those it enabled (every installed
        one for the platform, which acts for the tenant whatever it enabled); read models host none."""
        names = [s for s in installed.names() if s != self.own and installed.get(s).records]
        if "system" in ctx.roles:
            return names
        return [s for s in names if s in ctx.modules]

    def names_of(self, ctx: RequestContext, service: str) -> frozenset[str]:
        """The objects ``service`` hosts for ``ctx``'s tenant (cached :data:`NAMES_TTL`)."""
        key = (ctx.tenant_id, service, ctx.plugins)
        now = time.monotonic()
        hit = self._names.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        names = frozenset(self.call(ctx, service, "object_names"))
        self._names.put(key, (now, names))
        return names

    def host_of(self, ctx: RequestContext, object_name: str) -> str | None:
        """The service hosting ``object_name`` for ``ctx``'s tenant, None when none does.
        ServiceUnavailable when none that answered does and one did not answer."""
        down: ServiceUnavailable | None = None
        for service in self._candidates(ctx):
            try:
                if object_name in self.names_of(ctx, service):
                    return service
            except ServiceUnavailable as exc:
                down = exc
        if down is not None:
            raise down
        return None

    # -- the check ---------------------------------------------------------------------------------
    def errors(self, ctx: RequestContext, object_name: str, record_id: Any, *,
               object_field: str, id_field: str) -> dict[str, list[str]]:
        """The field errors of a reference to record ``record_id`` of ``object_name`` (not an
        object of this service): ``object_field`` names the object, ``id_field`` the record."""
        host = self.host_of(ctx, object_name)
        if host is None:
            return {object_field: [f"no object {object_name!r} in this tenant"]}
        try:
            self.call(ctx, host, "get_record", object_name, str(record_id), ["id"])
        except NotFound:
            return {id_field: [f"no {object_name} with id {record_id}"]}
        return {}

