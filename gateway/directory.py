"""Which objects a tenant has, and which service hosts each: asked of the enabled services that
host records (their ``describe``; a read model has none), cached briefly per tenant, dropped at
once when this gateway changes metadata."""
from __future__ import annotations

import threading
import time

from mosaic import services as installed_services
from mosaic.context import RequestContext
from mosaic.errors import MosaicError, NotFound
from mosaic.rpc import RpcPool

TTL = 5.0


class ObjectDirectory:
    """``directory.objects(ctx)`` → {url path: object definition dict (with its ``service``)}."""

    def __init__(self, rpc: RpcPool, ttl: float = TTL):
        self.rpc = rpc
        self.ttl = ttl
        self._cache: dict[tuple, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def objects(self, ctx: RequestContext) -> dict[str, dict]:
        key = (ctx.tenant_id, ctx.modules, ctx.plugins)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        services = installed_services.hosting_records(ctx.modules)
        found: dict[str, dict] = {}
        for result in self.rpc.call_many([(s, "describe") for s in services], ctx):
            if isinstance(result, MosaicError):
                raise result
            for obj in result:
                found[obj["plural"]] = obj
        with self._lock:
            self._cache[key] = (now, found)
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
        with self._lock:
            for key in [k for k in self._cache if k[0] == tenant_id]:
                del self._cache[key]
