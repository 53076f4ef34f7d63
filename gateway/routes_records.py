"""The record API, the same shape for every object — core, plugin or custom:
list, get, create, PATCH, delete, history, and actions as ``POST …/{id}/{verb}``."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from mosaic.config import IMPLEMENTED_SERVICES
from mosaic.errors import BadRequest, MosaicError, NotFound
from mosaic_gateway import auth
from mosaic_gateway.idempotency import idempotent
from mosaic_gateway.web import (FieldGuard, call, context, directory, etag, fields_arg, filter_arg, if_match,
                                int_arg, json_body, rpc)

bp = Blueprint("records", __name__, url_prefix="/api/v1")

#: read-only sub-resources of a record: name -> (RPC method, objects that have it or None for all)
SUBRESOURCES = {
    "history": ("record_history", None),
    "timeline": ("timeline", {"contact", "account"}),
    "duplicates": ("find_duplicates", {"contact", "account"}),
}
#: parts of a customer's 360° view other services add when enabled: service -> RPC method
VIEW_360_PARTS: dict[str, str] = {}


def _object(path: str) -> dict:
    return directory().get(context(), path)


def _one(obj: dict, record: dict, status: int = 200, **headers) -> Response:
    resp = jsonify(FieldGuard(obj).out(record))
    resp.status_code = status
    resp.headers["ETag"] = etag(record)
    for k, v in headers.items():
        resp.headers[k.replace("_", "-")] = v
    return resp


@bp.get("/<objpath:path>")
def list_records(path: str):
    obj = _object(path)
    guard = FieldGuard(obj)
    flt, sort, fields = filter_arg(), request.args.get("sort") or None, fields_arg()
    guard.check_query(flt, sort, fields)
    limit = int_arg("limit", 50, 1, auth.settings().max_page)
    page = call(obj["service"], "list_records", obj["name"], filter=flt, sort=sort,
                cursor=request.args.get("cursor") or None, limit=limit, fields=fields)
    return jsonify({"items": [guard.out(r) for r in page["items"]], "next_cursor": page["next_cursor"]})


@bp.post("/<objpath:path>")
@auth.login_required
@idempotent
def create_record(path: str):
    obj = _object(path)
    data = json_body()
    FieldGuard(obj).check_write(data)
    policy = request.args.get("dedup", "block")
    if policy not in ("block", "allow"):
        raise BadRequest("dedup must be 'block' or 'allow'", errors={"dedup": ["block or allow"]})
    result = call(obj["service"], "create_record", obj["name"], data, dedup_policy=policy)
    record = result["record"]
    headers = {"Location": url_for("records.get_record", path=path, record_id=record["id"])}
    if result.get("duplicates"):
        headers["X_Possible_Duplicates"] = ",".join(d["id"] for d in result["duplicates"])
    return _one(obj, record, 201, **headers)


@bp.get("/<objpath:path>/<record_id>")
def get_record(path: str, record_id: str):
    obj = _object(path)
    guard = FieldGuard(obj)
    fields = fields_arg()
    guard.check_query(None, None, fields)
    return _one(obj, call(obj["service"], "get_record", obj["name"], record_id, fields))


@bp.patch("/<objpath:path>/<record_id>")
def update_record(path: str, record_id: str):
    obj = _object(path)
    data = json_body()
    FieldGuard(obj).check_write(data)
    record = call(obj["service"], "update_record", obj["name"], record_id, data, expected_version=if_match())
    return _one(obj, record)


@bp.delete("/<objpath:path>/<record_id>")
def delete_record(path: str, record_id: str):
    obj = _object(path)
    call(obj["service"], "delete_record", obj["name"], record_id, expected_version=if_match())
    return Response(status=204)


@bp.get("/<objpath:path>/<record_id>/<sub>")
def record_subresource(path: str, record_id: str, sub: str):
    obj = _object(path)
    if sub == "360" and obj["name"] == "contact":
        return _view_360(obj, record_id)
    if sub == "transitions" and obj.get("processes"):
        return jsonify(call(obj["service"], "transitions", obj["name"], record_id))
    spec = SUBRESOURCES.get(sub)
    if spec is None or (spec[1] is not None and obj["name"] not in spec[1]):
        raise NotFound(f"{obj['label']} records have no {sub!r}")
    method, _ = spec
    if sub == "duplicates":
        return jsonify({"items": call(obj["service"], method, obj["name"], record_id)})
    limit = int_arg("limit", 20 if sub == "timeline" else 50, 1, 200)
    return jsonify(call(obj["service"], method, obj["name"], record_id,
                        cursor=request.args.get("cursor") or None, limit=limit))


@bp.post("/<objpath:path>/<record_id>/<verb>")
@auth.login_required
@idempotent
def record_action(path: str, record_id: str, verb: str):
    obj = _object(path)
    if verb in PROCESS_VERBS and obj.get("processes"):
        return _process_action(obj, record_id, verb)
    if verb not in obj.get("actions", ()):
        raise NotFound(f"{obj['label']} records have no action {verb!r}")
    record = call(obj["service"], verb, obj["name"], record_id, json_body())
    return _one(obj, record)


#: actions every object with a process has
PROCESS_VERBS = ("transition", "approve", "reject")


def _process_action(obj: dict, record_id: str, verb: str) -> Response:
    """Move a record along its process (200), or ask for approval (202); approve or reject."""
    body = json_body() if request.get_data(cache=True).strip() else {}
    if verb == "transition":
        if "expected_version" not in body and if_match() is not None:
            body["expected_version"] = if_match()
        result = call(obj["service"], "transition", obj["name"], record_id, body)
    else:
        result = call(obj["service"], "decide", obj["name"], record_id, verb, body)
    guard = FieldGuard(obj)
    if result.get("record"):
        result = {**result, "record": guard.out(result["record"])}
    resp = jsonify(result)
    resp.status_code = 202 if result.get("status") == "pending_approval" else 200
    if result.get("record"):
        resp.headers["ETag"] = etag(result["record"])
    return resp


def _view_360(obj: dict, contact_id: str) -> Response:
    """The customer's record, relationships and recent timeline, and what every other enabled
    service knows of them, fetched in parallel."""
    ctx = context()
    parts = [("contacts", "view_360", contact_id)]
    extra = [s for s in VIEW_360_PARTS if s in ctx.modules and s in IMPLEMENTED_SERVICES]
    parts += [(s, VIEW_360_PARTS[s], contact_id) for s in extra]
    results = rpc().call_many(parts, ctx)
    base = results[0]
    if isinstance(base, MosaicError):
        raise base
    guard = FieldGuard(obj)
    body = {**base, "contact": guard.out(base["contact"])}
    for service, result in zip(extra, results[1:]):
        body[service] = ({"error": result.to_problem()} if isinstance(result, MosaicError) else result)
    return jsonify(body)
