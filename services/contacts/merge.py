"""Merging duplicates: one record survives, the others are folded into it and deleted."""
from __future__ import annotations

from sqlalchemy import select

from mosaic.audit import record_change
from mosaic.errors import ValidationFailed
from mosaic.metadata.fields import FieldType
from mosaic.records.store import RecordStore
from mosaic_contacts.models import Activity, Contact, MergeRecord, Relationship

MERGEABLE = ("contact", "account")
MAX_MERGE = 10


def _empty(value) -> bool:
    return value is None or value == "" or value == []


def merge(store: RecordStore, obj_name: str, survivor_id: str, merged_ids: list[str],
          pick: dict[str, str] | None = None) -> dict:
    """Merge ``merged_ids`` into ``survivor_id``.

    Field values: ``pick`` may name, per field, the record whose value wins; otherwise the
    survivor keeps its value and an empty one is filled from the first merged record that has it;
    tags are united. Activities, relationships (and, for accounts, contacts) are re-pointed to the
    survivor. The merged records are deleted (``<object>.deleted`` with ``merged_into``), the
    survivor gets one audit entry and a ``<object>.merged`` event listing what was merged, and a
    merge record keeps snapshots of the merged records. The survivor's history always has a
    ``merge`` entry, with the fields it changed (none when the survivor's values all won).
    """
    obj = store.obj(obj_name)
    if obj.name not in MERGEABLE:
        raise ValidationFailed(f"{obj.label} records cannot be merged", errors={"object": ["not mergeable"]})
    ids = list(dict.fromkeys(str(i) for i in merged_ids or ()))
    if not ids:
        raise ValidationFailed("name the records to merge", errors={"merged_ids": ["at least one id"]})
    if survivor_id in ids:
        raise ValidationFailed("a record cannot be merged into itself", errors={"merged_ids": ["contains the survivor"]})
    if len(ids) > MAX_MERGE:
        raise ValidationFailed(f"merge at most {MAX_MERGE} records at once", errors={"merged_ids": ["too many"]})
    pick = pick or {}
    survivor = store.load_row(obj, survivor_id)
    store.allow(obj, "update", survivor)
    losers = [store.load_row(obj, i) for i in ids]
    for row in losers:
        store.allow(obj, "delete", row)
    unknown = [f for f, src in pick.items() if obj.field(f) is None or src not in [survivor_id, *ids]]
    if unknown:
        raise ValidationFailed("pick names unknown fields or records outside the merge",
                               errors={"pick": [f"bad entry {f!r}" for f in unknown]})

    by_id = {row.id: store.values_of(obj, row) for row in [survivor, *losers]}
    kept = by_id[survivor.id]
    values: dict = {}
    for fd in obj.fields:
        if fd.read_only or fd.name in ("id", "version", "created_at", "updated_at"):
            continue
        if fd.name in pick:
            values[fd.name] = by_id[pick[fd.name]].get(fd.name)
        elif fd.type is FieldType.MULTI_PICKLIST:
            union = list(dict.fromkeys(v for rid in [survivor.id, *ids] for v in by_id[rid].get(fd.name) or []))
            values[fd.name] = union or kept.get(fd.name)
        elif _empty(kept.get(fd.name)):
            values[fd.name] = next((by_id[i][fd.name] for i in ids if not _empty(by_id[i].get(fd.name))),
                                   kept.get(fd.name))
    snapshots = [store.to_api(obj, by_id[i]) for i in ids]

    _repoint(store, obj.name, ids, survivor.id)
    for row in losers:
        store.delete_row(obj, row, action="merge", event="deleted", extra={"merged_into": survivor.id})
    changes = store.update_values(obj, survivor, {k: v for k, v in values.items() if v != kept.get(k)},
                                  action="merge")
    if not changes:
        # the survivor's fields won over every merged record's: its history still shows the merge
        api = store.to_api(obj, kept)
        record_change(store.session, store.ctx.actor, obj.name, survivor.id, "merge", api, api)
    store.session.add(MergeRecord(object=obj.name, survivor_id=survivor.id, merged_ids=ids,
                                  snapshots=snapshots, actor=store.ctx.actor))
    store.emit_event(obj, "merged", survivor, {"survivor_id": survivor.id, "merged_ids": ids,
                                               "merged": snapshots})
    return store.to_api(obj, store.values_of(obj, survivor))


def _repoint(store: RecordStore, object_name: str, losers: list[str], survivor: str) -> None:
    """Move what pointed at a merged record onto the survivor, each move audited."""
    activity, relationship = store.obj("activity"), store.obj("relationship")
    column = "contact_id" if object_name == "contact" else "account_id"
    for row in store.session.scalars(select(Activity).where(getattr(Activity, column).in_(losers))):
        store.update_values(activity, row, {column: survivor}, action="merge")
    other = "account_id" if column == "contact_id" else "contact_id"
    existing = {getattr(r, other) for r in store.session.scalars(
        select(Relationship).where(getattr(Relationship, column) == survivor))}
    for row in list(store.session.scalars(select(Relationship).where(getattr(Relationship, column).in_(losers)))):
        if getattr(row, other) in existing:  # the survivor already has this link: drop the copy
            store.delete_row(relationship, row, action="merge")
        else:
            existing.add(getattr(row, other))
            store.update_values(relationship, row, {column: survivor}, action="merge")
    if object_name == "account":
        contact = store.obj("contact")
        for row in store.session.scalars(select(Contact).where(Contact.account_id.in_(losers))):
            store.update_values(contact, row, {"account_id": survivor}, action="merge")
