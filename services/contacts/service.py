"""The contacts service: nameko entrypoints only. Each validates the caller's context, calls one
domain function with a session and returns plain data; writes are committed, with their request
id, by :func:`~mosaic.request_log.write_once`."""
from __future__ import annotations

from sqlalchemy import select

from mosaic.context import Tenancy
from mosaic.entrypoints import rpc
from mosaic.events.consumer import domain_events
from mosaic.imports.service import ImportsService
from mosaic.plugins import get_host
from mosaic.records.service import RecordService
from mosaic.request_log import write_once
from mosaic.telemetry import Tracing
from mosaic_contacts import merge as merging, timeline as timelines
from mosaic_contacts.dependencies import contacts_records
from mosaic_contacts.models import Account, Relationship
from mosaic_contacts.schemas import MergeSchema, load


class ContactsService(RecordService, ImportsService):
    """Accounts, contacts, relationships, activities, and tenants' custom and plugin objects (the
    record API, metadata, processes, rules, event log and automation timers come from the pieces
    :class:`RecordService` composes; CSV import and export from :class:`ImportsService`)."""

    name = "contacts"

    ctx = Tenancy(module="contacts")
    data = contacts_records()
    tracing = Tracing()

    # -- contacts' own actions ------------------------------------------------------------------
    @rpc
    def timeline(self, object_name, record_id, cursor=None, limit=20):
        self.ctx.tenant()
        return timelines.timeline(self.data.store(), object_name, record_id, cursor, limit)

    @rpc
    @write_once
    def merge(self, object_name, record_id, payload):
        self.ctx.tenant()
        body = load(MergeSchema(), payload)
        store = self.data.store()
        return merging.merge(store, object_name, record_id, body["merged_ids"], body["pick"])

    @rpc
    def view_360(self, contact_id):
        """The contacts part of a customer's 360° view: record, account, relationships, timeline."""
        self.ctx.tenant()
        store = self.data.store()
        contact = store.get("contact", contact_id)
        rel_obj, acc_obj = store.obj("relationship"), store.obj("account")
        rels = store.session.scalars(select(Relationship).where(Relationship.contact_id == contact_id)).all()
        account_ids = {r.account_id for r in rels} | ({contact["account_id"]} if contact.get("account_id") else set())
        accounts = {a.id: store.to_api(acc_obj, store.values_of(acc_obj, a))
                    for a in store.session.scalars(select(Account).where(Account.id.in_(account_ids)))}
        return {
            "contact": contact,
            "account": accounts.get(contact.get("account_id")),
            "relationships": [{**store.to_api(rel_obj, store.values_of(rel_obj, r)),
                               "account": accounts.get(r.account_id)} for r in rels],
            "timeline": timelines.timeline(store, "contact", contact_id, None, 10)["items"],
        }

    @domain_events("contacts", lambda: get_host().event_patterns())
    def on_event(self, envelope):
        """Domain events (this service's and others') the loaded plugins asked for: their
        ``mosaic_handle_event`` hooks."""
        self.handle_plugin_event(envelope)
