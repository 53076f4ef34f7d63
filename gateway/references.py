"""The gateway's early check of what a record write names: its owner must be a user of the
caller's tenant. Users live in the gateway's database, so this check is one query and no RPC
(none at all for a user it has seen: :class:`KnownUsers`), and answers with a clear 422 before
anything is sent.

The services check the same themselves, in the write's transaction, for every path a write can
take (automation, plugins, imports): the owner against their read model of users, which
:mod:`mosaic_gateway.user_sync` keeps in step, and a record another service hosts
(``related_object``/``related_id``, cross-service lookups) by asking that service
(:mod:`mosaic.records.references`). When a push of users to the services has failed, a write
naming an owner resyncs the tenant's users first, so the service's check passes for a user the
gateway has.

Route modules call :func:`check_write` for JSON writes and wrap an import's CSV records in
:func:`checked_import_records`; a name that does not resolve is a 422 naming the field.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Iterable, Iterator

from sqlalchemy import select

from mosaic.errors import ValidationFailed
from mosaic_gateway import auth
from mosaic_gateway.models import User
from mosaic_gateway.user_sync import user_sync

OWNER = "owner_id"


class KnownUsers:
    """(tenant, user) pairs known to be users, bounded, least recently used dropped first. Only a
    "yes" is kept: users are deactivated, never deleted, so a user stays a valid owner and the
    entry never goes stale; a "no" is never kept, so a user created a moment ago is found."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: tuple[str, str]) -> bool:
        with self._lock:
            if key in self._known:
                self._known.move_to_end(key)
                return True
        return False

    def add(self, keys: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            for key in keys:
                self._known[key] = None
                self._known.move_to_end(key)
            while len(self._known) > self.size:
                self._known.popitem(last=False)


_known_users = KnownUsers()


def unknown_users(tenant_id: str, user_ids: Iterable[str]) -> set[str]:
    """Those of ``user_ids`` that are no user of ``tenant_id`` (deactivated users still are:
    their records keep them as owners, and imports of history name them)."""
    wanted = {u for u in user_ids if isinstance(u, str) and (tenant_id, u) not in _known_users}
    if not wanted:
        return set()
    # the request's session when one is open (on SQLite a second connection would wait for it)
    with auth._read_session() as (session, _owned):  # noqa: SLF001 - the gateway's own look-up helper
        known = set(session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.id.in_(wanted))))
    _known_users.add((tenant_id, u) for u in known)
    return wanted - known


def _services_know_users(tenant_id: str) -> None:
    """Resync the tenant's users to the services first if a push to one of them failed: the
    owner is a user here, and the service must not refuse it for want of a sync."""
    sync = user_sync()
    if sync.pending(tenant_id):
        with auth._read_session() as (session, _owned):  # noqa: SLF001
            sync.resync(session, tenant_id)


def check_owner(data: dict) -> None:
    """422 unless the body's ``owner_id`` (when given and not null) is a user of the caller's
    tenant. A non-string is left to the service's schema, which names its type."""
    owner = data.get(OWNER)
    if not isinstance(owner, str):
        return
    tenant = auth.authenticate().tenant_id
    if unknown_users(tenant, [owner]):
        raise ValidationFailed("owner_id must be a user of this tenant",
                               errors={OWNER: [f"no user {owner!r} in this tenant"]})
    _services_know_users(tenant)


def check_write(obj: dict, data: dict, record_id: str | None = None) -> None:
    """The gateway's checks of a create (``record_id`` None) or a PATCH body of ``obj``'s records."""
    check_owner(data)


def checked_import_records(header: list[str], records: Iterable[list[str]]) -> Iterator[list[str]]:
    """An import's CSV records (after the header) as they stream to the service, refusing the
    upload with a 422 at the first ``owner_id`` that is no user of the tenant — before the job is
    committed, so nothing of it is imported. Each distinct owner is looked up once."""
    names = [h.strip() for h in header]
    if OWNER not in names:
        yield from records
        return
    column = names.index(OWNER)
    tenant = auth.authenticate().tenant_id
    known: set[str] = set()
    for line, record in enumerate(records, start=2):  # line 1 is the header
        owner = record[column].strip() if column < len(record) else ""
        if owner and owner not in known:
            if unknown_users(tenant, [owner]):
                raise ValidationFailed(f"owner_id on CSV row {line} is no user of this tenant",
                                       errors={OWNER: [f"row {line}: no user {owner!r} in this tenant"]})
            if not known:
                _services_know_users(tenant)
            known.add(owner)
        yield record
