"""What contacts, accounts and relationships add to the generic record engine."""
from __future__ import annotations

from sqlalchemy import select

from mosaic.db import new_id, utcnow
from mosaic.db.batch import defer_insert
from mosaic.errors import ValidationFailed
from mosaic.records.store import Behaviour
from mosaic_contacts import dedup
from mosaic_contacts.models import Activity, Contact, LifecycleChange, Relationship



class ContactBehaviour(Behaviour):
    """Duplicates (same email or phone: a conflict; alike name and company: reported), the
    timestamped lifecycle, and clean-up of a deleted contact's relationships."""

    exact_reasons = frozenset({"email", "phone"})
    match_keys = ("email_key", "phone_key")
    fuzzy_key, fuzzy_companion = "name_key", "company_name"

    def fuzzy_score(self, key_a, companion_a, key_b, companion_b):
        return dedup.score(key_a, companion_a, key_b, companion_b)

    def bulk_rows(self, writer, record_id, values):
        """A new contact's first lifecycle row, as :meth:`after_save` writes it."""
        return [(LifecycleChange.__table__, {
            "id": writer.next_id(), "tenant_id": writer.tenant_id, "contact_id": record_id, "from_stage": None,
            "to_stage": values["lifecycle_stage"],
            "changed_at": values.get("lifecycle_changed_at") or writer.now, "actor": writer.actor,
        })]

    def duplicates(self, store, obj, values, exclude_id=None):
        return dedup.find_contact_duplicates(store.session, values, exclude_id=exclude_id,
                                             threshold=store.dedup_threshold)

    def duplicate_keys(self, store, obj, values):
        keys = dedup.contact_keys(values)
        return [f"contact.{k}:{keys[k]}" for k in ("email_key", "phone_key") if keys[k]]

    def before_save(self, store, obj, values, before):
        merged = {**(before or {}), **values}
        if not any(merged.get(k) for k in ("first_name", "last_name", "email", "phone", "mobile")):
            raise ValidationFailed("A contact needs a name, an email or a phone.",
                                   errors={"last_name": ["give a name, an email or a phone"]})
        stage = values.get("lifecycle_stage")
        if stage is not None and (before is None or before.get("lifecycle_stage") != stage):
            values["lifecycle_changed_at"] = utcnow()

    def columns(self, store, obj, values):
        return dedup.contact_keys(values)

    def after_save(self, store, obj, row, before, after):
        old = before.get("lifecycle_stage") if before else None
        if after.get("lifecycle_stage") != old:
            # Queued to ride with the transaction's next statement, like the write's audit entry
            # and event (mosaic.db.batch): an append-only row nothing reads back meanwhile.
            defer_insert(store.session, LifecycleChange.__table__, {
                "id": new_id(), "tenant_id": store.session.info["tenant_id"], "contact_id": row.id,
                "from_stage": old, "to_stage": after["lifecycle_stage"],
                "changed_at": after.get("lifecycle_changed_at") or utcnow(), "actor": store.ctx.actor})

    def before_delete(self, store, obj, row, before):
        rel = store.obj("relationship")
        for r in store.session.scalars(select(Relationship).where(Relationship.contact_id == row.id)):
            store.delete_row(rel, r)


class AccountBehaviour(Behaviour):
    """Look-alike accounts (fuzzy name, reported, never a conflict), and what happens to an
    account's people when it is deleted."""

    def duplicates(self, store, obj, values, exclude_id=None):
        return dedup.find_account_duplicates(store.session, values, exclude_id=exclude_id,
                                             threshold=store.dedup_threshold)

    def columns(self, store, obj, values):
        return {"name_key": dedup.name_key(values.get("name"))}

    def before_delete(self, store, obj, row, before):
        rel, contact = store.obj("relationship"), store.obj("contact")
        for r in store.session.scalars(select(Relationship).where(Relationship.account_id == row.id)):
            store.delete_row(rel, r)
        for c in store.session.scalars(select(Contact).where(Contact.account_id == row.id)):
            store.update_values(contact, c, {"account_id": None})
        activity = store.obj("activity")
        for a in store.session.scalars(select(Activity).where(Activity.account_id == row.id)):
            store.update_values(activity, a, {"account_id": None})


class ActivityBehaviour(Behaviour):
    """An activity is about someone: a contact, an account or another record."""

    def before_save(self, store, obj, values, before):
        merged = {**(before or {}), **values}
        if not (merged.get("contact_id") or merged.get("account_id") or merged.get("related_id")):
            raise ValidationFailed("An activity needs a contact, an account or a related record.",
                                   errors={"contact_id": ["link the activity to a contact, an account or a record"]})
        if before is None and values.get("occurred_at") is None:
            values["occurred_at"] = utcnow()

    def after_save(self, store, obj, row, before, after):
        if before is None:
            store.emit_event(obj, "logged", row, {"record": store.to_api(obj, after)})


def build_behaviours() -> dict:
    """Behaviours by object name."""
    return {"contact": ContactBehaviour(), "account": AccountBehaviour(), "activity": ActivityBehaviour()}
