"""The CSV import and export entrypoints a record-hosting service composes into its nameko class
(``class ContactsService(RecordService, ImportsService)``; its ``ServiceSpec`` says
``imports=True`` so the gateway sends it imports). Entry points are thin: the work is in
:mod:`mosaic.imports.jobs` and :mod:`mosaic.imports.export`."""
from __future__ import annotations

import eventlet
from nameko.timer import timer

from mosaic.context import Tenancy
from mosaic.entrypoints import rpc
from mosaic.imports import export, jobs
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records
from mosaic.request_log import write_once


class ImportsService(Piece):
    """Import jobs (upload in chunks, processed a batch at a time by :meth:`run_imports`) and
    paged exports of the service's objects: a piece (:mod:`mosaic.pieces`) whose ``ctx`` and
    ``data`` come from the service class."""

    needs = {"ctx": Tenancy, "data": Records}

    @rpc
    @write_once
    def import_start(self, object_name, policy="skip", filename=None, header=None, forbidden=None):
        """Open an import job after checking the CSV header; the gateway then sends the chunks."""
        self.ctx.tenant()
        store = self.data.store()
        job = jobs.start_import(store, object_name, policy, filename, header, forbidden)
        return job

    @rpc
    @write_once
    def import_chunk(self, job_id, seq, text, rows=0):
        """Store one piece (whole CSV records, no header) of an upload."""
        ctx = self.ctx.tenant()
        result = jobs.add_chunk(self.data.session, ctx, job_id, seq, text, rows)
        return result

    @rpc
    @write_once
    def import_commit(self, job_id, total_rows):
        """Queue an uploaded job; the ``run_imports`` timer processes it."""
        ctx = self.ctx.tenant()
        job = jobs.commit_import(self.data.session, ctx, job_id, total_rows)
        return job

    @rpc
    @write_once
    def import_abort(self, job_id, reason=None):
        """Give up an unfinished upload."""
        ctx = self.ctx.tenant()
        job = jobs.abort_import(self.data.session, ctx, job_id, reason)
        return job

    @rpc
    def import_status(self, job_id):
        """A job's progress and outcome."""
        return jobs.get_job(self.data.session, self.ctx.tenant(), job_id)

    @rpc
    def list_imports(self, limit=50):
        """The caller's recent import jobs (every user's for an admin)."""
        return jobs.list_jobs(self.data.session, self.ctx.tenant(), limit)

    @rpc
    def import_errors(self, job_id, after=0, limit=1000):
        """A page of a job's rejected rows."""
        return jobs.job_errors(self.data.session, self.ctx.tenant(), job_id, after, limit)

    @rpc
    def export_page(self, object_name, filter=None, sort=None, cursor=None, fields=None, limit=2000):
        """One page of a CSV export of a filtered list (cells already formatted)."""
        self.ctx.tenant()
        return export.export_page(self.data.store(), object_name, filter=filter, sort=sort,
                                    cursor=cursor, fields=fields, limit=limit)

    @timer(interval=1)
    def run_imports(self):
        """Process queued imports, and take over those whose process died, a few seconds a tick."""
        jobs.run_pending(self.data.engine, self.data.registry, self.data.behaviours,
                         module=self.data.module, pause=eventlet.sleep, threshold=self.data.settings.dedup_threshold,
                         remote=self.data.provider.remote)
