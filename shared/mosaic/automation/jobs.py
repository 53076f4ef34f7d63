"""The transactional job queue every low-code feature runs its after-commit work on.

A job is a row written in the transaction that decided it (a rule matched, a stage was entered),
so it exists exactly when that change committed. ``(tenant, kind, key)`` is unique: enqueueing
the same key twice is a no-op, which is what makes "fires once" hold for rule actions, timers and
scheduled rules however often their trigger is seen.

:func:`run_due_jobs` (a service timer) claims due jobs with a short lease, then runs each in a
tenant transaction of its own that also marks the job done. The done-mark only succeeds while the
runner still holds the claim, so a job's effects commit once even when a slow runner's lease
expired and another runner took the job over.
"""
from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import (Index, Integer, String, Text, UniqueConstraint, and_, delete, insert, or_, select,
                        update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from mosaic.context import RequestContext
from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, new_id, system_session, utcnow
from mosaic.db.engine import statement_role
from mosaic.events.envelope import json_safe

log = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
#: how long a claim holds before another runner may take the job over
LEASE = timedelta(seconds=60)
#: wait before the 2nd, 3rd and 4th attempt; the 4th failure is final
BACKOFF = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5))
MAX_ATTEMPTS = len(BACKOFF) + 1
#: how many automations may trigger one another in a chain before the chain is cut (the guard
#: against rules that trigger each other forever through transitions and stage_entered)
MAX_DEPTH = 5
#: ``session.info`` key holding the depth of the job a session is running
DEPTH_KEY = "mosaic.automation.depth"
#: the context a job runs with (the lead's ``open_store`` builds its RecordStore from it)
SYSTEM_ROLES = ("system",)


class AutomationJob(TenantScoped, Base):
    """One unit of after-commit work: a rule's queued actions, a timer, a scheduled rule's hit."""

    __tablename__ = "automation_jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "key", name="uq_automation_jobs_tenant_kind_key"),
        # The runner's hot query: due pending (or lease-expired running) jobs.
        Index("ix_automation_jobs_status_run_at", "status", "run_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    key: Mapped[str] = mapped_column(String(400), nullable=False)
    object: Mapped[str | None] = mapped_column(String(100), nullable=True)
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict] = mapped_column(JSONType, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


@dataclass(frozen=True)
class Job:
    """A claimed job as its handler sees it (a plain snapshot, not an ORM row)."""

    id: str
    tenant_id: str
    kind: str
    key: str
    object: str | None
    record_id: str | None
    payload: dict
    attempts: int
    run_at: datetime


Handler = Callable[[Any, Job], None]
OpenStore = Callable[[str], AbstractContextManager]
#: handlers registered by hand (tests, tools); the platform's own kinds come from its pipeline
#: steps (``Step.job_handlers``) and a service passes them to :func:`run_due_jobs` explicitly
_handlers: dict[str, Handler] = {}


def register_handler(kind: str, fn: Handler) -> None:
    """Run jobs of ``kind`` with ``fn(store, job)``; ``store`` is a RecordStore of the job's
    tenant whose session is the job's transaction. Registering a kind again replaces it."""
    _handlers[kind] = fn


def known_handlers() -> dict[str, Handler]:
    """The platform pipeline's job handlers plus those registered by hand."""
    from mosaic.logic.steps import default_job_handlers

    return {**default_job_handlers(), **_handlers}


#: session.info key of the open job batches (a stack: writes nest)
_BATCHES = "mosaic.jobs.batches"


def _job_values(session: Session, kind: str, key: str, object: str | None, record_id: str | None,
                payload: dict, run_at: datetime | None) -> dict:
    tenant = session.info.get("tenant_id")
    if not tenant:
        raise ValueError("enqueue needs a tenant session")
    now = utcnow()
    return {"id": new_id(), "tenant_id": tenant, "kind": kind, "key": key, "object": object,
            "record_id": None if record_id is None else str(record_id), "payload": json_safe(payload),
            "status": PENDING, "run_at": run_at or now, "attempts": 0, "created_at": now}


def enqueue(session: Session, kind: str, key: str, *, object: str | None, record_id: str | None,
            payload: dict, run_at: datetime | None = None) -> bool:
    """Queue a job in ``session``'s transaction (a tenant session) unless one with the same
    ``(kind, key)`` exists for the tenant; True if this call queued it (always True while a
    write's batch is open: the batch is written at the end of the write, see :func:`open_batch`).

    ON CONFLICT DO NOTHING keeps the caller's transaction usable (a duplicate-key error would
    abort it on PostgreSQL), and a concurrent duplicate waits for the first one's outcome.
    """
    values = _job_values(session, kind, key, object, record_id, payload, run_at)
    batches = session.info.get(_BATCHES)
    if batches:
        batches[-1].append(values)
        return True
    return enqueue_many(session, [values]) == 1


def enqueue_many(session: Session, rows: list[dict]) -> int:
    """Insert job rows (``_job_values`` dicts) in one statement, skipping existing keys; returns
    how many were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        # executemany of one cached statement (SQLAlchemy batches it as one multi-row INSERT);
        # RETURNING counts the rows that were new.
        stmt = (dialect_insert(AutomationJob).on_conflict_do_nothing(index_elements=["tenant_id", "kind", "key"])
                .returning(AutomationJob.id))
        return len(session.execute(stmt, rows).all())
    count = 0
    for values in rows:  # other databases: a savepoint confines each duplicate-key error
        try:
            with session.begin_nested():
                session.execute(insert(AutomationJob).values(**values))
            count += 1
        except IntegrityError:
            pass
    return count


def open_batch(session: Session) -> list:
    """Collect the jobs queued from now on in ``session`` until :func:`close_batch`: a write
    that queues several (rules, a stage's actions and timers) inserts them in one statement."""
    batch: list = []
    session.info.setdefault(_BATCHES, []).append(batch)
    return batch


def close_batch(session: Session, batch: list, *, write: bool = True) -> int:
    """End ``batch`` (and any batch opened after it and never closed: a write that failed) and,
    with ``write``, insert its jobs; returns how many were new."""
    batches = session.info.get(_BATCHES) or []
    if batch in batches:
        del batches[batches.index(batch):]
    return enqueue_many(session, batch) if write else 0


def _claim(engine: Engine, now: datetime, limit: int) -> list[Job]:
    """Mark up to ``limit`` due jobs running under a fresh lease and commit; returns them."""
    with system_session(engine) as session:
        due = or_(and_(AutomationJob.status == PENDING, AutomationJob.run_at <= now),
                  # a running job whose lease ran out belongs to a runner that died
                  and_(AutomationJob.status == RUNNING, AutomationJob.run_at <= now))
        stmt = select(AutomationJob).where(due).order_by(AutomationJob.run_at, AutomationJob.id).limit(limit)
        if engine.dialect.name == "postgresql":
            # Two runners never claim one job; each skips the rows the other is claiming.
            stmt = stmt.with_for_update(skip_locked=True)
        claimed = []
        for row in session.scalars(stmt):
            if row.attempts >= MAX_ATTEMPTS:  # its last attempt crashed the runner
                row.status, row.finished_at = FAILED, now
                row.last_error = (row.last_error or "") + "\nlease expired on the last attempt"
                continue
            row.status, row.run_at, row.attempts = RUNNING, now + LEASE, row.attempts + 1
            claimed.append(Job(row.id, row.tenant_id, row.kind, row.key, row.object, row.record_id,
                               dict(row.payload or {}), row.attempts, row.run_at))
        session.commit()
    return claimed


def _ours(job: Job):
    """Rows of ``job`` still under this runner's claim (the attempt number is the claim token)."""
    return and_(AutomationJob.id == job.id, AutomationJob.status == RUNNING,
                AutomationJob.attempts == job.attempts)


def _run_one(engine: Engine, open_store: OpenStore, job: Job, now: datetime,
             handlers: dict[str, Handler]) -> bool:
    handler = handlers.get(job.kind)
    try:
        if handler is None:
            raise LookupError(f"no handler registered for job kind {job.kind!r}")
        with open_store(job.tenant_id) as store:
            store.clock = lambda: now
            session = store.session
            # Whatever the job's writes queue is one link further down the chain (see MAX_DEPTH).
            session.info[DEPTH_KEY] = max(1, int(job.payload.get("depth") or 1))
            try:
                handler(store, job)
                # The done-mark commits with the handler's writes: both or neither.
                marked = session.execute(update(AutomationJob).where(_ours(job)).values(
                    status=DONE, finished_at=now, last_error=None)).rowcount
                if marked != 1:
                    session.rollback()
                    log.warning("job %s lost its claim before it finished; its work was rolled back", job.id)
                    return False
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.info.pop(DEPTH_KEY, None)
        return True
    except Exception as exc:  # noqa: BLE001 - any failure of a handler is recorded and retried
        _record_failure(engine, job, now, exc)
        return False


def _record_failure(engine: Engine, job: Job, now: datetime, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"[:4000]
    final = job.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {"last_error": error}
    if final:
        values.update(status=FAILED, finished_at=now)
    else:
        values.update(status=PENDING, run_at=now + BACKOFF[job.attempts - 1])
    log.warning("automation job %s (%s %s) failed on attempt %d%s: %s", job.id, job.kind, job.key,
                job.attempts, " (giving up)" if final else "", error)
    with system_session(engine) as session:
        session.execute(update(AutomationJob).where(_ours(job)).values(**values))
        session.commit()


def run_due_jobs(engine: Engine, open_store: OpenStore, *, now: datetime | None = None, limit: int = 50,
                 handlers: dict[str, Handler] | None = None) -> int:
    """Run the jobs that are due at ``now`` (default: the current time), at most ``limit`` of
    them; returns how many completed. ``handlers`` maps job kinds to their functions (default:
    :func:`known_handlers`); a job of an unknown kind fails like one whose handler raised.

    ``open_store(tenant_id)`` is a context manager giving a RecordStore with a system context on
    a fresh tenant session (it should close the session on exit, not commit it). Each job runs in
    its own transaction; a failure is rolled back and retried after 10 s, 1 min and 5 min, and
    marked failed after the 4th attempt.
    """
    now = now or utcnow()
    handlers = {**PLATFORM_HANDLERS, **(known_handlers() if handlers is None else handlers)}
    done = 0
    with statement_role("job"):  # the jobs' statement timeout, not a request's
        for job in _claim(engine, now, limit):
            done += _run_one(engine, open_store, job, now, handlers)
    return done


def purge_finished(engine: Engine, before: datetime) -> int:
    """Delete done and failed jobs that finished before ``before``; returns how many.

    A finished job's key is what keeps its trigger from firing twice, so keep them longer than
    any trigger can recur: ``before`` should be at least 8 days ago (scheduled rules look back 7).
    """
    with system_session(engine) as session:
        result = session.execute(delete(AutomationJob).where(
            AutomationJob.status.in_((DONE, FAILED)), AutomationJob.finished_at < before)
            .execution_options(synchronize_session=False))
        session.commit()
    return result.rowcount


def chain_depth(store: Any) -> int:
    """How many automation jobs led to the write ``store`` is making (0 outside any job)."""
    return int(store.session.info.get(DEPTH_KEY, 0))


def system_context(tenant_id: str) -> RequestContext:
    """The context jobs act under: the tenant, no user, the ``system`` role (allowed everything;
    audit and events name the actor ``system``)."""
    return RequestContext(tenant_id=tenant_id, roles=SYSTEM_ROLES)


# Kinds the platform queues outside the write pipeline, run by every runner whatever handlers it
# is given: field index builds. Imported here, at the end (mosaic.metadata cannot import the
# automation package: automation imports metadata).
from mosaic.metadata.index_builds import FIELD_INDEX_JOB, build_field_index_job  # noqa: E402

PLATFORM_HANDLERS: dict[str, Handler] = {FIELD_INDEX_JOB: build_field_index_job}
