"""Health: the RPCs the gateway asks of every service (readiness, and the tenant's plugins)."""
from __future__ import annotations

from mosaic.context import Tenancy
from mosaic.db.provider import Database
from mosaic.entrypoints import rpc
from mosaic.pieces.base import Piece


class Health(Piece):
    """``ping`` (the gateway's ``/readyz``) and ``sync_tenant`` (the gateway tells every enabled
    service of a tenant's new plugin set). Every service takes it; ``data`` is its database, a
    ``Records`` where it runs plugins (their timers and event handlers read what ``sync_tenant``
    notes)."""

    needs = {"name": str, "ctx": Tenancy, "data": Database}

    @rpc
    def ping(self):
        """Liveness over RPC (the gateway's readiness check)."""
        return {"service": self.name, "ok": True}

    @rpc
    def sync_tenant(self):
        """Record the caller's tenant's enabled plugins (the gateway calls this when they change),
        so timers and event handlers run the right plugins for it."""
        ctx = self.ctx.tenant()
        provider = getattr(self.data, "provider", None)  # a Records: the service runs plugins
        if provider is not None:
            provider.tenant_plugins.note(self.data.engine, ctx.tenant_id, ctx.plugins)
        return {"service": self.name, "plugins": list(ctx.plugins)}
