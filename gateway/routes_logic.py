"""Low-code configuration and its runtime surfaces: processes, automation rules and validation
rules as metadata; approvals waiting for the caller; notifications; webhook subscriptions."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from mosaic import permissions, services as installed_services
from mosaic.errors import Forbidden, MosaicError, NotFound, ValidationFailed
from mosaic.logic.definitions import PATHS
from mosaic_gateway import auth
from mosaic_gateway.contract import PROBLEM, declare, flag, header, items_of, limit, page_of, query
from mosaic_gateway.idempotency import idempotent
from mosaic_gateway.responses import (APPROVAL, DEFINITION, DEFINITION_IN, MARKED, NOTIFICATIONS_PAGE, WEBHOOK,
                                     WEBHOOK_DELIVERY, WEBHOOK_IN, WEBHOOK_PATCH)
from mosaic_gateway.web import call, context, directory, int_arg, json_body, rpc

bp = Blueprint("logic", __name__, url_prefix="/api/v1")
KIND_OF_PATH = {path: kind for kind, path in PATHS.items()}
NOT_FOUND = {404: PROBLEM}  # also when no module hosting records is enabled


def _admin() -> None:
    if not auth.authenticate().has_role("admin"):
        raise Forbidden("only a tenant admin may change processes, rules and webhooks")


def _readable(path: str) -> None:
    """Rules hold webhook URLs (tokens in their paths) and where secrets go: admins only."""
    if path == "rules" and not auth.authenticate().has_role("admin"):
        raise Forbidden("only a tenant admin may read automation rules")


def _services() -> list[str]:
    """The tenant's enabled services that host records (a read model has no definitions; a
    tenant with none has nothing to configure here)."""
    ctx = context()
    services = installed_services.hosting_records(ctx.modules)
    if not services:
        raise NotFound("no module that hosts records is enabled for this tenant")
    return services


def _fan_out(method: str, *args) -> list:
    """``method`` on every enabled service, in parallel; their results (errors raised)."""
    results = rpc().call_many([(s, method, *args) for s in _services()], context())
    for result in results:
        if isinstance(result, MosaicError):
            raise result
    return results


def _items(result):
    return result["items"] if isinstance(result, dict) else result


def _kind(path: str) -> str:
    kind = KIND_OF_PATH.get(path)
    if kind is None:
        raise NotFound(f"no such resource: /api/v1/metadata/{path}")
    return kind


# ---------------------------------------------------------------- definitions as metadata

@bp.get("/metadata/<any(processes, rules, 'validation-rules'):path>")
@declare("Processes, rules or validation rules of the tenant and its plugins", tag="metadata",
         params=[query("object", "only this object's")], responses={200: items_of(DEFINITION), **NOT_FOUND})
def list_definitions(path: str):
    """The tenant's processes / rules / validation rules, and those of its plugins (read-only)."""
    kind = _kind(path)
    _readable(path)
    items = [item for result in _fan_out("list_definitions", kind) for item in result]
    obj = request.args.get("object")
    if obj:
        items = [i for i in items if i.get("object") == obj]
    return jsonify({"items": sorted(items, key=lambda i: (i.get("object", ""), i.get("name", "")))})


@bp.get("/metadata/<any(processes, rules, 'validation-rules'):path>/<name>")
@declare("One definition", tag="metadata", responses={200: DEFINITION, **NOT_FOUND})
def get_definition(path: str, name: str):
    kind = _kind(path)
    _readable(path)
    for result in _fan_out("list_definitions", kind):
        for item in result:
            if item.get("name") == name:
                return jsonify(item)
    raise NotFound(f"no {kind.replace('_', ' ')} named {name!r}")


@bp.put("/metadata/<any(processes, rules, 'validation-rules'):path>/<name>")
@declare("Create (201) or replace (200) a definition", tag="metadata", body=DEFINITION_IN,
         responses={200: DEFINITION, 201: DEFINITION, 409: PROBLEM, 422: PROBLEM, **NOT_FOUND})
def put_definition(path: str, name: str):
    """Create or replace a definition; it applies from the next write of the object's records."""
    _admin()
    kind = _kind(path)
    body = json_body()
    if body.setdefault("name", name) != name:
        raise ValidationFailed("the name in the body differs from the URL", errors={"name": ["must match the URL"]})
    if not isinstance(body.get("object"), str):
        raise ValidationFailed("a definition names its object", errors={"object": ["required"]})
    try:
        service = directory().by_name(context(), body["object"])["service"]
    except NotFound:
        raise ValidationFailed(f"no object {body['object']!r} in this tenant",
                               errors={"object": ["no such object in this tenant"]}) from None
    existed = any(i.get("name") == name for i in call(service, "list_definitions", kind))
    stored = call(service, "put_definition", kind, body)
    directory().invalidate(auth.authenticate().tenant_id)
    return jsonify(stored), (200 if existed else 201)


@bp.delete("/metadata/<any(processes, rules, 'validation-rules'):path>/<name>")
@declare("Delete a definition of the tenant (plugins' cannot be)", tag="metadata", responses={204: None, **NOT_FOUND})
def delete_definition(path: str, name: str):
    _admin()
    kind = _kind(path)
    for service in _services():
        if any(i.get("name") == name and not i.get("plugin") for i in call(service, "list_definitions", kind)):
            call(service, "delete_definition", kind, name)
            directory().invalidate(auth.authenticate().tenant_id)
            return Response(status=204)
    raise NotFound(f"no {kind.replace('_', ' ')} named {name!r} of this tenant (plugins' cannot be deleted)")


# ---------------------------------------------------------------- approvals and notifications
# One owner each (the hub: ``services.provider``), paged there for real; no fan-out.

_CURSOR = query("cursor", "next_cursor of the previous page")


def _readable_objects() -> list[str]:
    """The objects of the tenant's enabled modules the caller may read (the inbox shows only
    approvals of those, as the deciding service would)."""
    ctx = context()
    return sorted(obj["name"] for obj in directory().objects(ctx).values()
                  if ctx.has_role("admin", "system")
                  or permissions.can(ctx.roles, obj["name"], "read", module=obj["service"]))


@bp.get("/approvals")
@declare("Approvals the caller may decide, oldest request first", tag="processes",
         params=[query("status", "pending (default), approved or rejected", type="string",
                       enum=["pending", "approved", "rejected"]), _CURSOR, limit(50, 200)],
         responses={200: page_of(APPROVAL), 400: PROBLEM, 422: PROBLEM})
def list_approvals():
    """Approvals the caller may decide (every one for an admin), ``?status=approved|rejected`` for
    decided ones; decide with ``POST /api/v1/{objects}/{id}/approve|reject``."""
    status = request.args.get("status", "pending")
    if status not in ("pending", "approved", "rejected"):
        raise ValidationFailed("status must be pending, approved or rejected", errors={"status": ["invalid"]})
    page = call(installed_services.provider("approvals"), "approvals", status,
                int_arg("limit", 50, 1, 200), request.args.get("cursor") or None, _readable_objects())
    return jsonify(page)


@bp.get("/notifications")
@declare("The caller's notifications, newest first", tag="notifications",
         params=[flag("unread", "only unread ones"), _CURSOR, limit(50, 200)],
         responses={200: NOTIFICATIONS_PAGE, 400: PROBLEM})
def list_notifications():
    """The caller's notifications (to them or to one of their roles), newest first
    (``?unread=true``), with how many are unread."""
    unread = request.args.get("unread") in ("1", "true", "yes")
    page = call(installed_services.provider("notifications"), "notifications", unread,
                int_arg("limit", 50, 1, 200), request.args.get("cursor") or None)
    return jsonify(page)


@bp.post("/notifications/read")
@declare("Mark notifications read", tag="notifications",
         body={"type": "object", "required": ["ids"], "properties": {
             "ids": {"type": "array", "maxItems": 1000, "items": {"type": "string"}}}},
         responses={200: MARKED, 422: PROBLEM})
def read_notifications():
    """Mark notifications read: ``{"ids": [...]}`` (a role's notification is read for the role)."""
    body = json_body()
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValidationFailed("ids must be a list of notification ids", errors={"ids": ["a list of strings"]})
    return jsonify(call(installed_services.provider("notifications"), "mark_notifications_read", ids))


# ---------------------------------------------------------------- webhook subscriptions
# One owner (the hub: ``services.provider("webhooks")``): one RPC per request, one row per
# subscription, paged there for real; no fan-out.

def _webhooks(method: str, *args):
    """``method`` of the service owning webhook subscriptions, as the calling admin."""
    _admin()
    return call(installed_services.provider("webhooks"), method, *args)


@bp.get("/webhooks")
@declare("Webhook subscriptions, oldest first (never their secrets)", tag="webhooks",
         params=[_CURSOR, limit(50, 200)], responses={200: page_of(WEBHOOK), 400: PROBLEM})
def list_webhooks():
    """The tenant's webhook subscriptions, a page at a time (secrets are never shown again)."""
    return jsonify(_webhooks("list_webhooks", int_arg("limit", 50, 1, 200), request.args.get("cursor") or None))


@bp.post("/webhooks")
@declare("Subscribe a URL to event types (the signing secret is shown once)", tag="webhooks", body=WEBHOOK_IN,
         params=[header("Idempotency-Key")], responses={201: WEBHOOK, 409: PROBLEM, 422: PROBLEM},
         description="Deliveries are signed: see docs/webhooks.md for the Mosaic-Signature header. A replay "
                     "of the request (same Idempotency-Key) answers the subscription without its secret.")
@idempotent
def create_webhook():
    """Subscribe a URL to event types; the response carries the signing secret, once."""
    created = _webhooks("create_webhook", json_body())
    return jsonify(created), 201, {"Location": f"/api/v1/webhooks/{created['id']}"}


@bp.get("/webhooks/<sub_id>")
@declare("One subscription (never its secret)", tag="webhooks", responses={200: WEBHOOK, 404: PROBLEM})
def get_webhook(sub_id: str):
    return jsonify(_webhooks("get_webhook", sub_id))


@bp.patch("/webhooks/<sub_id>")
@declare("Change a subscription or rotate its secret", tag="webhooks", body=WEBHOOK_PATCH,
         responses={200: WEBHOOK, 404: PROBLEM, 422: PROBLEM})
def update_webhook(sub_id: str):
    """Change url, events, description or active; ``rotate_secret: true`` returns a new secret."""
    return jsonify(_webhooks("update_webhook", sub_id, json_body()))


@bp.delete("/webhooks/<sub_id>")
@declare("Delete a subscription and its delivery log", tag="webhooks", responses={204: None, 404: PROBLEM})
def delete_webhook(sub_id: str):
    _webhooks("delete_webhook", sub_id)
    return Response(status=204)


@bp.get("/webhooks/<sub_id>/deliveries")
@declare("A subscription's deliveries and their attempts, newest first", tag="webhooks",
         params=[query("status", "only pending, delivered or failed ones", type="string",
                       enum=["pending", "delivered", "failed"]), _CURSOR, limit(50, 200)],
         responses={200: page_of(WEBHOOK_DELIVERY), 400: PROBLEM, 404: PROBLEM})
def webhook_deliveries(sub_id: str):
    """The subscription's deliveries with every attempt, newest first, a page at a time."""
    return jsonify(_webhooks("webhook_deliveries", sub_id, int_arg("limit", 50, 1, 200),
                             request.args.get("cursor") or None, request.args.get("status") or None))
