"""Typed errors every service raises; the gateway maps each to one HTTP status.

They cross RPC as nameko remote errors: nameko serialises ``exc_type`` (the class name) and
``value`` (``str(exc)``), so a payload is JSON-encoded into the message and rebuilt by
:func:`from_remote` on the gateway side.
"""
from __future__ import annotations

import json
from typing import Any


class MosaicError(Exception):
    """Base of every error a caller may see. ``status`` is the HTTP status the gateway uses."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str = "", errors: dict[str, Any] | None = None, **extra: Any):
        self.detail = detail or self.title
        self.errors = flatten_errors(errors or {})
        self.extra = extra
        super().__init__(json.dumps({"detail": self.detail, "errors": self.errors, "extra": extra},
                                    default=str))

    def to_problem(self) -> dict[str, Any]:
        """The ``application/problem+json`` body for this error."""
        body: dict[str, Any] = {
            "type": f"https://mosaic-crm.dev/problems/{_slug(type(self).__name__)}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{field path: [messages]}`` from nested error dicts (marshmallow's for nested schemas and
    lists): ``{"modules": {0: ["bad"]}}`` → ``{"modules[0]": ["bad"]}``, ``{"admin": {"email":
    [...]}}`` → ``{"admin.email": [...]}`` — the one shape the Problem schema documents."""
    if not isinstance(errors, dict):
        messages = errors if isinstance(errors, (list, tuple)) else [errors]
        flat: dict[str, list[str]] = {}
        for message in messages:
            if isinstance(message, dict):  # a list of nested errors: merge them under the prefix
                for key, value in flatten_errors(message, prefix).items():
                    flat.setdefault(key, []).extend(value)
            else:
                flat.setdefault(prefix or "_schema", []).append(str(message))
        return flat
    out: dict[str, list[str]] = {}
    for key, value in errors.items():
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit() and prefix):
            path = f"{prefix}[{key}]"
        else:
            path = f"{prefix}.{key}" if prefix else str(key)
        for sub, messages in flatten_errors(value, path).items():
            out.setdefault(sub, []).extend(messages)
    return out


class BadRequest(MosaicError):
    status, title = 400, "Bad request"


class Unauthorized(MosaicError):
    status, title = 401, "Unauthorized"


class Forbidden(MosaicError):
    status, title = 403, "Forbidden"


class NotFound(MosaicError):
    status, title = 404, "Not found"


class Conflict(MosaicError):
    status, title = 409, "Conflict"


class PreconditionFailed(MosaicError):
    status, title = 412, "Precondition failed"


class PayloadTooLarge(MosaicError):
    status, title = 413, "Payload too large"


class ValidationFailed(MosaicError):
    status, title = 422, "Validation failed"


class InvalidFilter(ValidationFailed):
    title = "Invalid filter"


class RateLimited(MosaicError):
    status, title = 429, "Too many requests"


class ServiceUnavailable(MosaicError):
    status, title = 503, "Service unavailable"


ERROR_TYPES: dict[str, type[MosaicError]] = {
    cls.__name__: cls
    for cls in (MosaicError, BadRequest, Unauthorized, Forbidden, NotFound, Conflict,
                PreconditionFailed, PayloadTooLarge, ValidationFailed, InvalidFilter,
                RateLimited, ServiceUnavailable)
}


def from_remote(exc_type: str, value: str) -> MosaicError | None:
    """Rebuild a typed error from nameko's ``RemoteError`` parts; None if it is not ours."""
    cls = ERROR_TYPES.get(exc_type)
    if cls is None:
        return None
    try:
        payload = json.loads(value)
    except (TypeError, ValueError):
        return cls(str(value))
    return cls(payload.get("detail", ""), payload.get("errors") or None, **(payload.get("extra") or {}))


def _slug(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("-")
        out.append(ch.lower())
    return "".join(out)
