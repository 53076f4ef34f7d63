"""The caller's identity as it travels between processes.

The gateway authenticates a request and puts tenant, user, roles, enabled modules and plugins and
the trace context into nameko *context data*; nameko carries it in AMQP headers (``nameko.<key>``)
to every downstream call. Services read it through the :class:`Tenancy` dependency, never from
arguments, so a caller cannot forge a tenant by passing one.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from nameko.extensions import DependencyProvider

from mosaic.errors import Forbidden, NotFound, Unauthorized

#: where :meth:`RequestContext.of_worker` keeps a worker's context on its nameko WorkerContext
_WORKER_ATTRIBUTE = "_mosaic_request_context"

KEYS = ("tenant_id", "user_id", "roles", "modules", "plugins", "traceparent", "api_key_id", "request_id")


def _split(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(v for v in value.split(",") if v)
    return tuple(value)


@dataclass(frozen=True)
class RequestContext:
    """Who is calling, for which tenant, with which modules and plugins enabled."""

    tenant_id: str | None = None
    user_id: str | None = None
    roles: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    traceparent: str | None = None
    api_key_id: str | None = None
    #: names one write for :mod:`mosaic.request_log`: the same id twice is the same write (a
    #: redelivery or a client's retry), answered with the first outcome instead of running again
    request_id: str | None = None

    def to_nameko(self) -> dict[str, str]:
        """Context data for a nameko call; lists are comma-joined so any AMQP header table holds them."""
        data = {
            "tenant_id": self.tenant_id,
            "user_id": self.user_id,
            "roles": ",".join(self.roles),
            "modules": ",".join(self.modules),
            "plugins": ",".join(self.plugins),
            "traceparent": self.traceparent,
            "api_key_id": self.api_key_id,
            "request_id": self.request_id,
        }
        return {k: v for k, v in data.items() if v not in (None, "")}

    @classmethod
    def from_nameko(cls, data: dict | None) -> "RequestContext":
        """Rebuild the context from a worker's context data."""
        data = data or {}
        return cls(
            tenant_id=data.get("tenant_id") or None,
            user_id=data.get("user_id") or None,
            roles=_split(data.get("roles")),
            modules=_split(data.get("modules")),
            plugins=_split(data.get("plugins")),
            traceparent=data.get("traceparent") or None,
            api_key_id=data.get("api_key_id") or None,
            request_id=data.get("request_id") or None,
        )

    @classmethod
    def of_worker(cls, worker_ctx) -> "RequestContext":
        """The context of a nameko worker, read from its context data once: each dependency of
        the worker (:class:`Tenancy`, ``Records``) asks for it while they are injected, before
        any ``worker_setup`` (tracing) rewrites the data."""
        ctx = getattr(worker_ctx, _WORKER_ATTRIBUTE, None)
        if ctx is None:
            ctx = cls.from_nameko(worker_ctx.data)
            setattr(worker_ctx, _WORKER_ATTRIBUTE, ctx)
        return ctx

    def with_trace(self, traceparent: str | None) -> "RequestContext":
        """The same context carrying another trace parent."""
        return replace(self, traceparent=traceparent)

    def with_request(self, request_id: str | None) -> "RequestContext":
        """The same context naming another write (see :mod:`mosaic.request_log`)."""
        return replace(self, request_id=request_id)

    @property
    def actor(self) -> str:
        """How audit and events name whoever made a change."""
        if self.user_id:
            return f"user:{self.user_id}"
        if self.api_key_id:
            return f"apikey:{self.api_key_id}"
        return "system"

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def require_tenant(self) -> str:
        """The tenant id, or Unauthorized when the call carries none."""
        if not self.tenant_id:
            raise Unauthorized("this call needs a tenant context")
        return self.tenant_id

    def require_module(self, module: str) -> str:
        """Refuse the call unless ``module`` is enabled for the tenant (services check this too)."""
        tenant = self.require_tenant()
        if module not in self.modules:
            raise NotFound(f"the {module} module is not enabled for this tenant")
        return tenant


class Tenancy(DependencyProvider):
    """Injects the worker's :class:`RequestContext`.

    With ``module`` set, every entrypoint of the service refuses a tenant that has not enabled it,
    so a disabled module is refused by the service itself, not only by the gateway.
    """

    def __init__(self, module: str | None = None):
        self.module = module

    def get_dependency(self, worker_ctx):
        return _Guard(RequestContext.of_worker(worker_ctx), self.module)


class _Guard:
    """What a service sees as ``self.ctx``: the context plus the checks an entrypoint needs."""

    def __init__(self, ctx: RequestContext, module: str | None):
        self.context = ctx
        self.module = module

    def tenant(self) -> RequestContext:
        """The context of a tenant call, checked: tenant present and module enabled."""
        if self.module:
            self.context.require_module(self.module)
        else:
            self.context.require_tenant()
        return self.context

    def system(self) -> RequestContext:
        """The context of a platform call (replay, health); refuses none."""
        return self.context

    def require_role(self, *roles: str) -> RequestContext:
        ctx = self.tenant()
        if not ctx.has_role(*roles, "system"):
            raise Forbidden(f"needs one of the roles: {', '.join(roles)}")
        return ctx
