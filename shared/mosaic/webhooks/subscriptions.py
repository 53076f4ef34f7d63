"""Webhook subscriptions: validation, CRUD, and the compiled form the write path matches against.

Event patterns are ``<object>.<verb>`` with ``*`` standing for any run of characters inside one
dot-separated part (``contact.*``, ``*.created``, ``realestate__*.*``); a lone ``*`` is every
event. Every change bumps the tenant's metadata version, so each process's cached
``TenantLogic`` (which holds the compiled, active subscriptions) is rebuilt.
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

from mosaic.db import utcnow
from mosaic.errors import Conflict, NotFound, ValidationFailed
from mosaic.metadata.store import bump_version
from mosaic.metadata.values import format_datetime
from mosaic.webhooks.egress import STRICT, EgressPolicy
from mosaic.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

KEYS = ("url", "events", "description", "active")
MAX_URL = 2000
MAX_DESCRIPTION = 500
MAX_PATTERNS = 50
MAX_PATTERN = 200
#: enqueueing tests every active subscription on every write; keep that list short.
MAX_SUBSCRIPTIONS = 100
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


def _check_secret(secret: Any) -> str:
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        raise ValidationFailed("Invalid webhook secret.",
                               errors={"secret": ["must be text of 16 to 200 characters"]})
    return secret


def new_secret() -> str:
    """A fresh signing secret (256 random bits, URL-safe text)."""
    return _secrets.token_urlsafe(32)


def create_subscription(session: Session, data: Any, sub_id: str | None = None,
                        secret: str | None = None, policy: EgressPolicy | None = None
                        ) -> tuple[WebhookSubscription, str]:
    """Validate and add a subscription in the caller's transaction; returns ``(row, secret)``.

    ``sub_id`` and ``secret`` let the gateway create one subscription with one id and one secret
    in every service that emits events; both are generated when not given. ``policy``: where
    webhooks may go (public addresses only unless given).
    """
    clean = validate_subscription(data, policy=policy)
    secret = new_secret() if secret is None else _check_secret(secret)
    if sub_id is not None and session.get(WebhookSubscription, sub_id) is not None:
        raise Conflict(f"Webhook subscription {sub_id} already exists.")
    count = session.scalar(select(func.count()).select_from(WebhookSubscription))
    if count >= MAX_SUBSCRIPTIONS:
        raise Conflict(f"A tenant can have at most {MAX_SUBSCRIPTIONS} webhook subscriptions.")
    now = utcnow()
    row = WebhookSubscription(url=clean["url"], events=clean["events"], secret=secret,
                              description=clean["description"], active=clean["active"],
                              created_at=now, updated_at=now)
    if sub_id is not None:
        row.id = sub_id
    session.add(row)
    session.flush()
    bump_version(session)
    return row, secret


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    """The tenant's subscriptions, oldest first."""
    stmt = select(WebhookSubscription).order_by(WebhookSubscription.created_at,
                                                WebhookSubscription.id)
    return list(session.scalars(stmt))


def get_subscription(session: Session, sub_id: str) -> WebhookSubscription:
    """One subscription of the tenant; NotFound otherwise."""
    row = session.get(WebhookSubscription, sub_id) if isinstance(sub_id, str) else None
    if row is None:
        raise NotFound(f"Webhook subscription {sub_id} not found.")
    return row


def update_subscription(session: Session, sub_id: str, data: Any, secret: str | None = None,
                        policy: EgressPolicy | None = None) -> tuple[WebhookSubscription, str | None]:
    """Apply a PATCH; returns ``(row, new_secret)``, ``new_secret`` None unless the patch had
    ``rotate_secret: true`` (``secret`` lets the gateway rotate to the same value everywhere;
    ``policy`` as for :func:`create_subscription`)."""
    clean = validate_subscription(data, partial=True, policy=policy)
    row = get_subscription(session, sub_id)
    rotated = None
    if clean.pop("rotate_secret", False):
        rotated = new_secret() if secret is None else _check_secret(secret)
        row.secret = rotated
    changed = rotated is not None
    for key, value in clean.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    if changed:
        row.updated_at = utcnow()
        session.flush()
        bump_version(session)
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
    bump_version(session)


def subscription_out(row: WebhookSubscription) -> dict[str, Any]:
    """The API form of a subscription. Never the secret: that is shown only when created or
    rotated (the caller adds it to that one response)."""
    return {"id": row.id, "url": row.url, "events": list(row.events or []),
            "description": row.description, "active": bool(row.active),
            "created_at": format_datetime(row.created_at),
            "updated_at": format_datetime(row.updated_at)}


def active_subscriptions(session: Session) -> list[Subscription]:
    """The tenant's active subscriptions, compiled (what ``TenantLogic`` caches)."""
    stmt = (select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id))
    return [Subscription.from_row(row) for row in session.scalars(stmt)]
