"""The metadata API: a tenant admin lists objects and fields, adds, changes and removes custom
fields, and creates custom objects — usable at once through the record API."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from mosaic import services
from mosaic.errors import ValidationFailed
from mosaic_gateway import auth
from mosaic_gateway.contract import PROBLEM, declare, flag, items_of
from mosaic_gateway.responses import FIELD_DEF_IN, OBJECT_DEF, OBJECT_DEF_IN
from mosaic_gateway.web import call, context, directory, json_body

bp = Blueprint("metadata", __name__, url_prefix="/api/v1/metadata")


def _admin():
    ident = auth.authenticate()
    if not ident.has_role("admin"):
        from mosaic.errors import Forbidden

        raise Forbidden("only a tenant admin may change metadata")
    return ident


def _changed():
    directory().invalidate(auth.authenticate().tenant_id)


@bp.get("/objects")
@declare("Objects and fields of the tenant", tag="metadata", responses={200: items_of(OBJECT_DEF)})
def list_objects():
    ctx = context()
    directory().invalidate(ctx.tenant_id)
    return jsonify({"items": list(directory().objects(ctx).values())})


@bp.get("/objects/<name>")
@declare("One object and its fields", tag="metadata", responses={200: OBJECT_DEF, 404: PROBLEM})
def get_object(name: str):
    return jsonify(directory().by_name(context(), name))


@bp.post("/objects")
@declare("Create a custom object", tag="metadata", body=OBJECT_DEF_IN,
         responses={201: OBJECT_DEF, 409: PROBLEM, 422: PROBLEM})
def create_object():
    _admin()
    body = json_body()
    ctx = context()
    enabled = services.hosting_records(ctx.modules)
    # The service hosting the object: named, or the tenant's only enabled one that hosts records.
    service = body.pop("service", enabled[0] if len(enabled) == 1 else None)
    if service is None:
        raise ValidationFailed("name the service that hosts the object",
                               errors={"service": [f"one of {', '.join(enabled) or 'no enabled service'}"]})
    if service not in enabled:
        raise ValidationFailed("custom objects are hosted by an enabled service that hosts records",
                               errors={"service": [f"not an enabled service hosting records: {service!r}"]})
    created = call(service, "create_object", body)
    _changed()
    return jsonify(created), 201


@bp.delete("/objects/<name>")
@declare("Delete a custom object (?force=true: with its records)", tag="metadata",
         params=[flag("force", "delete its records too")], responses={204: None, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM})
def delete_object(name: str):
    _admin()
    obj = directory().by_name(context(), name)
    call(obj["service"], "delete_object", name, force=request.args.get("force") == "true")
    _changed()
    return Response(status=204)


@bp.post("/objects/<name>/fields")
@declare("Add a custom field", tag="metadata", body=FIELD_DEF_IN,
         responses={201: {"type": "object"}, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM})
def add_field(name: str):
    _admin()
    obj = directory().by_name(context(), name)
    created = call(obj["service"], "add_field", name, json_body())
    _changed()
    return jsonify(created), 201


@bp.patch("/objects/<name>/fields/<field>")
@declare("Change a custom field", tag="metadata", body={"type": "object"},
         responses={200: {"type": "object"}, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM})
def change_field(name: str, field: str):
    _admin()
    obj = directory().by_name(context(), name)
    changed = call(obj["service"], "change_field", name, field, json_body())
    _changed()
    return jsonify(changed)


@bp.delete("/objects/<name>/fields/<field>")
@declare("Remove a custom field", tag="metadata", responses={204: None, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM})
def remove_field(name: str, field: str):
    _admin()
    obj = directory().by_name(context(), name)
    call(obj["service"], "remove_field", name, field)
    _changed()
    return Response(status=204)
