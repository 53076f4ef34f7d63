"""The event envelope every service publishes, and the one JSON encoding used on the wire.

An envelope is a plain, JSON-safe dict::

    {"id", "type", "tenant_id", "occurred_at", "actor", "object", "record_id", "data", "version"}

``type`` is ``<object>.<verb>`` (``contact.created``) and doubles as the AMQP routing key, so
consumers bind patterns like ``contact.*``. ``version`` is the record's version after the change,
which lets a read model ignore an older event that arrives after a newer one.

**Platform-internal events.** A type that starts with ``platform.`` (:data:`INTERNAL_PREFIX`,
e.g. ``platform.notification.requested``) is the platform talking to itself through the outbox
(a service asking the hub to store a notification): it travels like any event, exactly once, but
it is not a domain event. Webhook subscribers, analytics, plugins' event handlers and the
retained event log's readers skip it (:func:`is_internal`); only its own consumer binds it.
"""
from __future__ import annotations

import enum
import json
import re
import uuid
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

from mosaic.db import new_id, utcnow
from mosaic.errors import ValidationFailed

ENVELOPE_KEYS = ("id", "type", "tenant_id", "occurred_at", "actor", "object", "record_id", "data",
                 "version")

#: the type namespace of platform-internal events (never delivered to webhooks or analytics)
INTERNAL_PREFIX = "platform."


def is_internal(event) -> bool:
    """Whether an envelope (or an event type) is platform-internal: not a domain event."""
    kind = event.get("type") if isinstance(event, dict) else event
    return isinstance(kind, str) and kind.startswith(INTERNAL_PREFIX)


#: dot-separated words; no ``*``/``#`` since the type is the routing key of a published message.
_TYPE_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)+$")


def _to_utc_iso(value: datetime) -> str:
    # Naive datetimes in this code base are UTC by convention (mosaic.db.UTCDateTime).
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` hook for the types records hold but JSON does not.

    A Decimal becomes a JSON number when a float carries it exactly (``19.99``), else a string, so
    no digit of a large money amount is silently lost.
    """
    if isinstance(value, datetime):
        return _to_utc_iso(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2 ** 53:
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` (dates, datetimes, Decimals, UUIDs, enums handled)."""
    return json.dumps(value, default=json_default, separators=(",", ":"), ensure_ascii=False)


def encode_body(envelope: dict) -> bytes:
    """The message body of an envelope: UTF-8 JSON. Every publisher uses this one function."""
    return dumps(envelope).encode("utf-8")


def json_safe(value: Any) -> Any:
    """``value`` rebuilt from plain JSON types only (what a JSON column and the wire hold)."""
    return json.loads(dumps(value))


def make_envelope(type: str, tenant_id: str, actor: str, object: str, record_id: str | None,
                  data: dict | None, version: int | None) -> dict:
    """A new, validated envelope with a fresh time-ordered id and ``occurred_at`` = now (UTC).

    ``data`` is converted to JSON-safe values here, so what is stored in the outbox is exactly what
    consumers will receive.
    """
    envelope = {
        "id": new_id(),
        "type": type,
        "tenant_id": tenant_id,
        "occurred_at": _to_utc_iso(utcnow()),
        "actor": actor,
        "object": object,
        "record_id": None if record_id is None else str(record_id),
        "data": json_safe(data or {}),
        "version": version,
    }
    return validate_envelope(envelope)


def validate_envelope(envelope: Any) -> dict:
    """Return ``envelope`` if it is a well-formed envelope, else raise ``ValidationFailed``
    naming each bad field."""
    if not isinstance(envelope, dict):
        raise ValidationFailed("an event envelope must be a JSON object")
    errors: dict[str, list[str]] = {}

    def bad(key: str, msg: str) -> None:
        errors.setdefault(key, []).append(msg)

    for key in ENVELOPE_KEYS:
        if key not in envelope:
            bad(key, "missing")
    for key in ("id", "tenant_id", "actor", "object"):
        value = envelope.get(key)
        if key in envelope and (not isinstance(value, str) or not value):
            bad(key, "must be a non-empty string")
    etype = envelope.get("type")
    if "type" in envelope and (not isinstance(etype, str) or not _TYPE_RE.match(etype)):
        bad("type", "must look like 'object.verb' (dot-separated words, no wildcards)")
    record_id = envelope.get("record_id")
    if record_id is not None and not isinstance(record_id, str):
        bad("record_id", "must be a string or null")
    if "data" in envelope and not isinstance(envelope.get("data"), dict):
        bad("data", "must be an object")
    version = envelope.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        bad("version", "must be a non-negative integer or null")
    occurred = envelope.get("occurred_at")
    if "occurred_at" in envelope:
        if not isinstance(occurred, str):
            bad("occurred_at", "must be an ISO 8601 string")
        else:
            try:
                parsed = datetime.fromisoformat(occurred.replace("Z", "+00:00"))
            except ValueError:
                bad("occurred_at", "must be an ISO 8601 string")
            else:
                if parsed.tzinfo is None:
                    bad("occurred_at", "must carry a UTC offset")
    if errors:
        raise ValidationFailed("invalid event envelope", errors)
    return envelope
