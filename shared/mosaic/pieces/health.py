"""Health: the RPCs the gateway asks of every service (readiness, and the tenant's plugins)."""
from __future__ import annotations

from mosaic.context import Tenancy
from mosaic.entrypoints import rpc
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records


class Health(Piece):
    """``ping`` (the gateway's ``/readyz``) and ``sync_tenant`` (the gateway tells every enabled
    service of a tenant's new plugin set). Every service takes it."""

    needs = {"name": str, "ctx": Tenancy, "data": Records}

    @rpc
    def ping(self):
        """Liveness over RPC (the gateway's readiness check)."""
        return {"service": self.name, "ok": True}

    @rpc
    def sync_tenant(self):
        """Record the caller's tenant's enabled plugins (the gateway calls this when they change),
        so timers and event handlers run the right plugins for it."""
        ctx = self.ctx.tenant()
        self.data.provider.tenant_plugins.note(self.data.engine, ctx.tenant_id, ctx.plugins)
        return {"service": self.name, "plugins": list(ctx.plugins)}
