"""``Idempotency-Key`` support for POST views.

A client that retries a POST (a timeout, a dropped connection) sends the same key; the gateway
answers the retry with the first attempt's response instead of creating a second record:

- first request: the key is reserved (a row with no status; the unique (tenant, key) index makes
  concurrent firsts race safely), the view runs, its status, JSON body and Location are stored;
- same key, same request: the stored response is replayed with ``Idempotent-Replayed: true``;
- same key, another request (method, path, caller or body differ): 422;
- same key while the first is still running: 409;
- a first attempt that fails with a 5xx (or crashes) frees the key, so the retry runs for real.

Keys are scoped per tenant (the operator API has its own scope) and live 24 hours; older records
are ignored and :func:`purge_expired` deletes them.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta
from functools import wraps
from typing import Callable

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mosaic.db import new_id, system_session, utcnow
from mosaic.errors import BadRequest, Conflict, MosaicError, ValidationFailed
from mosaic_gateway import auth
from mosaic_gateway.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
RETENTION = timedelta(hours=24)
#: a reservation this old without an outcome belongs to a process that died mid-request.
ABANDONED_AFTER = timedelta(minutes=5)
_KEPT_HEADERS = ("Location", "Content-Type")
OPERATOR_SCOPE = "_operator"


def _scope() -> tuple[str, str] | None:
    """(tenant scope, principal) of the caller, or None when there is nobody to scope keys to."""
    ident = g.get("mosaic_identity")
    if ident is not None:
        return ident.tenant_id, ident.principal
    if g.get("mosaic_operator"):
        return OPERATOR_SCOPE, "operator"
    return None


def request_hash(principal: str) -> str:
    """What makes two requests "the same": method, path with query, caller and body bytes. The
    caller is included so another user of the tenant reusing a key gets 422, not a replay."""
    digest = hashlib.sha256()
    for part in (request.method, request.full_path.rstrip("?"), principal):
        digest.update(part.encode() + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = jsonify(record.response) if record.response is not None else Response(b"")
    response.status_code = record.status
    for name, value in (record.headers or {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _answer_existing(record: IdempotencyRecord, req_hash: str) -> Response:
    if record.request_hash != req_hash:
        raise ValidationFailed("this Idempotency-Key was used for a different request",
                               errors={HEADER: ["reused with a different request"]})
    if record.status is None:
        raise Conflict("a request with this Idempotency-Key is still being processed")
    return _replay(record)


def _reserve(session: Session, scope: str, key: str, req_hash: str) -> Response | None:
    """Reserve ``key``, or return the response a repeat gets. Commits."""
    now = utcnow()
    stmt = select(IdempotencyRecord).where(IdempotencyRecord.tenant_id == scope,
                                           IdempotencyRecord.key == key)
    record = session.scalar(stmt)
    if record is not None:
        expired = record.created_at < now - RETENTION
        abandoned = record.status is None and record.created_at < now - ABANDONED_AFTER
        if not (expired or abandoned):
            return _answer_existing(record, req_hash)
        session.delete(record)
        session.flush()
    session.add(IdempotencyRecord(id=new_id(), tenant_id=scope, key=key, method=request.method,
                                  path=request.path, request_hash=req_hash, status=None,
                                  response=None, headers={}, created_at=now))
    try:
        session.commit()
    except IntegrityError:
        # Another request reserved the same key between our read and our insert.
        session.rollback()
        record = session.scalar(stmt)
        if record is None:  # it already failed and freed the key; let the client retry
            raise Conflict("a request with this Idempotency-Key is still being processed") from None
        return _answer_existing(record, req_hash)
    return None


def _finish(scope: str, key: str, status: int | None, body=None, headers=None) -> None:
    """Store the outcome, or free the key when ``status`` is None (5xx, crash)."""
    engine = current_app.extensions["mosaic"]["engine"]
    where = (IdempotencyRecord.tenant_id == scope, IdempotencyRecord.key == key)
    with system_session(engine) as session:
        if status is None:
            session.execute(delete(IdempotencyRecord).where(*where))
        else:
            record = session.scalar(select(IdempotencyRecord).where(*where))
            if record is not None:
                record.status, record.response, record.headers = status, body, headers or {}
        session.commit()


def idempotent(view: Callable) -> Callable:
    """Make a POST view honour ``Idempotency-Key``. Put it *below* the auth decorator: keys are
    scoped to the authenticated tenant (or the operator)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        scope = _scope()
        if key is None or scope is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise BadRequest(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters",
                             errors={HEADER: [f"1 to {MAX_KEY_LENGTH} characters"]})
        tenant, principal = scope
        req_hash = request_hash(principal)
        engine = current_app.extensions["mosaic"]["engine"]
        # Close the request's sessions first: on SQLite the gateway has one connection.
        auth.close_request_sessions()
        with system_session(engine) as session:
            replay = _reserve(session, tenant, key, req_hash)
        if replay is not None:
            return replay
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except MosaicError as err:
            auth.close_request_sessions()
            if err.status >= 500:
                _finish(tenant, key, None)
            else:  # a refusal is the answer to this request: a retry gets the same one
                _finish(tenant, key, err.status, err.to_problem(),
                        {"Content-Type": "application/problem+json"})
            raise
        except BaseException:
            auth.close_request_sessions()
            _finish(tenant, key, None)
            raise
        auth.close_request_sessions()
        if response.status_code >= 500:
            _finish(tenant, key, None)
        else:
            kept = {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}
            _finish(tenant, key, response.status_code, response.get_json(silent=True), kept)
        return response
    return wrapper


def purge_expired(session: Session, now=None) -> int:
    """Delete records older than the 24 h retention; returns how many (a periodic job calls it)."""
    cutoff = (now or utcnow()) - RETENTION
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount
