"""The contacts service: nameko entrypoints only. Each validates the caller's context, calls one
domain function with a session, commits, and returns plain data."""
from __future__ import annotations

import eventlet
from mosaic.entrypoints import rpc
from nameko.timer import timer
from sqlalchemy import select

from mosaic.context import Tenancy
from mosaic.events.consumer import domain_events
from mosaic.plugins import get_host
from mosaic.records.service import RecordService
from mosaic.telemetry import Tracing
from mosaic_contacts import exporter, importer, merge as merging, timeline as timelines
from mosaic_contacts.dependencies import contacts_records
from mosaic_contacts.models import Account, Relationship
from mosaic_contacts.schemas import MergeSchema, load


class ContactsService(RecordService):
    """Accounts, contacts, relationships, activities, and tenants' custom and plugin objects (the
    record API, processes, rules and webhooks come from :class:`RecordService`)."""

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
    def merge(self, object_name, record_id, payload):
        self.ctx.tenant()
        body = load(MergeSchema(), payload)
        store = self.data.store()
        record = merging.merge(store, object_name, record_id, body["merged_ids"], body["pick"])
        store.session.commit()
        return record

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

    def _threshold(self) -> int:
        return self.data.settings.dedup_threshold

    # -- CSV import and export (mosaic_contacts.importer / exporter) ---------------------------------
    @rpc
    def import_start(self, object_name, policy="skip", filename=None, header=None, forbidden=None):
        """Open an import job after checking the CSV header; the gateway then sends the chunks."""
        self.ctx.tenant()
        store = self.data.store()
        job = importer.start_import(store, object_name, policy, filename, header, forbidden)
        store.session.commit()
        return job

    @rpc
    def import_chunk(self, job_id, seq, text, rows=0):
        """Store one piece (whole CSV records, no header) of an upload."""
        ctx = self.ctx.tenant()
        result = importer.add_chunk(self.data.session, ctx, job_id, seq, text, rows)
        self.data.session.commit()
        return result

    @rpc
    def import_commit(self, job_id, total_rows):
        """Queue an uploaded job; the ``run_imports`` timer processes it."""
        ctx = self.ctx.tenant()
        job = importer.commit_import(self.data.session, ctx, job_id, total_rows)
        self.data.session.commit()
        return job

    @rpc
    def import_abort(self, job_id, reason=None):
        """Give up an unfinished upload."""
        ctx = self.ctx.tenant()
        job = importer.abort_import(self.data.session, ctx, job_id, reason)
        self.data.session.commit()
        return job

    @rpc
    def import_status(self, job_id):
        """A job's progress and outcome."""
        return importer.get_job(self.data.session, self.ctx.tenant(), job_id)

    @rpc
    def list_imports(self, limit=50):
        """The caller's recent import jobs (every user's for an admin)."""
        return importer.list_jobs(self.data.session, self.ctx.tenant(), limit)

    @rpc
    def import_errors(self, job_id, after=0, limit=1000):
        """A page of a job's rejected rows."""
        return importer.job_errors(self.data.session, self.ctx.tenant(), job_id, after, limit)

    @rpc
    def export_page(self, object_name, filter=None, sort=None, cursor=None, fields=None, limit=2000):
        """One page of a CSV export of a filtered list (cells already formatted)."""
        self.ctx.tenant()
        return exporter.export_page(self.data.store(), object_name, filter=filter, sort=sort,
                                    cursor=cursor, fields=fields, limit=limit)

    @domain_events("contacts", lambda: get_host().event_patterns())
    def on_event(self, envelope):
        """Domain events (this service's and others') the loaded plugins asked for: their
        ``mosaic_handle_event`` hooks."""
        self.handle_plugin_event(envelope)

    @timer(interval=1)
    def run_imports(self):
        """Process queued imports, and take over those whose process died, a few seconds a tick."""
        importer.run_pending(self.data.engine, self.data.registry, self.data.behaviours,
                             module=self.data.module, pause=eventlet.sleep, threshold=self._threshold())
