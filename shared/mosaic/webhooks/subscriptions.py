"""Webhook subscriptions: validation, CRUD, keyset pages, and the compiled form events are
matched against.

The hub owns them (``mosaic_hub.webhooks``): one row per subscription, its signing secret sealed
at rest (:mod:`mosaic.webhooks.sealing`). Event patterns are ``<object>.<verb>`` with ``*``
standing for any run of characters inside one dot-separated part (``contact.*``, ``*.created``,
``realestate__*.*``); a lone ``*`` is every event.
"""
from __future__ import annotations

import re
import secrets as _secrets
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mosaic.db import new_id, utcnow
from mosaic.errors import Conflict, NotFound, ValidationFailed
from mosaic.metadata.values import format_datetime
from mosaic.records import paging
from mosaic.webhooks.egress import STRICT, EgressPolicy
from mosaic.webhooks.sealing import SecretBox
from mosaic.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

KEYS = ("url", "events", "description", "active")
MAX_URL = 2000
MAX_DESCRIPTION = 500
MAX_PATTERNS = 50
MAX_PATTERN = 200
#: the hub tests every active subscription of the tenant against each event; keep that list short.
MAX_SUBSCRIPTIONS = 100
MAX_PAGE = 200
_OLDEST_FIRST = paging.Sort("created_at", descending=False)
_PART = re.compile(r"^[A-Za-z0-9_\-*]+$")


@lru_cache(maxsize=1024)
def compile_patterns(patterns: tuple[str, ...]) -> re.Pattern:
    """One regular expression matching an event type that any of ``patterns`` matches."""
    alternatives = []
    for pattern in patterns:
        if pattern == "*":
            alternatives.append(r".+")
            continue
        parts = (re.escape(p).replace(r"\*", r"[^.]*") for p in pattern.split("."))
        alternatives.append(r"\.".join(parts))
    return re.compile("|".join(f"(?:{a})" for a in alternatives) or r"(?!)")


@dataclass(frozen=True)
class Subscription:
    """An active subscription as the write path sees it: no secret (that is read at send time,
    so caches never hold it), patterns compiled once."""

    id: str
    url: str
    events: tuple[str, ...]
    _regex: re.Pattern = field(repr=False, compare=False, default=None)

    @classmethod
    def from_row(cls, row: WebhookSubscription) -> "Subscription":
        """The compiled form of a stored subscription."""
        events = tuple(row.events or ())
        return cls(id=row.id, url=row.url, events=events, _regex=compile_patterns(events))

    def matches(self, event_type: str) -> bool:
        """Whether an event of ``event_type`` (``contact.created``) is wanted here."""
        return self._regex.fullmatch(event_type) is not None


def check_url(value: Any) -> list[str]:
    """What is wrong with ``value`` as a webhook URL (http or https, with a host); [] if fine."""
    if not isinstance(value, str) or not value.strip():
        return ["must be an http or https URL"]
    value = value.strip()
    if len(value) > MAX_URL:
        return [f"must be at most {MAX_URL} characters"]
    if any(ch.isspace() for ch in value):
        return ["must not contain spaces"]
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return ["is not a valid URL"]
    if parts.scheme.lower() not in ("http", "https"):
        return ["must start with http:// or https://"]
    if not parts.hostname:
        return ["must name a host"]
    return []


def _check_events(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        return ['must be a non-empty list of event patterns like "contact.created" or "contact.*"']
    if len(value) > MAX_PATTERNS:
        return [f"must list at most {MAX_PATTERNS} patterns"]
    errors = []
    for i, pattern in enumerate(value):
        if not isinstance(pattern, str) or not pattern:
            errors.append(f"[{i}] must be a text pattern like \"contact.created\"")
        elif len(pattern) > MAX_PATTERN:
            errors.append(f"[{i}] must be at most {MAX_PATTERN} characters")
        elif pattern != "*" and (pattern.count(".") < 1
                                 or not all(_PART.match(p) for p in pattern.split("."))):
            errors.append(f"[{i}] {pattern!r} is not an event pattern: use <object>.<verb> with "
                          "letters, digits, _ or -, and * as a wildcard (\"contact.*\", "
                          "\"*.created\", \"*\")")
    return errors


def validate_subscription(data: Any, partial: bool = False, policy: EgressPolicy | None = None) -> dict:
    """The clean form of a subscription body (``partial`` for a PATCH, which may also carry
    ``rotate_secret: true``). Raises ValidationFailed naming each bad key and why, a URL that
    points at a non-public address included (``policy``: strict unless given)."""
    if not isinstance(data, dict):
        raise ValidationFailed("A webhook subscription must be a JSON object.",
                               errors={"_body": ["must be a JSON object"]})
    allowed = KEYS + (("rotate_secret",) if partial else ())
    errors: dict[str, list[str]] = {}
    for key in data:
        if key == "secret":
            errors[key] = ["is generated by the server; use rotate_secret to replace it"]
        elif key not in allowed:
            errors[str(key)] = [f"unknown key; allowed: {', '.join(allowed)}"]
    clean: dict[str, Any] = {}
    for key, required in (("url", True), ("events", True)):
        if key not in data:
            if not partial and required:
                errors[key] = ["is required"]
            continue
        if key == "url":
            problems = check_url(data[key]) or (policy or STRICT).problems(data[key])
        else:
            problems = _check_events(data[key])
        if problems:
            errors[key] = problems
        elif key == "url":
            clean["url"] = data["url"].strip()
        else:
            clean["events"] = list(dict.fromkeys(data["events"]))  # drop repeats, keep order
    if "description" in data:
        desc = data["description"]
        if desc is not None and not isinstance(desc, str):
            errors["description"] = ["must be text or null"]
        elif desc is not None and len(desc) > MAX_DESCRIPTION:
            errors["description"] = [f"must be at most {MAX_DESCRIPTION} characters"]
        else:
            clean["description"] = desc or None
    for key in ("active", "rotate_secret"):
        if key in data and key in allowed:
            if not isinstance(data[key], bool):
                errors[key] = ["must be true or false"]
            else:
                clean[key] = data[key]
    if errors:
        raise ValidationFailed("Invalid webhook subscription.", errors=errors)
    if not partial:
        clean.setdefault("description", None)
        clean.setdefault("active", True)
    return clean


def new_secret() -> str:
    """A fresh signing secret (256 random bits, URL-safe text)."""
    return _secrets.token_urlsafe(32)


def create_subscription(session: Session, data: Any, *, box: SecretBox,
                        policy: EgressPolicy | None = None) -> tuple[WebhookSubscription, str]:
    """Validate and add a subscription in the caller's transaction; returns ``(row, secret)``.

    The secret is generated here and stored sealed by ``box`` (``MOSAIC_SECRET_KEY``): the plain
    value exists only in this answer, shown to the admin once. ``policy``: where webhooks may go
    (public addresses only unless given).
    """
    clean = validate_subscription(data, policy=policy)
    count = session.scalar(select(func.count()).select_from(WebhookSubscription))
    if count >= MAX_SUBSCRIPTIONS:
        raise Conflict(f"A tenant can have at most {MAX_SUBSCRIPTIONS} webhook subscriptions.")
    secret = new_secret()
    now = utcnow()
    row = WebhookSubscription(id=new_id(), url=clean["url"], events=clean["events"], secret=box.seal(secret),
                              description=clean["description"], active=clean["active"],
                              created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row, secret


def page_subscriptions(session: Session, cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
    """The tenant's subscriptions, oldest first, a keyset page on (created_at, id):
    ``{"items": [API form], "next_cursor": str | None}``. BadRequest for a forged cursor."""
    limit = max(1, min(int(limit), MAX_PAGE))
    created, sub_id = WebhookSubscription.created_at, WebhookSubscription.id
    stmt = select(WebhookSubscription)
    if cursor:
        at, last_id = paging.read_time_cursor(cursor)
        stmt = stmt.where(paging.after(created, sub_id, _OLDEST_FIRST, at, last_id, nullable=False))
    rows = session.scalars(stmt.order_by(*paging.order_by(created, sub_id, _OLDEST_FIRST, nullable=False))
                           .limit(limit + 1)).all()
    items = rows[:limit]
    return {"items": [subscription_out(r) for r in items],
            "next_cursor": paging.time_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None}


def get_subscription(session: Session, sub_id: str) -> WebhookSubscription:
    """One subscription of the tenant; NotFound otherwise."""
    row = session.get(WebhookSubscription, sub_id) if isinstance(sub_id, str) else None
    if row is None:
        raise NotFound(f"Webhook subscription {sub_id} not found.")
    return row


def update_subscription(session: Session, sub_id: str, data: Any, *, box: SecretBox,
                        policy: EgressPolicy | None = None) -> tuple[WebhookSubscription, str | None]:
    """Apply a PATCH; returns ``(row, new_secret)``, ``new_secret`` None unless the patch had
    ``rotate_secret: true`` (the new secret is sealed by ``box``; what is still queued is signed
    with it). ``policy`` as for :func:`create_subscription`."""
    clean = validate_subscription(data, partial=True, policy=policy)
    row = get_subscription(session, sub_id)
    rotated = None
    if clean.pop("rotate_secret", False):
        rotated = new_secret()
        row.secret = box.seal(rotated)
    changed = rotated is not None
    for key, value in clean.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        row.updated_at = utcnow()
        session.flush()
    return row, rotated


def delete_subscription(session: Session, sub_id: str) -> None:
    """Remove a subscription with its delivery log (nothing queued for it is sent any more)."""
    row = get_subscription(session, sub_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == row.id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries))
                    .execution_options(synchronize_session=False))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.subscription_id == row.id)
                    .execution_options(synchronize_session=False))
    session.delete(row)
    session.flush()


def subscription_out(row: WebhookSubscription) -> dict[str, Any]:
    """The API form of a subscription. Never the secret: that is shown only when created or
    rotated (the caller adds it to that one response)."""
    return {"id": row.id, "url": row.url, "events": list(row.events or []),
            "description": row.description, "active": bool(row.active),
            "created_at": format_datetime(row.created_at),
            "updated_at": format_datetime(row.updated_at)}


def active_subscriptions(session: Session) -> list[Subscription]:
    """The tenant's active subscriptions, compiled (what each event is matched against)."""
    stmt = (select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id))
    return [Subscription.from_row(row) for row in session.scalars(stmt)]
