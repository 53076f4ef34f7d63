"""Which objects a tenant has, and which service hosts each: asked of the enabled services that
host records (their ``describe``; a read model has none), cached briefly per tenant, dropped at
once when this gateway changes metadata. When the entry of a busy tenant expires, its concurrent
requests wait for one round of ``describe`` calls rather than each making its own."""
from __future__ import annotations

from mosaic import services as installed_services
from mosaic.context import RequestContext
from mosaic.errors import MosaicError, NotFound
from mosaic.rpc import RpcPool
from mosaic_gateway.cache import TTLCache

TTL = 5.0


class ObjectDirectory:
    """``directory.objects(ctx)`` → {url path: object definition dict (with its ``service``)}."""

    def __init__(self, rpc: RpcPool, ttl: float = TTL):
        self.rpc = rpc
        self.ttl = ttl
        self._cache = TTLCache(ttl)

    def objects(self, ctx: RequestContext) -> dict[str, dict]:
        # keyed by the modules and plugins too: enabling one changes what the tenant has at once
        return self._cache.get_or_load((ctx.tenant_id, ctx.modules, ctx.plugins), lambda: self._describe(ctx))

    def _describe(self, ctx: RequestContext) -> dict[str, dict]:
        found: dict[str, dict] = {}
        calls = [(s, "describe") for s in installed_services.hosting_records(ctx.modules)]
        for result in self.rpc.call_many(calls, ctx):
            if isinstance(result, MosaicError):
                raise result
            for obj in result:
                found[obj["plural"]] = obj
        return found

    def get(self, ctx: RequestContext, path: str) -> dict:
        """The object at URL ``path`` for this tenant, or 404 (also when its module is disabled)."""
        obj = self.objects(ctx).get(path)
        if obj is None:
            raise NotFound(f"no such resource: /api/v1/{path}")
        return obj

    def by_name(self, ctx: RequestContext, name: str) -> dict:
        for obj in self.objects(ctx).values():
            if obj["name"] == name:
                return obj
        raise NotFound(f"no object {name!r} in this tenant")

    def invalidate(self, tenant_id: str) -> None:
        """Forget the tenant's objects (this gateway changed its metadata)."""
        self._cache.invalidate_where(lambda key: key[0] == tenant_id)
