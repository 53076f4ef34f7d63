"""``Idempotency-Key`` support for POST views.

A client that retries a POST (a timeout, a dropped connection) sends the same key; the gateway
answers the retry with the first attempt's response instead of creating a second record:

- first request: the key is reserved (a row with no status; the unique (tenant, key) index makes
  concurrent firsts race safely), the view runs, its status, JSON body and Location are stored;
- same key, same request: the stored response is replayed with ``Idempotent-Replayed: true``;
- same key, another request (method, path, caller or body differ): 422;
- same key while the first is still running: 409;
- a first attempt that fails with a 5xx (an RPC timeout, a crash) has an *unknown* outcome: the
  write may have run in the service or may still run. The key stays reserved for that request and
  a retry with it resolves the outcome: the view runs again, its RPCs carrying the same request ids
  (:func:`request_id`), so the service answers the stored result if the write ran, or runs it now
  (:mod:`mosaic.request_log`). A reservation whose process died (:data:`ABANDONED_AFTER`) is
  resolved the same way.

Every RPC a view makes carries a request id: derived from the key (scoped to tenant and
principal) when there is one, else made per HTTP request, so a redelivered RPC runs once too.
Stored responses keep ``Location``, ``ETag`` and ``X-Possible-Duplicates``; a secret a response
carries (a webhook's signing secret, an API key) is stored blanked, and a replay says it was shown
once.

A view that writes to the gateway's own database (an API key, a user) has no request log behind
it: if its commit went through and the outcome was then lost (the process died before storing
it), a retry would run it again. Such a view names what it creates with :func:`resource_id`,
which is the same on every attempt of one reservation; the retry finds the resource already made
and answers it as a replay would (:func:`replayed`), secret blanked. Keys are scoped per tenant (the operator API has its own scope) and live 24 hours; older
records are ignored and :func:`purge_expired` deletes them.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from functools import wraps
from typing import Callable

from flask import Response, current_app, g, jsonify, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mosaic.db import new_id, system_session, utcnow
from mosaic.errors import BadRequest, Conflict, MosaicError, ValidationFailed
from mosaic.request_log import redact
from mosaic_gateway import auth
from mosaic_gateway.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
RETENTION = timedelta(hours=24)
#: a reservation this old without an outcome belongs to a process that died mid-request.
ABANDONED_AFTER = timedelta(minutes=5)
_KEPT_HEADERS = ("Location", "Content-Type", "ETag", "X-Possible-Duplicates")
#: response fields never stored in clear (POST /webhooks' signing secret, POST /admin/api-keys')
SECRET_FIELDS = ("secret",)
OPERATOR_SCOPE = "_operator"
#: a stored status from here up is an unknown outcome, resolved by a retry with the same key
UNKNOWN_FROM = 500


def _scope() -> tuple[str, str] | None:
    """(tenant scope, principal) of the caller, or None when there is nobody to scope keys to."""
    found = auth._request_g().__dict__
    ident = found.get("mosaic_identity")
    if ident is not None:
        return ident.tenant_id, ident.principal
    if found.get("mosaic_operator"):
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


def request_id(service: str, method: str) -> str:
    """The request id of this HTTP request's next call of ``service.method``: the same on every
    attempt of the request (a retry with its ``Idempotency-Key`` calls in the same order), another
    for each call, so a view writing twice names two writes."""
    store = auth._request_g()
    base = store.__dict__.get("mosaic_request_base")
    if base is None:  # no key: one id per HTTP request still makes a redelivered RPC run once
        base = store.mosaic_request_base = "r:" + new_id()
    calls = store.__dict__.setdefault("mosaic_request_calls", {})
    n = calls[(service, method)] = calls.get((service, method), 0) + 1
    return f"{base}:{method}" if n == 1 else f"{base}:{method}:{n}"


def _key_base(principal: str, key: str) -> str:
    """The request id prefix of a key: the key scoped to its principal (services scope by tenant)."""
    return "k:" + hashlib.sha256(f"{principal}\n{key}".encode()).hexdigest()[:40]


def _answer_existing(record: IdempotencyRecord, req_hash: str) -> Response:
    if record.request_hash != req_hash:
        raise ValidationFailed("this Idempotency-Key was used for a different request",
                               errors={HEADER: ["reused with a different request"]})
    if record.status is None:
        raise Conflict("a request with this Idempotency-Key is still being processed")
    return _replay(record)


def _resolve(session: Session, record: IdempotencyRecord, req_hash: str, now) -> bool:
    """Take over a reservation whose outcome is unknown, for the same request only; False if a
    concurrent retry took it first."""
    if record.request_hash != req_hash:
        raise ValidationFailed("this Idempotency-Key was used for a different request",
                               errors={HEADER: ["reused with a different request"]})
    same = (IdempotencyRecord.id == record.id, IdempotencyRecord.created_at == record.created_at,
            IdempotencyRecord.status.is_(None) if record.status is None
            else IdempotencyRecord.status == record.status)
    taken = session.execute(update(IdempotencyRecord).where(*same).values(
        status=None, response=None, headers={}, created_at=now)).rowcount == 1
    session.commit()
    return taken


def _reserve(session: Session, scope: str, key: str, req_hash: str) -> Response | None:
    """Reserve ``key``, or return the response a repeat gets. Commits."""
    now = utcnow()
    stmt = select(IdempotencyRecord).where(IdempotencyRecord.tenant_id == scope,
                                           IdempotencyRecord.key == key)
    record = session.scalar(stmt)
    if record is not None:
        expired = record.created_at < now - RETENTION
        abandoned = record.status is None and record.created_at < now - ABANDONED_AFTER
        unknown = record.status is not None and record.status >= UNKNOWN_FROM
        if not expired:
            if not (abandoned or unknown):
                return _answer_existing(record, req_hash)
            if _resolve(session, record, req_hash, now):
                g.mosaic_idempotency_record = record.id  # the same reservation: the same resources
                return None
            session.expire_all()  # a concurrent retry resolves it: answer as it stands now
            record = session.scalar(stmt)
            if record is None:
                raise Conflict("a request with this Idempotency-Key is still being processed")
            return _answer_existing(record, req_hash)
        session.delete(record)
        session.flush()
    record_id = new_id()
    session.add(IdempotencyRecord(id=record_id, tenant_id=scope, key=key, method=request.method,
                                  path=request.path, request_hash=req_hash, status=None,
                                  response=None, headers={}, created_at=now))
    try:
        session.commit()
    except IntegrityError:
        # Another request reserved the same key between our read and our insert.
        session.rollback()
        record = session.scalar(stmt)
        if record is None:  # purged meanwhile; let the client retry
            raise Conflict("a request with this Idempotency-Key is still being processed") from None
        return _answer_existing(record, req_hash)
    g.mosaic_idempotency_record = record_id
    return None


def _finish(scope: str, key: str, status: int, body=None, headers=None) -> None:
    """Store the outcome (a 5xx one stays open to resolution), secrets blanked."""
    engine = current_app.extensions["mosaic"]["engine"]
    where = (IdempotencyRecord.tenant_id == scope, IdempotencyRecord.key == key)
    with system_session(engine) as session:  # one UPDATE: the reservation is known to exist
        session.execute(update(IdempotencyRecord).where(*where).values(
            status=status, response=redact(body, SECRET_FIELDS), headers=headers or {}))
        session.commit()


_PROBLEM = {"Content-Type": "application/problem+json"}


def idempotent(view: Callable) -> Callable:
    """Make a POST view honour ``Idempotency-Key``. Put it *below* the auth decorator: keys are
    scoped to the authenticated tenant (or the operator)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = auth._request().headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        scope = _scope()
        if scope is None:
            return view(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise BadRequest(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters",
                             errors={HEADER: [f"1 to {MAX_KEY_LENGTH} characters"]})
        tenant, principal = scope
        req_hash = request_hash(principal)
        g.mosaic_request_base = _key_base(principal, key)
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
            # A refusal is the answer to this request (a retry gets the same one); a 5xx is an
            # unknown outcome a retry resolves.
            auth.close_request_sessions()
            _finish(tenant, key, err.status, err.to_problem(), _PROBLEM)
            raise
        except BaseException:
            auth.close_request_sessions()
            _finish(tenant, key, 500, MosaicError().to_problem(), _PROBLEM)
            raise
        auth.close_request_sessions()
        kept = {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}
        _finish(tenant, key, response.status_code, response.get_json(silent=True), kept)
        return response
    return wrapper


def resource_id(kind: str) -> str | None:
    """The id of the ``kind`` of resource this request creates in the gateway's database: the same
    on every attempt of its ``Idempotency-Key`` reservation (a retry resolving a lost outcome),
    another once the key has expired and is used afresh; None without a key."""
    record = g.get("mosaic_idempotency_record")
    if record is None:
        return None
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mosaic:idempotency:{record}:{kind}"))


def replayed(body: dict, status: int, headers: dict | None = None) -> Response:
    """The answer to a retry whose first attempt created the resource but whose response was lost:
    what a replay of the stored response would be (secrets blanked, ``Idempotent-Replayed``)."""
    response = jsonify(redact(body, SECRET_FIELDS))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def purge_expired(session: Session, now=None) -> int:
    """Delete records older than the 24 h retention; returns how many (a periodic job calls it)."""
    cutoff = (now or utcnow()) - RETENTION
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount
