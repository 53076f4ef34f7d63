"""Queueing, signing and posting webhook deliveries.

Two queues use this code: the hub's (a subscription's deliveries, queued by
:func:`enqueue_subscribed` in the transaction that records the consumed event as processed) and
each record service's (an automation rule's own ``webhook`` action, :func:`enqueue_direct`, queued
in the write's transaction). ``run_due_deliveries`` (a timer in each) posts them after commit,
at least once: it *claims* a batch by pushing
``next_attempt_at`` one lease into the future and commits, posts without holding any lock, then
records the outcome. A batch is posted concurrently (:data:`CONCURRENCY` green threads, at most
:data:`PER_HOST` to one host), so one slow receiver cannot hold up every other tenant's deliveries
for a whole batch; outcomes are recorded one at a time. Two runners never post one delivery at once (PostgreSQL's ``FOR UPDATE SKIP
LOCKED`` plus the lease), and a crashed runner's claims come due again when the lease ends.
Receivers deduplicate on ``Mosaic-Delivery`` (or the envelope id).
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import eventlet
from eventlet.semaphore import Semaphore

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from mosaic.db import new_id, system_session, utcnow
from mosaic.errors import BadRequest, ValidationFailed
from mosaic.events.envelope import encode_body, is_internal, json_safe
from mosaic.metadata.values import format_datetime
from mosaic.records import paging
from mosaic.webhooks.egress import EgressPolicy, post_json
from mosaic.webhooks.sealing import SecretBox, SecretUnreadable, is_sealed
from mosaic.webhooks.models import (DELIVERED, FAILED, PENDING, WebhookAttempt, WebhookDelivery,
                                    WebhookSubscription)
from mosaic.webhooks.subscriptions import check_url, get_subscription, wants

log = logging.getLogger(__name__)

#: wait before the 2nd, 3rd, … attempt; after the last one fails the delivery is ``failed``.
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1),
           timedelta(hours=6))
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(seconds=60)
DEFAULT_TIMEOUT = 10.0
#: deliveries of one batch posted at once, and at most this many to one host (a slow receiver
#: holds up only its own share of the batch)
CONCURRENCY = 10
PER_HOST = 2
USER_AGENT = "Mosaic-Webhooks/1"
MAX_ERROR = 1000
MAX_PAGE = 200
UNREADABLE_SECRET = ("the signing secret cannot be read (MOSAIC_SECRET_KEY changed or missing); "
                     "rotate the subscription's secret, or set the webhook action's secret again")

#: ``post(url, body, headers, timeout) -> (status_code or None, error or None)``
Poster = Callable[[str, bytes, dict, float], "tuple[int | None, str | None]"]


# --- signing -------------------------------------------------------------------------------------

def sign(secret: str, body: bytes, t: int) -> str:
    """The ``Mosaic-Signature`` header value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

    Signing the timestamp with the body lets a receiver refuse a replayed old request.
    """
    mac = hmac.new(secret.encode("utf-8"), f"{int(t)}.".encode("ascii") + body, hashlib.sha256)
    return f"t={int(t)},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str | None, tolerance: int = 300,
           now: datetime | float | None = None) -> bool:
    """Whether ``header`` (a ``Mosaic-Signature`` value) signs ``body`` with ``secret`` and its
    timestamp is within ``tolerance`` seconds of ``now``. For receivers and tests."""
    if not header or not isinstance(header, str):
        return False
    t, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            t = int(value)
        elif key == "v1":
            candidates.append(value)
    if t is None or not candidates:
        return False
    current = (now.timestamp() if isinstance(now, datetime)
               else time.time() if now is None else float(now))
    if abs(current - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    # Compare against every v1 given (a sender may sign with an old and a new secret at once).
    return any(hmac.compare_digest(expected, c) for c in candidates)


# --- queueing ------------------------------------------------------------------------------------

@functools.cache
def _active_subscriptions():
    """The SELECT of :func:`subscribed`, built once: a Core statement reused keeps its cache key,
    and the tenant scope adds ``tenant_id`` to it (mosaic.db.core_scope)."""
    t = WebhookSubscription.__table__
    return select(t.c.id, t.c.url, t.c.events).where(t.c.active.is_(True)).order_by(t.c.created_at, t.c.id)


def subscribed(session: Session, kind: str) -> list[tuple[str, str]]:
    """``(subscription id, URL)`` of every active subscription of the session's tenant that wants
    events of type ``kind``, oldest first: one SELECT of id, URL and patterns (no secret, no ORM
    objects), on the session's connection."""
    return [(sub_id, url) for sub_id, url, events in session.connection().execute(_active_subscriptions())
            if wants(events, kind)]


def enqueue_subscribed(session: Session, envelope: dict, now: datetime | None = None,
                       wanted: list[tuple[str, str]] | None = None) -> list[str]:
    """Queue a consumed event for every active subscription of its tenant that wants it, in the
    caller's transaction (``session`` is the event's tenant's); returns the ids of the
    subscriptions it was queued for. A platform-internal event (``platform.*``,
    :func:`mosaic.events.envelope.is_internal`) is never a webhook's business.

    The hub's hot path, once per published event: the matching subscriptions (:func:`subscribed`,
    unless the caller read them already and passes them as ``wanted``), and, when some match, one
    multi-row INSERT that skips a subscription already holding the event (the unique
    (subscription, event) key) instead of asking first.
    """
    if is_internal(envelope):
        return []
    kind = envelope["type"]
    if wanted is None:
        wanted = subscribed(session, kind)
    if not wanted:
        return []
    payload, now = json_safe(envelope), now or utcnow()
    rows = [{"id": new_id(), "tenant_id": session.info["tenant_id"], "subscription_id": sub_id, "url": url,
             "event_id": payload["id"], "event_type": kind, "payload": payload, "status": PENDING,
             "attempts": 0, "next_attempt_at": now, "created_at": now} for sub_id, url in wanted]
    # The platform's two databases; both have INSERT … ON CONFLICT DO NOTHING … RETURNING.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (insert(WebhookDelivery).values(rows)
            .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
            .returning(WebhookDelivery.subscription_id))
    return list(session.scalars(stmt))


def enqueue_direct(session: Session, url: str, secret: str | None, envelope: dict,
                   now: datetime | None = None) -> WebhookDelivery:
    """Queue ``envelope`` for one URL outside any subscription (an automation rule's webhook
    action), signed with ``secret`` (unsigned when it is empty)."""
    problems = check_url(url)
    if problems:
        raise ValidationFailed("Invalid webhook URL.", errors={"url": problems})
    row = _delivery(json_safe(envelope), now or utcnow(), url=url.strip(), subscription_id=None,
                    secret=secret or None)
    session.add(row)
    return row


def _delivery(payload: dict, now: datetime, **columns: Any) -> WebhookDelivery:
    return WebhookDelivery(id=new_id(), event_id=payload["id"], event_type=payload["type"],
                           payload=payload, status=PENDING, attempts=0, next_attempt_at=now,
                           created_at=now, **columns)


# --- posting -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Claim:
    id: str
    url: str
    secret: str | None
    event_type: str
    payload: dict
    attempt: int


def _claim(engine: Engine, now: datetime, limit: int, timeout: float) -> list[_Claim]:
    """Lock due rows, push them one lease ahead, commit: they are ours until the lease ends."""
    with system_session(engine) as session:
        stmt = (select(WebhookDelivery)
                .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = session.scalars(stmt).all()
        if not rows:
            return []
        sub_ids = {r.subscription_id for r in rows if r.subscription_id}
        subs = {(s.tenant_id, s.id): s for s in session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.id.in_(sub_ids)))} if sub_ids else {}
        # The lease covers the whole batch at worst-case timeouts even if every delivery went to
        # one host and waited its turn (posting is concurrent, so it usually ends far sooner).
        lease_end = now + LEASE + timedelta(seconds=timeout * len(rows))
        claims = []
        for row in rows:
            secret = row.secret
            if row.subscription_id:
                sub = subs.get((row.tenant_id, row.subscription_id))
                if sub is None or not sub.active:
                    row.status, row.next_attempt_at = FAILED, None
                    row.last_error = ("subscription was deleted" if sub is None
                                      else "subscription is inactive")
                    continue
                row.url, secret = sub.url, sub.secret  # current URL and secret (after a rotation)
            row.next_attempt_at = lease_end
            claims.append(_Claim(row.id, row.url, secret, row.event_type, row.payload,
                                 row.attempts + 1))
        session.commit()
        return claims


def _record(engine: Engine, claim: _Claim, at: datetime, status: int | None, error: str | None,
            duration_ms: int) -> None:
    with system_session(engine) as session:
        row = session.get(WebhookDelivery, claim.id)
        if row is None:  # its subscription was deleted meanwhile
            return
        session.add(WebhookAttempt(tenant_id=row.tenant_id, delivery_id=row.id,
                                   attempt=claim.attempt, at=at, status_code=status,
                                   error=error, duration_ms=duration_ms))
        if row.status != PENDING or row.attempts >= claim.attempt:
            # Our lease ran out and another runner got there first: its outcome stands.
            session.commit()
            return
        row.attempts = claim.attempt
        row.last_status_code, row.last_error = status, error
        if status is not None and 200 <= status < 300:
            row.status, row.delivered_at, row.next_attempt_at = DELIVERED, at, None
        elif claim.attempt >= MAX_ATTEMPTS:
            row.status, row.next_attempt_at = FAILED, None
        else:
            row.next_attempt_at = at + BACKOFF[claim.attempt - 1]
        session.commit()


def _attempt(claim: _Claim, now: datetime, post: Poster, timeout: float, box: SecretBox | None = None
             ) -> tuple[int | None, str | None, int]:
    body = encode_body(claim.payload)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "Mosaic-Event": claim.event_type, "Mosaic-Delivery": claim.id}
    if claim.secret:
        try:
            if is_sealed(claim.secret) and box is None:
                raise SecretUnreadable("MOSAIC_SECRET_KEY is not set for this service")
            secret = box.open(claim.secret) if box is not None else claim.secret
        except SecretUnreadable as exc:
            # Never post unsigned what the receiver expects signed: fail the attempt instead.
            log.warning("webhook delivery %s not sent: %s", claim.id, exc)
            return None, UNREADABLE_SECRET, 0
        headers["Mosaic-Signature"] = sign(secret, body, int(now.timestamp()))
    started = time.monotonic()
    try:
        status, error = post(claim.url, body, headers, timeout)
    except Exception as exc:  # noqa: BLE001 - a custom poster's failure is this attempt's error
        status, error = None, f"{type(exc).__name__}: {exc}"
    # No duration without an answer: how long a refused or filtered port takes would map the
    # network behind the target for whoever reads the log.
    duration_ms = int((time.monotonic() - started) * 1000) if status is not None else 0
    if status is not None and not 200 <= status < 300 and not error:
        error = f"HTTP {status}"
    return status, (error[:MAX_ERROR] if error else None), duration_ms


def run_due_deliveries(engine: Engine, *, now: datetime | None = None, limit: int = 50,
                       post: Poster | None = None, timeout: float = DEFAULT_TIMEOUT,
                       policy: EgressPolicy | None = None, box: SecretBox | None = None) -> int:
    """Post the deliveries that are due, across tenants; returns how many were attempted.

    ``now`` fixes the clock (tests); ``post`` replaces the HTTP client; ``timeout`` bounds each
    request; ``policy`` says which addresses may be called (public ones only by default, see
    :mod:`mosaic.webhooks.egress`); ``box`` opens the sealed secrets of rules' webhooks
    (:mod:`mosaic.webhooks.sealing`). A 2xx answer delivers; anything else is retried after
    ``BACKOFF`` and the delivery fails after ``MAX_ATTEMPTS``.
    """
    post = post or partial(post_json, policy=policy)
    claims = _claim(engine, now or utcnow(), limit, timeout)
    hosts: dict[str, Semaphore] = defaultdict(lambda: Semaphore(PER_HOST))

    def attempt(claim: _Claim):
        with hosts[_host(claim.url)]:
            at = now or utcnow()
            return claim, at, _attempt(claim, at, post, timeout, box)

    pool = eventlet.GreenPool(CONCURRENCY)
    # Posted concurrently, recorded one at a time (one writer: SQLite's single connection too).
    for claim, at, (status, error, duration_ms) in pool.imap(attempt, claims):
        _record(engine, claim, at, status, error, duration_ms)
    return len(claims)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


# --- the log -------------------------------------------------------------------------------------

def purge_deliveries(engine: Engine, before: datetime) -> int:
    """Delete finished (delivered or failed) deliveries created before ``before``, with their
    attempts, across tenants; returns how many. Keeps the log from growing without bound."""
    with system_session(engine) as session:
        done = select(WebhookDelivery.id).where(WebhookDelivery.status.in_((DELIVERED, FAILED)),
                                                WebhookDelivery.created_at < before)
        session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(done))
                        .execution_options(synchronize_session=False))
        count = session.execute(delete(WebhookDelivery).where(
            WebhookDelivery.status.in_((DELIVERED, FAILED)), WebhookDelivery.created_at < before)
            .execution_options(synchronize_session=False)).rowcount
        session.commit()
        return count


def _fmt(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def delivery_out(row: WebhookDelivery, attempts: Iterable[WebhookAttempt] = ()) -> dict[str, Any]:
    """The API form of a delivery, with its attempts oldest first (never the secret)."""
    return {"id": row.id, "subscription_id": row.subscription_id, "url": row.url,
            "event_id": row.event_id, "event_type": row.event_type, "status": row.status,
            "attempts": row.attempts, "next_attempt_at": _fmt(row.next_attempt_at),
            "last_status_code": row.last_status_code, "last_error": row.last_error,
            "created_at": _fmt(row.created_at), "delivered_at": _fmt(row.delivered_at),
            "payload": row.payload,
            "history": [{"attempt": a.attempt, "at": _fmt(a.at), "status_code": a.status_code,
                         "error": a.error, "duration_ms": a.duration_ms} for a in attempts]}


def delivery_log(session: Session, subscription_id: str, cursor: str | None = None,
                 limit: int = 50, status: str | None = None) -> dict[str, Any]:
    """A subscription's deliveries with their attempts, newest first:
    ``{"items": [...], "next_cursor": str | None}`` (keyset pages on (created_at, id)).
    ``status`` keeps only pending, delivered or failed ones. NotFound for an unknown subscription.
    """
    sub = get_subscription(session, subscription_id)
    if status is not None and status not in (PENDING, DELIVERED, FAILED):
        raise BadRequest("Unknown delivery status.",
                         errors={"status": ["must be pending, delivered or failed"]})
    limit = paging.page_limit(limit, MAX_PAGE)
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if cursor:
        stmt = stmt.where(paging.before_time(WebhookDelivery.created_at, WebhookDelivery.id,
                                             paging.read_time_cursor(cursor)))
    # populate_existing: the runner updates these rows in its own sessions; a caller's session
    # that queued them must not answer from its identity map.
    stmt = (stmt.order_by(*paging.newest_first(WebhookDelivery.created_at, WebhookDelivery.id))
            .limit(limit + 1).execution_options(populate_existing=True))
    rows = session.scalars(stmt).all()
    items = rows[:limit]
    by_delivery: dict[str, list[WebhookAttempt]] = {r.id: [] for r in items}
    if items:
        for attempt in session.scalars(select(WebhookAttempt)
                                       .where(WebhookAttempt.delivery_id.in_(list(by_delivery)))
                                       .order_by(WebhookAttempt.attempt)):
            by_delivery[attempt.delivery_id].append(attempt)
    return {"items": [delivery_out(r, by_delivery[r.id]) for r in items],
            "next_cursor": paging.time_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None}
