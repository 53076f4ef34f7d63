"""The timeline of a contact or an account: its activities and its changes, newest first."""
from __future__ import annotations

from sqlalchemy import select

from mosaic.audit import AuditEntry
from mosaic.errors import ValidationFailed
from mosaic.records import paging
from mosaic.records.store import RecordStore
from mosaic_contacts.models import Activity


def timeline(store: RecordStore, obj_name: str, record_id: str, cursor: str | None = None,
             limit: int = 20) -> dict:
    """A page of ``{"kind": "activity"|"change", "at", ...}`` items, newest first."""
    obj = store.obj(obj_name)
    if obj.name not in ("contact", "account"):
        raise ValidationFailed("timelines exist for contacts and accounts", errors={"object": ["no timeline"]})
    store.allow(obj, "read")
    store.load_row(obj, record_id)  # 404 for unknown ids and ids of other tenants
    if not 1 <= int(limit) <= 200:
        raise ValidationFailed("limit must be between 1 and 200", errors={"limit": ["between 1 and 200"]})
    limit = int(limit)
    after = paging.read_time_cursor(cursor) if cursor else None

    column = Activity.contact_id if obj.name == "contact" else Activity.account_id
    acts = select(Activity).where(column == record_id)
    audits = select(AuditEntry).where(AuditEntry.object == obj.name, AuditEntry.record_id == record_id)
    if after:
        acts = acts.where(paging.before_time(Activity.occurred_at, Activity.id, after))
        audits = audits.where(paging.before_time(AuditEntry.at, AuditEntry.id, after))
    acts = acts.order_by(*paging.newest_first(Activity.occurred_at, Activity.id)).limit(limit + 1)
    audits = audits.order_by(*paging.newest_first(AuditEntry.at, AuditEntry.id)).limit(limit + 1)

    activity_obj = store.obj("activity")
    items = [{"kind": "activity", "at": a.occurred_at, "id": a.id,
              "activity": store.to_api(activity_obj, store.values_of(activity_obj, a))}
             for a in store.session.scalars(acts)]
    items += [{"kind": "change", "at": e.at, "id": e.id, "action": e.action, "actor": e.actor,
               "changes": e.changes} for e in store.session.scalars(audits)]
    items.sort(key=lambda i: (i["at"], i["id"]), reverse=True)
    page = items[:limit]
    next_cursor = paging.time_cursor(page[-1]["at"], page[-1]["id"]) if len(items) > limit else None
    for item in page:
        item["at"] = item["at"].isoformat()
    return {"items": page, "next_cursor": next_cursor}
