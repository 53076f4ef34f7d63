"""The RPC by which the gateway keeps a service's read model of its tenants' users;
:class:`~mosaic.records.service.RecordService` composes it, so every record-hosting service
answers it."""
from __future__ import annotations

from mosaic.context import Tenancy
from mosaic.db.provider import Database
from mosaic.entrypoints import rpc
from mosaic.errors import Forbidden
from mosaic.pieces.base import Piece
from mosaic.users.directory import sync_users


class TenantUsersRpc(Piece):
    """A piece: the tenants' users read model (needs ``ctx = Tenancy(...)`` and a ``data``
    database holding ``tenant_users``)."""

    needs = {"name": str, "ctx": Tenancy, "data": Database}

    @rpc
    def sync_users(self, users, full=False):
        """Upsert the caller's tenant's ``users`` (``[{"id", "active"}]``) into this service's
        read model; ``full``: they are all of them, drop the rest. Only the platform calls it (a
        system context naming the tenant); idempotent, so a retry is always safe. A tenant need
        not have enabled the module: its users are known before it does."""
        ctx = self.ctx.system()
        if not ctx.tenant_id or "system" not in ctx.roles:
            raise Forbidden("only the platform syncs users")
        session = self.data.session
        result = sync_users(session, users, full=bool(full))
        session.commit()
        return {"service": self.name, **result}
