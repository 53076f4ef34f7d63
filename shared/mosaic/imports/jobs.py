"""CSV import jobs: upload in chunks, then processing in batches by the service's timer.

Upload (the gateway, on behalf of a caller): :func:`start_import` checks the header and creates
the job, :func:`add_chunk` stores whole CSV records (no header) about 1 MiB at a time,
:func:`commit_import` queues it. Processing (:func:`run_pending`, from a nameko timer, no caller)
claims a queued job — or one whose process died, found by its stale heartbeat — and works
through its rows a batch at a time. Each batch is ONE transaction holding the batch's records,
audit entries, events, row errors and the job's advanced cursor and counters: a process killed at
any point leaves whole batches only, and whoever takes the job over resumes after the last one.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import socket
import time
from datetime import timedelta
from itertools import islice
from typing import Callable, Iterator

from sqlalchemy import and_, delete, insert, or_, select
from sqlalchemy.orm import Session

from mosaic.context import RequestContext
from mosaic.db import new_id, system_session, tenant_session, utcnow
from mosaic.db.engine import statement_role
from mosaic.errors import BadRequest, Conflict, Forbidden, MosaicError, NotFound, ServiceUnavailable, ValidationFailed
from mosaic.metadata.fields import FieldType, ObjectDef
from mosaic.metadata.registry import ObjectRegistry
from mosaic.metadata.values import format_datetime
from mosaic.records.provider import build_store, tenant_plugins_of
from mosaic.records.store import RecordStore
from mosaic.imports.bulk import BulkWriter, apply_updates
from mosaic.imports.models import ImportChunk, ImportJob, ImportRowError
from mosaic.imports.batches import BatchSorter
from mosaic.imports.rows import RowPlan

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
#: a running job whose heartbeat is older than this is taken over (its process is presumed dead)
STALE_AFTER = 60.0
#: an upload never committed within this long is abandoned and its chunks deleted
UPLOAD_TIMEOUT = 3600.0
#: how long one timer tick works on a job before handing back (the job stays claimed)
TICK_BUDGET = 10.0
MAX_CHUNK_CHARS = 8 * 1024 * 1024
MAX_COLUMNS = 500
#: this process, as the ``claimed_by`` of the jobs it works on
PROCESS_TOKEN = f"{socket.gethostname()[:32]}:{os.getpid()}:{new_id()[-12:]}"


class LostClaim(RuntimeError):
    """Another process took the job over (this one was presumed dead); stop without writing."""


# -- the header --------------------------------------------------------------------------------
def map_header(obj: ObjectDef, header: list[str], forbidden: set[str] | frozenset = frozenset()) -> list[str | None]:
    """The field each column feeds (None for an unnamed column, ignored).

    A column names a field by its name or its label, case-insensitively. Unknown, duplicated and
    read-only columns are refused (422, each named); ``id`` is accepted, to match records for
    updates. Fields in ``forbidden`` (the caller's field permissions) are refused with 403.
    """
    if not isinstance(header, list) or not header or not all(isinstance(h, str) for h in header):
        raise ValidationFailed("the CSV needs a header row naming its columns",
                               errors={"header": ["missing or empty"]})
    if len(header) > MAX_COLUMNS:
        raise ValidationFailed(f"at most {MAX_COLUMNS} columns", errors={"header": ["too many columns"]})
    by_key = {f.name.lower(): f for f in obj.fields}
    for f in obj.fields:
        if f.label:
            by_key.setdefault(f.label.strip().lower(), f)
    columns: list[str | None] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    denied: list[str] = []
    for raw in header:
        key = raw.strip().lower()
        if not key:
            columns.append(None)
            continue
        fd = by_key.get(key)
        if fd is None:
            problems.append(f"unknown column {raw!r}")
        elif fd.name != "id" and (fd.read_only or fd.type is FieldType.FORMULA):
            problems.append(f"column {raw!r} is the read-only field {fd.name!r}")
        elif fd.name in seen:
            problems.append(f"columns {seen[fd.name]!r} and {raw!r} both set {fd.name!r}")
        elif fd.name in forbidden:
            denied.append(fd.name)
        if fd is not None:
            seen.setdefault(fd.name, raw)
        columns.append(fd.name if fd is not None else None)
    if problems:
        raise ValidationFailed(f"the CSV header does not fit {obj.label} records: " + "; ".join(problems),
                               errors={"header": problems})
    if denied:
        raise Forbidden("you may not write these fields",
                        errors={name: ["not writable for your roles"] for name in denied})
    if not any(c not in (None, "id") for c in columns):
        raise ValidationFailed("the CSV has no column to import", errors={"header": ["no field columns"]})
    return columns


# -- the upload (RPC, on behalf of a caller) -------------------------------------------------------
def job_dict(job: ImportJob) -> dict:
    """A job as the API shows it."""
    return {
        "id": job.id, "object": job.object, "status": job.status, "policy": job.policy,
        "filename": job.filename, "total_rows": job.total_rows, "rows_done": job.rows_done,
        "created": job.created, "updated": job.updated, "skipped": job.skipped, "failed": job.failed,
        "error": job.error, "header": list(job.header or []),
        "created_at": format_datetime(job.created_at) if job.created_at else None,
        "finished_at": format_datetime(job.finished_at) if job.finished_at else None,
    }


#: what an import does with a row matching an existing record (or an earlier row of the file)
POLICIES = ("skip", "update", "create")


def _options(policy: str | None, filename) -> dict:
    """The job's options, checked: ``{"policy", "filename"}``."""
    policy = policy or "skip"
    errors: dict[str, list[str]] = {}
    if policy not in POLICIES:
        errors["policy"] = [f"Must be one of: {', '.join(POLICIES)}."]
    if filename is not None and (not isinstance(filename, str) or len(filename) > 255):
        errors["filename"] = ["a file name of at most 255 characters"]
    if errors:
        raise ValidationFailed("Request is invalid.", errors=errors)
    return {"policy": policy, "filename": filename}


def start_import(store: RecordStore, obj_name: str, policy: str, filename: str | None,
                 header: list[str], forbidden: list[str] | None = None) -> dict:
    """Create an ``uploading`` job for ``obj_name`` after checking the caller may create (and,
    with the update policy, update) its records and that ``header`` fits the object."""
    body = _options(policy, filename)
    obj = store.obj(obj_name)
    store.allow(obj, "create")
    if body["policy"] == "update":
        store.allow(obj, "update")
    columns = map_header(obj, header, frozenset(forbidden or ()))
    ctx = store.ctx
    job = ImportJob(id=new_id(), object=obj.name, status="uploading", policy=body["policy"],
                    filename=body["filename"], actor=ctx.actor, header=list(header), columns=columns,
                    roles=",".join(ctx.roles), modules=",".join(ctx.modules), created_at=utcnow())
    store.session.add(job)
    store.session.flush()
    return job_dict(job)


def _own_job(session: Session, ctx: RequestContext, job_id: str, *, lock: bool = False) -> ImportJob:
    stmt = select(ImportJob).where(ImportJob.id == str(job_id))
    if lock:
        stmt = stmt.with_for_update()
    job = session.scalars(stmt).first()
    if job is None or (job.actor != ctx.actor and not ctx.has_role("admin", "system")):
        raise NotFound(f"import {job_id} not found")
    return job


def _uploading(session: Session, ctx: RequestContext, job_id: str) -> ImportJob:
    job = _own_job(session, ctx, job_id, lock=True)
    if job.actor != ctx.actor:
        raise NotFound(f"import {job_id} not found")
    if job.status != "uploading":
        raise Conflict(f"import {job_id} is {job.status}, not uploading")
    return job


def add_chunk(session: Session, ctx: RequestContext, job_id: str, seq: int, text: str, rows: int = 0) -> dict:
    """Store piece ``seq`` (0, 1, 2, ...) of the job's CSV: whole records, no header."""
    job = _uploading(session, ctx, job_id)
    if not isinstance(seq, int) or seq < 0:
        raise BadRequest("seq must be a whole number from 0", errors={"seq": ["not a sequence number"]})
    if not isinstance(text, str) or len(text) > MAX_CHUNK_CHARS:
        raise BadRequest("a chunk is CSV text of at most 8 MiB", errors={"text": ["too large or not text"]})
    exists = session.scalar(select(ImportChunk.id).where(ImportChunk.job_id == job.id, ImportChunk.seq == seq))
    if exists is not None:
        raise Conflict(f"chunk {seq} of import {job_id} was already uploaded")
    session.add(ImportChunk(job_id=job.id, seq=seq, rows=max(0, int(rows or 0)), data=text))
    session.flush()
    return {"job_id": job.id, "seq": seq}


def commit_import(session: Session, ctx: RequestContext, job_id: str, total_rows: int) -> dict:
    """Queue the job once every chunk 0..n-1 is there; the timer then processes it."""
    job = _uploading(session, ctx, job_id)
    seqs = list(session.scalars(select(ImportChunk.seq).where(ImportChunk.job_id == job.id)
                                .order_by(ImportChunk.seq)))
    if seqs != list(range(len(seqs))):
        raise Conflict(f"import {job_id} is missing chunks", errors={"chunks": [f"have {seqs}"]})
    job.total_rows = max(0, int(total_rows or 0))
    job.status = "queued"
    session.flush()
    return job_dict(job)


def abort_import(session: Session, ctx: RequestContext, job_id: str, reason: str | None = None) -> dict:
    """Give up an upload (the client went away, the file was bad): the job fails, chunks go."""
    job = _uploading(session, ctx, job_id)
    _fail(session, job, reason or "upload aborted")
    return job_dict(job)


def get_job(session: Session, ctx: RequestContext, job_id: str) -> dict:
    """One job (its uploader's, or any for an admin)."""
    return job_dict(_own_job(session, ctx, job_id))


def list_jobs(session: Session, ctx: RequestContext, limit: int = 50) -> list[dict]:
    """The caller's recent jobs (every user's for an admin), newest first."""
    stmt = select(ImportJob).order_by(ImportJob.created_at.desc(), ImportJob.id.desc())
    if not ctx.has_role("admin", "system"):
        stmt = stmt.where(ImportJob.actor == ctx.actor)
    return [job_dict(j) for j in session.scalars(stmt.limit(max(1, min(int(limit), 200))))]


def job_errors(session: Session, ctx: RequestContext, job_id: str, after: int = 0, limit: int = 1000) -> dict:
    """A page of the job's rejected rows in row order: ``{header, items: [{row, raw, errors}], next}``."""
    job = _own_job(session, ctx, job_id)
    limit = max(1, min(int(limit), 5000))
    rows = session.scalars(select(ImportRowError).where(ImportRowError.job_id == job.id,
                                                        ImportRowError.row_number > int(after))
                           .order_by(ImportRowError.row_number).limit(limit + 1)).all()
    items = [{"row": r.row_number, "raw": r.raw, "errors": r.errors} for r in rows[:limit]]
    return {"header": list(job.header or []), "items": items,
            "next": items[-1]["row"] if len(rows) > limit else None}


# -- processing (the timer, no caller) -----------------------------------------------------------
def claim_job(engine, worker: str = PROCESS_TOKEN, stale_after: float = STALE_AFTER) -> tuple[str, str] | None:
    """Take the oldest queued job, or a running one whose heartbeat is stale (or that this worker
    already holds); returns ``(job id, tenant id)``. On PostgreSQL, ``SKIP LOCKED`` lets several
    service processes claim side by side without waiting on each other."""
    now = utcnow()
    with system_session(engine) as session:
        _abandon_uploads(session, now)
        stale = now - timedelta(seconds=stale_after)
        stmt = (select(ImportJob)
                .where(or_(ImportJob.status == "queued",
                           and_(ImportJob.status == "running",
                                or_(ImportJob.claimed_by == worker, ImportJob.heartbeat_at.is_(None),
                                    ImportJob.heartbeat_at < stale))))
                .order_by(ImportJob.created_at, ImportJob.id).limit(1)
                .with_for_update(skip_locked=True))
        job = session.scalars(stmt).first()
        if job is None:
            session.commit()
            return None
        if job.status == "running" and job.claimed_by != worker:
            log.warning("taking over import %s from %s (heartbeat %s)", job.id, job.claimed_by, job.heartbeat_at)
        job.status, job.claimed_by, job.heartbeat_at = "running", worker, now
        session.commit()
        return job.id, job.tenant_id


def _abandon_uploads(session: Session, now) -> None:
    cutoff = now - timedelta(seconds=UPLOAD_TIMEOUT)
    for job in session.scalars(select(ImportJob).where(ImportJob.status == "uploading",
                                                       ImportJob.created_at < cutoff)
                               .limit(20).with_for_update(skip_locked=True)):
        _fail(session, job, "the upload was never completed")


def run_pending(engine, registry: ObjectRegistry, behaviours: dict, *, module: str,
                worker: str = PROCESS_TOKEN, budget: float | None = TICK_BUDGET,
                pause: Callable[[], None] | None = None, batch_size: int = BATCH_SIZE,
                stale_after: float = STALE_AFTER, threshold: int = 90, remote=None) -> str | None:
    """One timer tick: claim a job and work on it for up to ``budget`` seconds. Returns the job's
    status afterwards (None when there was nothing to do). ``pause`` runs between batches (the
    service passes ``eventlet.sleep`` so RPCs are served meanwhile); ``remote`` checks the records
    rows name in other services (:class:`mosaic.records.references.RemoteRecords`)."""
    with statement_role("import"):  # the imports' statement timeout, not a request's
        claimed = claim_job(engine, worker, stale_after)
        if claimed is None:
            return None
        job_id, tenant_id = claimed
        return process_job(engine, registry, behaviours, job_id, tenant_id, module=module,
                           worker=worker, budget=budget, pause=pause, batch_size=batch_size,
                           threshold=threshold, remote=remote)


def job_context(job: ImportJob, tenant_id: str, plugins: tuple[str, ...] = ()) -> RequestContext:
    """The uploader, as far as the record engine needs: its actor name, its roles and modules
    (the services a row's references are asked of), and the tenant's plugins."""
    kind, _, ident = job.actor.partition(":")
    return RequestContext(tenant_id=tenant_id, user_id=ident if kind == "user" else None,
                          api_key_id=ident if kind == "apikey" else None,
                          roles=tuple(r for r in (job.roles or "").split(",") if r) or ("system",),
                          modules=tuple(m for m in (job.modules or "").split(",") if m),
                          plugins=plugins)


def process_job(engine, registry: ObjectRegistry, behaviours: dict, job_id: str, tenant_id: str, *,
                module: str, worker: str = PROCESS_TOKEN, budget: float | None = None,
                pause: Callable[[], None] | None = None, batch_size: int = BATCH_SIZE,
                threshold: int = 90, remote=None) -> str:
    """Work through a job claimed by ``worker`` from its cursor until done (or ``budget`` seconds
    are spent). Returns the job's status. A batch that cannot be checked because a service its
    rows name does not answer is rolled back and tried again on a later tick: the job waits,
    it does not fail."""
    started = time.monotonic()
    plugins = tenant_plugins_of(engine, tenant_id)  # before the session: SQLite has one connection
    with tenant_session(engine, tenant_id) as session:
        job = session.get(ImportJob, job_id)
        if job is None or job.status != "running" or job.claimed_by != worker:
            return job.status if job is not None else "missing"
        # The tenant's objects, logic and write pipeline as a request would see them: imported
        # records run the same processes, rules, formulas and validation rules as created ones.
        store = build_store(session, registry, job_context(job, tenant_id, plugins),
                            module=module, behaviours=behaviours, max_age=0)
        store.remote = remote
        try:
            obj = store.obj(job.object)
            plan = RowPlan(obj, job.header, job.columns)
        except (MosaicError, LookupError) as exc:
            _fail(session, job, f"the object changed since the upload: {getattr(exc, 'detail', exc)}")
            session.commit()
            return job.status
        sorter = BatchSorter(store, obj, plan, job.policy, threshold=threshold)
        writer = BulkWriter(store, obj, job_id=job.id)
        rows = _rows_from_cursor(session, job)
        session.commit()
        while True:
            try:
                batch = list(islice(rows, batch_size))
            except csv.Error as exc:
                session.rollback()
                _fail_fresh(session, job.id, f"the CSV could not be read: {exc}")
                return "failed"
            try:
                if not batch:
                    _finish(session, job.id, worker)
                    return "finished"
                _run_batch(session, sorter, writer, job.id, worker, batch)
            except LostClaim:
                session.rollback()
                log.warning("import %s was taken over by another process", job_id)
                return "running"
            except ServiceUnavailable as exc:  # a service its rows name is down: wait, don't fail
                session.rollback()
                log.warning("import %s waits: %s", job_id, exc.detail)
                return "running"
            except Exception as exc:  # a batch that cannot be written fails the job, whole
                session.rollback()
                log.exception("import %s failed", job_id)
                _fail_fresh(session, job.id, f"the import stopped: {exc.__class__.__name__}: {exc}")
                return "failed"
            if pause is not None:
                pause()
            if budget is not None and time.monotonic() - started >= budget:
                return "running"


def _rows_from_cursor(session: Session, job: ImportJob) -> Iterator[tuple[int, int, list[str]]]:
    """``(seq, index, cells)`` of every non-blank record from the job's cursor on, one chunk in
    memory at a time."""
    seq, start = job.next_seq, job.next_row
    while True:
        data = session.scalar(select(ImportChunk.data).where(ImportChunk.job_id == job.id,
                                                            ImportChunk.seq == seq))
        if data is None:
            return
        for index, cells in enumerate(islice(csv.reader(io.StringIO(data)), start, None), start):
            if any(c.strip() for c in cells):
                yield seq, index, cells
        seq, start = seq + 1, 0


def _lock(session: Session, job_id: str, worker: str) -> ImportJob:
    job = session.scalars(select(ImportJob).where(ImportJob.id == job_id).with_for_update()
                          .execution_options(populate_existing=True)).one()
    if job.claimed_by != worker or job.status != "running":
        raise LostClaim(job_id)
    return job


def _run_batch(session: Session, sorter: BatchSorter, writer: BulkWriter, job_id: str, worker: str,
               batch: list[tuple[int, int, list[str]]]) -> None:
    """One batch, one transaction: records, audit, events, row errors, cursor and counters."""
    job = _lock(session, job_id, worker)
    first = job.rows_done + 2  # the header is row 1
    result = sorter.sort([(first + i, cells) for i, (_, _, cells) in enumerate(batch)])
    errors = list(result.errors)
    created = writer.write(result.creates, errors)
    updated, unchanged = apply_updates(sorter, result.updates, errors)
    if errors:
        header = job.header or []
        session.connection().execute(insert(ImportRowError), [
            {"tenant_id": job.tenant_id, "job_id": job.id, "row_number": number,
             "raw": _raw(header, cells), "errors": problems} for number, cells, problems in errors])
    seq, index, _ = batch[-1]
    job.next_seq, job.next_row = seq, index + 1
    job.rows_done += len(batch)
    job.created += created
    job.updated += updated + result.merged
    job.skipped += result.skipped + unchanged
    job.failed += len(errors)
    job.heartbeat_at = utcnow()
    session.commit()


def _raw(header: list[str], cells: list[str]) -> dict:
    raw = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}
    if len(cells) > len(header):
        raw["_extra"] = cells[len(header):]
    return raw


def _finish(session: Session, job_id: str, worker: str) -> None:
    job = _lock(session, job_id, worker)
    job.status, job.finished_at, job.heartbeat_at = "finished", utcnow(), utcnow()
    job.total_rows = job.rows_done  # the count of records actually read is the true total
    session.execute(delete(ImportChunk).where(ImportChunk.job_id == job.id))
    session.commit()


def _fail(session: Session, job: ImportJob, message: str) -> None:
    job.status, job.error, job.finished_at = "failed", message[:2000], utcnow()
    session.execute(delete(ImportChunk).where(ImportChunk.job_id == job.id))


def _fail_fresh(session: Session, job_id: str, message: str) -> None:
    job = session.scalars(select(ImportJob).where(ImportJob.id == job_id).with_for_update()
                          .execution_options(populate_existing=True)).one()
    _fail(session, job, message)
    session.commit()
