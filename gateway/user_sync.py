"""Keeps every service's read model of users (``tenant_users``, :mod:`mosaic.users`) in step
with the gateway's users table, so services check a record's ``owner_id`` themselves, in the
write's own transaction, whatever path the write came by.

- **Push**: creating, changing or deactivating a user (and creating a tenant with its first admin)
  sends that user to every service with platform tables, right after the gateway's commit.
- **Full resync** (upsert + prune, idempotent): when the gateway syncs a tenant (its plugins),
  for a tenant whose push failed, and in a sweep of every tenant that starts with the process
  (its embedded start, or its first readiness check) and again every :data:`SWEEP_EVERY`
  seconds, a batch per readiness check.

**When a push fails** (a service is down or slow) the user exists at the gateway but not yet in
that service. The user creation still succeeds: the gateway's users table is the truth and the
read model converges. The tenant is marked *pending* in this process; until a resync succeeds,
a service refuses that user as an owner with a 422 naming ``owner_id`` — a write never passes
unchecked. The refusal does not last: every readiness check (Kubernetes probes it every few
seconds) retries the pending tenants, and an API write naming an owner for a pending tenant
resyncs it first (the gateway has just checked the owner in its own table). A replica that dies
with tenants pending loses nothing: a new process starts with every tenant pending, and the
periodic sweep heals what no process saw (a tenant made by ``mosaic tenant create``).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from mosaic import services
from mosaic.context import RequestContext
from mosaic.errors import MosaicError
from mosaic.rpc import RpcPool
from mosaic_gateway.models import Tenant, User

log = logging.getLogger(__name__)


def users_of(session: Session, tenant_id: str) -> list[dict]:
    """Every user of ``tenant_id`` as the services' read model takes them (inactive ones too)."""
    rows = session.execute(select(User.id, User.active).where(User.tenant_id == tenant_id).order_by(User.id))
    return [{"id": uid, "active": bool(active)} for uid, active in rows]


def user_row(user: User) -> dict:
    """One user as a push sends it."""
    return {"id": user.id, "active": bool(user.active)}


#: how often every tenant's users are resent in full (seconds), whatever this process saw: heals a
#: change made elsewhere (``mosaic tenant create``, another replica that died with a failed push)
SWEEP_EVERY = 600.0
#: at most this many tenants resynced per readiness check (a probe must stay quick)
SWEEP_BATCH = 50


class UserSync:
    """Pushes and resyncs of users for one gateway process (one per app, or per embedded start)."""

    def __init__(self, rpc: RpcPool, clock=time.monotonic):
        self.rpc = rpc
        self.clock = clock
        self._lock = threading.Lock()
        #: tenants a push or resync to some service failed for
        self._pending: set[str] = set()
        #: the tenants the current sweep has still to resync (None: no sweep running)
        self._sweep: list[str] | None = None
        #: when the last sweep finished (None: never, in this process)
        self._swept_at: float | None = None
        #: tenants resynced in full since the last sweep finished (the next one skips them)
        self._synced: set[str] = set()

    @staticmethod
    def targets() -> list[str]:
        """The installed services that keep a read model of users: those hosting records (their
        writes name owners); a read model (``records=False``) checks no owner."""
        return [name for name, spec in services.installed().items() if spec.platform_tables and spec.records]

    def _send(self, tenant_id: str, users: list[dict], full: bool) -> bool:
        ctx = RequestContext(tenant_id=tenant_id, roles=("system",))
        names = self.targets()
        results = self.rpc.call_many([(s, "sync_users", users, full) for s in names], ctx)
        failed = [(s, r) for s, r in zip(names, results) if isinstance(r, MosaicError)]
        for service, error in failed:
            log.warning("users of tenant %s not synced to %s (%s); retried on readiness", tenant_id, service,
                        error.detail)
        return not failed

    def _mark(self, tenant_id: str, ok: bool, full: bool) -> bool:
        with self._lock:
            if not ok:
                self._pending.add(tenant_id)
            elif full:
                self._pending.discard(tenant_id)
                self._synced.add(tenant_id)
        return ok

    def pending(self, tenant_id: str) -> bool:
        """Whether a service may lack some of ``tenant_id``'s users: a push failed, or this
        process has not resynced the tenant since it started."""
        with self._lock:
            return tenant_id in self._pending or (self._swept_at is None and tenant_id not in self._synced)

    def push(self, tenant_id: str, users: Iterable[dict]) -> bool:
        """Send ``users`` (changed ones, after the gateway committed them); on failure the tenant is
        pending. Never raises: the gateway's own change has succeeded whatever a service says."""
        return self._mark(tenant_id, self._send(tenant_id, list(users), full=False), full=False)

    def resync(self, session: Session, tenant_id: str) -> bool:
        """Send all of ``tenant_id``'s users (services drop any others); clears or marks pending."""
        return self._mark(tenant_id, self._send(tenant_id, users_of(session, tenant_id), full=True), full=True)

    def due(self) -> bool:
        """Whether :meth:`catch_up` has anything to do (a readiness check opens no session otherwise)."""
        with self._lock:
            return bool(self._pending) or self._sweep is not None or self._swept_at is None \
                or self.clock() - self._swept_at >= SWEEP_EVERY

    def pending_tenants(self) -> list[str]:
        """The tenants a push or resync failed for, not resynced since."""
        with self._lock:
            return sorted(self._pending)

    def catch_up(self, session: Session, batch: int = SWEEP_BATCH) -> list[str]:
        """One step of keeping the services in step, small enough for a readiness check: resync
        the pending tenants, then up to ``batch`` tenants of the running sweep (a sweep of every
        tenant starts with the process and every :data:`SWEEP_EVERY` seconds). Returns the
        tenants still pending."""
        with self._lock:
            retry = sorted(self._pending)[:batch]
            start = self._sweep is None and (self._swept_at is None or self.clock() - self._swept_at >= SWEEP_EVERY)
        if start:
            everyone = set(session.scalars(select(Tenant.id)))
            with self._lock:
                if self._sweep is None:
                    self._sweep = sorted(everyone - self._synced)
        for tenant_id in retry:
            self.resync(session, tenant_id)
        with self._lock:
            step, self._sweep = (self._sweep[:batch], self._sweep[batch:]) if self._sweep is not None else ([], None)
        for tenant_id in step:
            self.resync(session, tenant_id)
        with self._lock:
            if self._sweep is not None and not self._sweep:
                self._sweep, self._swept_at = None, self.clock()
                self._synced.clear()
            return sorted(self._pending)


def user_sync() -> UserSync:
    """This app's :class:`UserSync` (made on first use: a new process starts with every tenant
    pending)."""
    from flask import current_app

    ext = current_app.extensions["mosaic"]
    found = ext.get("user_sync")
    if found is None:
        found = ext.setdefault("user_sync", UserSync(ext["rpc"]))
    return found
