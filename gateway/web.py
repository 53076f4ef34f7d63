"""Small helpers every gateway view uses: the caller's RPC context, JSON bodies, ETags, paging
parameters and field permissions."""
from __future__ import annotations

import json

from mosaic.errors import BadRequest, Forbidden, PayloadTooLarge, PreconditionFailed
from mosaic.metadata.fields import ObjectDef
from mosaic_gateway import auth, idempotency, redaction

MAX_FILTER = 4096


def rpc():
    return auth._request_app().extensions["mosaic"]["rpc"]


def directory():
    return auth._request_app().extensions["mosaic"]["directory"]


def context():
    """The authenticated caller as the RPC context services receive (the RPC client adds the
    trace context of the moment it calls)."""
    return auth.request_context()


def call(service: str, method: str, *args, **kwargs):
    """An RPC on behalf of the authenticated caller, naming its write by a request id that is the
    same on every attempt of an ``Idempotency-Key`` request (see :func:`idempotency.request_id`)."""
    ctx = context().with_request(idempotency.request_id(service, method))
    return rpc().call(service, method, ctx, *args, **kwargs)


def json_body() -> dict:
    """The request's JSON object; 400 for a missing or malformed body, 413 for an oversized one."""
    limit = auth.settings().max_body
    req = auth._request()
    declared = req.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes")
    raw = req.get_data(cache=True)
    if len(raw) > limit:
        raise PayloadTooLarge(f"JSON bodies are limited to {limit} bytes")
    if not raw.strip():
        raise BadRequest("a JSON object is required as the request body")
    try:
        data = json.loads(raw)  # what Flask's default JSON provider runs, without two proxied calls
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def etag(record: dict) -> str:
    return f'"{record.get("version")}"'


def if_match() -> int | None:
    """The version an ``If-Match`` header names (``"3"``, ``W/"3"``), or None when absent/``*``."""
    raw = auth._request().headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value.isdigit():
        raise PreconditionFailed("If-Match must be the ETag (version) of the record")
    return int(value)


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = auth._request().args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", errors={name: ["not a whole number"]}) from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}", errors={name: [f"between {low} and {high}"]})
    return value


def count_arg() -> bool:
    """``count=true`` asks a list for its ``total`` (``false``, absent: no count)."""
    raw = (auth._request().args.get("count") or "false").strip().lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest("count must be true or false", errors={"count": ["true or false"]})
    return raw in ("true", "1")


def page_out(page: dict, guard: "FieldGuard") -> dict:
    """A list page as the API answers it: the records the caller may see, the cursor, and the
    ``total`` (``total_is_estimate``) when it was asked for."""
    out = {"items": [guard.out(r) for r in page["items"]], "next_cursor": page["next_cursor"]}
    if "total" in page:
        out["total"], out["total_is_estimate"] = page["total"], page["total_is_estimate"]
    return out


def fields_arg() -> list[str] | None:
    raw = auth._request().args.get("fields")
    if not raw:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def filter_arg() -> str | None:
    raw = auth._request().args.get("filter")
    if raw is not None and len(raw) > MAX_FILTER:
        raise BadRequest(f"filters are limited to {MAX_FILTER} characters", errors={"filter": ["too long"]})
    return raw or None


class FieldGuard:
    """The caller's field permissions on one object: hides what it may not read, refuses what
    it may not write, and refuses filtering or sorting on hidden fields (which would leak them).
    Hiding in every other payload (history, timelines, 360, approvals, notifications, plugin
    routes, CSV) is :mod:`mosaic_gateway.redaction`'s."""

    def __init__(self, obj: dict):
        self.obj = obj
        ident = auth.authenticate()
        self.hidden, self.readonly = auth.field_policy(ident, obj["name"])

    def out(self, record: dict | None) -> dict | None:
        """``record`` without the hidden fields (every JSON response is also redacted as a whole
        by :mod:`mosaic_gateway.redaction`; this keeps a view's own use of a record honest)."""
        return redaction.drop_fields(record, self.hidden)

    def check_write(self, data: dict) -> None:
        bad = [k for k in data if k in self.hidden or k in self.readonly]
        if bad:
            raise Forbidden("you may not write these fields", errors={k: ["not writable for your roles"] for k in bad})

    def check_query(self, filter_text: str | None, sort: str | None, fields: list[str] | None) -> None:
        if not self.hidden:
            return
        used: set[str] = set(fields or ())
        if sort:
            used.add(sort.strip().lstrip("+-").partition(".")[0])  # budget.amount sorts by budget
        if filter_text:
            from mosaic.filters import parse

            obj = ObjectDef.from_dict(self.obj)
            used |= set(parse(filter_text, {f.name: f for f in obj.fields}).fields)
        bad = used & self.hidden
        if bad:
            raise Forbidden("you may not query these fields", errors={k: ["hidden for your roles"] for k in sorted(bad)})
