"""What a record write names that its service cannot check alone: the record's owner (a user, and
users live in the gateway's database, which services never read) and the record an activity is
about when another service hosts it (asked of that service by RPC).

Route modules call :func:`check_write` for JSON writes and wrap an import's CSV records in
:func:`checked_import_records`; a name that does not resolve is a 422 naming the field.
"""
from __future__ import annotations

from typing import Iterable, Iterator

from sqlalchemy import select

from mosaic.errors import NotFound, ValidationFailed
from mosaic_gateway import auth
from mosaic_gateway.models import User
from mosaic_gateway.web import call, context, directory

OWNER = "owner_id"
#: an activity (or any object with both fields) may be about a record of any object
RELATED_OBJECT, RELATED_ID = "related_object", "related_id"


def unknown_users(tenant_id: str, user_ids: Iterable[str]) -> set[str]:
    """Those of ``user_ids`` that are no user of ``tenant_id`` (deactivated users still are:
    their records keep them as owners, and imports of history name them)."""
    wanted = {u for u in user_ids if isinstance(u, str)}
    if not wanted:
        return set()
    # the request's session when one is open (on SQLite a second connection would wait for it)
    with auth._read_session() as (session, _owned):  # noqa: SLF001 - the gateway's own look-up helper
        known = set(session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.id.in_(wanted))))
    return wanted - known


def check_owner(data: dict) -> None:
    """422 unless the body's ``owner_id`` (when given and not null) is a user of the caller's
    tenant. A non-string is left to the service's schema, which names its type."""
    owner = data.get(OWNER)
    if isinstance(owner, str) and unknown_users(auth.authenticate().tenant_id, [owner]):
        raise ValidationFailed("owner_id must be a user of this tenant",
                               errors={OWNER: [f"no user {owner!r} in this tenant"]})


def check_related(obj: dict, data: dict, record_id: str | None = None) -> None:
    """For an object with ``related_object``/``related_id``: when they name an object another
    service hosts, that service must have the record (its ``get_record``); 422 otherwise, and
    for an object the tenant does not have at all. Records of the object's own service are
    checked by the service, in the write's transaction."""
    names = {f["name"] for f in obj.get("fields", ())}
    if not {RELATED_OBJECT, RELATED_ID} <= names or not ({RELATED_OBJECT, RELATED_ID} & set(data)):
        return
    current: dict = {}
    if record_id is not None and not {RELATED_OBJECT, RELATED_ID} <= set(data):
        current = call(obj["service"], "get_record", obj["name"], record_id, [RELATED_OBJECT, RELATED_ID])
    target = data.get(RELATED_OBJECT, current.get(RELATED_OBJECT))
    related = data.get(RELATED_ID, current.get(RELATED_ID))
    if not isinstance(target, str) or not target or not isinstance(related, str) or not related:
        return  # nothing named, or half of it / a wrong type: the service's checks answer that
    ctx = context()
    try:
        host = directory().by_name(ctx, target)
    except NotFound:
        raise ValidationFailed("related_object must be an object of this tenant",
                               errors={RELATED_OBJECT: [f"no object {target!r} in this tenant"]}) from None
    if host["service"] == obj["service"]:
        return
    try:
        call(host["service"], "get_record", target, related, ["id"])
    except NotFound:
        raise ValidationFailed("related_id must name a record of related_object",
                               errors={RELATED_ID: [f"no {host.get('label', target)} with id {related}"]}) from None


def check_write(obj: dict, data: dict, record_id: str | None = None) -> None:
    """Every check of this module for a create (``record_id`` None) or a PATCH body."""
    check_owner(data)
    check_related(obj, data, record_id)


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
            known.add(owner)
        yield record
