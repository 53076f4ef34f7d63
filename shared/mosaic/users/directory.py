"""A service's read model of its tenants' users, and the owner check every record write makes.

Users live in the gateway's database, which services never read. The gateway keeps each service's
``tenant_users`` in step: it pushes a user when it creates or deactivates one, and sends the
tenant's whole list (upsert + prune, idempotent) when it syncs a tenant, at its start and from its
readiness check while a push has failed (``mosaic_gateway.user_sync``). A user the service has not
heard of yet is refused as an owner with a clear 422 until the next sync brings it; never taken on
trust, and never refused for longer than the gateway needs to reach the service again.

The caller's own user id is a user of the tenant by construction (the gateway authenticated it and
the context cannot be forged), so a record owned by its creator costs no query.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mosaic.context import RequestContext
from mosaic.db import utcnow
from mosaic.errors import ValidationFailed
from mosaic.users.models import TenantUser

OWNER = "owner_id"
#: the longest user id the read model stores (the gateway's ids are 32 hex characters)
MAX_ID = 64
#: at most this many users in one sync call (a tenant's whole list in one full sync)
MAX_SYNC = 100_000


def _checked_users(users: Any) -> dict[str, bool]:
    """``users`` as {id: active}, or ValidationFailed naming what is wrong."""
    if not isinstance(users, list) or len(users) > MAX_SYNC:
        raise ValidationFailed("users must be a list", errors={"users": [f"a list of at most {MAX_SYNC} users"]})
    out: dict[str, bool] = {}
    for i, user in enumerate(users):
        uid = user.get("id") if isinstance(user, dict) else None
        active = user.get("active", True) if isinstance(user, dict) else None
        if not isinstance(uid, str) or not uid or len(uid) > MAX_ID or not isinstance(active, bool):
            raise ValidationFailed("invalid user in a sync", errors={f"users[{i}]": ["{id: str, active: bool}"]})
        out[uid] = active
    return out


def sync_users(session: Session, users: Any, *, full: bool = False) -> dict:
    """Upsert ``users`` (``[{"id", "active"}]``) into the session's tenant's read model; with
    ``full`` they are the tenant's whole list and every other user of it is dropped. Idempotent:
    the same call twice changes nothing the second time. Returns ``{"upserted", "pruned"}``."""
    tenant = session.info.get("tenant_id")
    if not tenant:
        raise ValueError("sync_users needs a tenant session")
    wanted = _checked_users(users)
    pruned = 0
    if full:
        stale = select(TenantUser.user_id)
        if wanted:
            stale = stale.where(TenantUser.user_id.not_in(sorted(wanted)))
        gone = list(session.scalars(stale))
        if gone:
            pruned = session.execute(delete(TenantUser).where(TenantUser.user_id.in_(gone))).rowcount
    if wanted:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        now = utcnow()
        rows = [{"tenant_id": tenant, "user_id": uid, "active": active, "updated_at": now}
                for uid, active in sorted(wanted.items())]
        table = TenantUser.__table__
        for start in range(0, len(rows), 1000):  # bounded statements for a large tenant
            stmt = insert(TenantUser).values(rows[start:start + 1000])
            # One statement per chunk, not a read then an insert: two gateways may sync at once.
            session.execute(stmt.on_conflict_do_update(
                index_elements=[table.c.tenant_id, table.c.user_id],
                set_={"active": stmt.excluded.active, "updated_at": stmt.excluded.updated_at},
                where=table.c.active != stmt.excluded.active))
    session.flush()
    return {"upserted": len(wanted), "pruned": pruned}


def unknown_users(session: Session, user_ids: Iterable[Any]) -> set[str]:
    """Those of ``user_ids`` that are no user of the session's tenant (deactivated users are
    users). One indexed query for the whole set; a non-string id is never a user."""
    wanted = {u for u in user_ids if u is not None}
    names = {u for u in wanted if isinstance(u, str) and 0 < len(u) <= MAX_ID}
    bad = {str(u) for u in wanted - names}
    if names:
        known = set(session.scalars(select(TenantUser.user_id).where(TenantUser.user_id.in_(sorted(names)))))
        bad |= names - known
    return bad


def owner_error(user_id: Any) -> ValidationFailed:
    """The 422 for an owner that is no user of the tenant."""
    return ValidationFailed("owner_id must be a user of this tenant",
                            errors={OWNER: [f"no user {user_id!r} in this tenant"]})


def check_owner(session: Session, ctx: RequestContext, values: dict, before: dict | None = None) -> None:
    """Refuse a write whose ``owner_id`` names no user of the tenant. Free when the owner does
    not change, is cleared, or is the caller (:data:`RequestContext.user_id`); one primary-key
    lookup otherwise. ``values`` are the write's changes, ``before`` the record (None: a create)."""
    if OWNER not in values:
        return
    owner = values[OWNER]
    if owner is None or owner == ctx.user_id or (before is not None and before.get(OWNER) == owner):
        return
    if unknown_users(session, [owner]):
        raise owner_error(owner)
