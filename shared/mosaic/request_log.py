"""Writes take effect once: the request log.

A write RPC can arrive twice with the same request id (``RequestContext.request_id``, which the
gateway derives from the client's ``Idempotency-Key`` or makes per HTTP request): nameko acks a
request only after replying, so a service killed after its commit gets the request again when it
restarts; and a client whose call timed out retries with the same key. :func:`write_once` records
the request id in the write's own transaction, so the second arrival is answered with the first
outcome instead of running again::

    class ContactsService(RecordService):
        @rpc
        @write_once
        def merge(self, object_name, record_id, payload):
            store = self.data.store()
            return merging.merge(store, ...)      # no commit: write_once commits

How it holds:

- the log row is inserted *before* the write and its result stored after it, in one transaction
  with the write: both commit or neither does. The INSERT rides with the write's first statement
  (:mod:`mosaic.db.batch`), and the result with the commit, so the log adds no round trip;
- a concurrent duplicate's insert waits on the first's uncommitted row (unique tenant + request
  id); when the first commits, its unique violation stops the write (before anything of it took
  effect: the transaction fails) and the stored result answers; when the first rolls back it runs
  the write itself;
- a typed refusal (a ``MosaicError`` below 500) rolls the write back and is stored in a
  transaction of its own, so a repeat gets the same refusal; anything else (a crash, a 5xx)
  stores nothing and a repeat runs the write;
- the same request id with another method or other arguments is refused (422), never answered
  with another write's result;
- rows are purged after :data:`RETENTION` (longer than the gateway keeps an ``Idempotency-Key``).

Results are stored as they travel (JSON, as kombu encodes them), so a replay is byte-for-byte
what the first caller got. Fields named in ``redact`` (a webhook's signing secret) are stored
blanked: a replay says the secret was shown once.
"""
from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Callable

from kombu.utils.json import dumps as kombu_dumps
from sqlalchemy import Index, String, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from mosaic.db.base import Base, JSONType, TenantScoped, UTCDateTime, utcnow
from mosaic.db.batch import QueuedConflict, Serialized, defer_insert, defer_update
from mosaic.errors import Conflict, MosaicError, ValidationFailed, from_remote

#: how long a write's outcome answers repeats; above the gateway's Idempotency-Key retention (24 h)
RETENTION = timedelta(hours=48)
#: what a replay shows instead of a redacted field, and the note beside it
REDACTED_NOTE = "shown once, in the first response to this request; rotate or recreate it if it was lost"

RUNNING, OK, ERROR = "running", "ok", "error"


class RequestLog(TenantScoped, Base):
    """One write's outcome, keyed by tenant and request id."""

    __tablename__ = "request_log"
    __table_args__ = (Index("ix_request_log_created_at", "created_at"),)

    # The primary key is the uniqueness the dedup rests on; no separate tenant index is needed.
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    method: Mapped[str] = mapped_column(String(100), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    result: Mapped[Any] = mapped_column(JSONType, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


def fingerprint(method: str, args: tuple, kwargs: dict) -> str:
    """What makes two calls "the same write": method and arguments as they travel."""
    raw = kombu_dumps([method, list(args), kwargs], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def redact(result: Any, fields: tuple[str, ...]) -> Any:
    """``result`` with each of ``fields`` (top level of a dict) blanked and a note saying why."""
    if not fields or not isinstance(result, dict):
        return result
    hidden = [f for f in fields if result.get(f) is not None]
    if not hidden:
        return result
    out = {**result, **{f: None for f in hidden}}
    out["redacted"] = {f: REDACTED_NOTE for f in hidden}
    return out


#: the claim, built once per dialect: a reused statement keeps its SQLAlchemy cache key
_CLAIMS = {name: module.insert(RequestLog.__table__).on_conflict_do_nothing(index_elements=["tenant_id", "request_id"])
           for name, module in (("postgresql", postgresql), ("sqlite", sqlite))}


def _claim_row(session: Session, request_id: str, method: str, print_: str) -> dict:
    return {"tenant_id": session.info["tenant_id"], "request_id": request_id, "method": method,
            "fingerprint": print_, "status": RUNNING, "created_at": utcnow()}


def claim(session: Session, request_id: str, method: str, print_: str) -> bool:
    """Insert the running row of ``request_id`` in the session's transaction now; False if
    another write already holds the id (after waiting for it to commit or roll back)."""
    values = _claim_row(session, request_id, method, print_)
    conn = session.connection()
    stmt = _CLAIMS.get(conn.dialect.name)
    if stmt is not None:
        return conn.execute(stmt, values).rowcount == 1
    try:  # other databases: a savepoint confines the duplicate-key error
        with conn.begin_nested():
            conn.execute(insert(RequestLog.__table__).values(**values))
    except IntegrityError:
        return False
    return True


def _set(session: Session, request_id: str, **values) -> None:
    table = RequestLog.__table__
    session.connection().execute(update(table).where(table.c.tenant_id == session.info["tenant_id"],
                                                     table.c.request_id == request_id).values(**values))


def _as_stored(result: Any, redact_fields: tuple[str, ...]) -> Any:
    """``result`` as kombu sends it: its JSON text when nothing is redacted (queued as is on
    PostgreSQL, :class:`mosaic.db.batch.Serialized`), else the redacted JSON value."""
    text = kombu_dumps(result)
    if not redact_fields:
        return Serialized(text)
    return redact(json.loads(text), redact_fields)


def finish(session: Session, request_id: str, result: Any) -> None:
    """Store the write's result on its running row (same transaction as the write). Nothing
    reads it back before the commit: it rides with the commit (:mod:`mosaic.db.batch`)."""
    defer_update(session, RequestLog.__table__, {"tenant_id": session.info["tenant_id"], "request_id": request_id},
                 {"status": OK, "result": result})


def store_error(session: Session, request_id: str, method: str, print_: str, exc: MosaicError) -> None:
    """Record a typed refusal in a transaction of its own (the write's was rolled back)."""
    if claim(session, request_id, method, print_):
        _set(session, request_id, status=ERROR, error={"type": type(exc).__name__, "value": str(exc)})
        session.commit()
    else:  # a concurrent duplicate got there first: its outcome stands
        session.rollback()


def replay(session: Session, request_id: str, method: str, print_: str) -> Any:
    """The stored outcome of ``request_id``: its result, or its typed error raised again."""
    row = session.scalar(select(RequestLog).where(RequestLog.request_id == request_id))
    if row is None:  # purged between our claim and this read: nothing to answer with
        raise Conflict("this request's outcome is no longer known; send it with a new Idempotency-Key")
    if row.method != method or row.fingerprint != print_:
        raise ValidationFailed("this request id was used for a different request",
                               errors={"Idempotency-Key": ["reused with a different request"]})
    if row.status == ERROR:
        err = row.error or {}
        raise from_remote(err.get("type", "MosaicError"), err.get("value", "")) or MosaicError()
    if row.status != OK:
        raise Conflict("this request is still being processed")
    return row.result


def run_once(session: Session, request_id: str | None, method: str, args: tuple, kwargs: dict,
             write: Callable[[], Any], redact_fields: tuple[str, ...] = ()) -> Any:
    """Run ``write()`` and commit ``session`` with the log row of ``request_id``, or answer the
    stored outcome if the id was seen. Without a request id the write runs and commits as is."""
    if not request_id:
        result = write()
        session.commit()
        return result
    print_ = fingerprint(method, args, kwargs)
    # The claim rides with the write's first statement (mosaic.db.batch): a request id already
    # held (committed, or committed meanwhile by a concurrent duplicate it waited for) stops the
    # write there, as QueuedConflict, and the stored outcome answers.
    try:
        defer_insert(session, RequestLog.__table__, _claim_row(session, request_id, method, print_),
                     conflict_tag=request_id)
        try:
            result = write()
        except MosaicError as exc:
            session.rollback()
            if exc.status < 500:
                store_error(session, request_id, method, print_, exc)
            raise
        # Stored as it travels, so a replay is what the first caller got (dates and decimals included).
        finish(session, request_id, _as_stored(result, redact_fields))
        session.commit()
    except QueuedConflict:
        session.rollback()
        return replay(session, request_id, method, print_)
    except BaseException:
        session.rollback()
        raise
    return result


def write_once(fn: Callable | None = None, *, redact: tuple[str, ...] = (), db: str = "data") -> Callable:
    """Decorate a service's write entrypoint (below ``@rpc``) so a repeated request id is answered
    with the first outcome. The method must not commit: the decorator commits the worker's tenant
    session (``self.<db>.session``) with the log row. ``redact`` names result fields that must not
    be stored in clear."""
    if fn is None:
        return lambda f: write_once(f, redact=redact, db=db)

    @functools.wraps(fn)
    def entrypoint(self, *args, **kwargs):
        handle = getattr(self, db)
        ctx = handle.ctx
        if not ctx.tenant_id:  # no tenant, no log: the method refuses the call itself
            return fn(self, *args, **kwargs)
        if ctx.request_id:
            _note_plugins(handle)
        return run_once(handle.session, ctx.request_id, fn.__name__, args, kwargs,
                        lambda: fn(self, *args, **kwargs), redact)

    entrypoint.write_once = True
    return entrypoint


def _note_plugins(handle) -> None:
    """Do the record store's own-transaction bookkeeping before the log row is claimed: on SQLite a
    service has one connection, which the worker's transaction holds from the claim on."""
    provider = getattr(handle, "provider", None)
    if provider is not None:
        provider.tenant_plugins.note(handle.engine, handle.ctx.tenant_id, handle.ctx.plugins)


def purge(engine, before: datetime) -> int:
    """Delete log rows older than ``before`` (every tenant's); how many."""
    from mosaic.db.tenancy import system_session

    with system_session(engine) as session:
        count = session.execute(delete(RequestLog).where(RequestLog.created_at < before)).rowcount
        session.commit()
    return count
