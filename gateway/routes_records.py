"""The record API, the same shape for every object — core, plugin or custom:
list, get, create, PATCH, delete, history, and actions as ``POST …/{id}/{verb}``."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from mosaic import services
from mosaic.errors import BadRequest, MosaicError, NotFound
from mosaic_gateway import auth
from mosaic_gateway.idempotency import idempotent
from mosaic_gateway.references import check_write
from mosaic_gateway.web import (FieldGuard, call, context, count_arg, directory, etag, fields_arg, filter_arg,
                                if_match, int_arg, json_body, page_out, rpc)

bp = Blueprint("records", __name__, url_prefix="/api/v1")

#: views every record has: name -> RPC method of the hosting service. Others come with the
#: object's metadata (``views``: a timeline, duplicates, the 360° view).
COMMON_VIEWS = {"history": "record_history"}


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
                cursor=request.args.get("cursor") or None, limit=limit, fields=fields, count=count_arg())
    return jsonify(page_out(page, guard))


@bp.post("/<objpath:path>")
@auth.login_required
@idempotent
def create_record(path: str):
    obj = _object(path)
    data = json_body()
    FieldGuard(obj).check_write(data)
    check_write(obj, data)
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
    check_write(obj, data, record_id)
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
    if sub == "transitions" and obj.get("processes"):
        return jsonify(call(obj["service"], "transitions", obj["name"], record_id))
    method = COMMON_VIEWS.get(sub) or (obj.get("views") or {}).get(sub)
    if method is None:
        raise NotFound(f"{obj['label']} records have no {sub!r}")
    if sub == "360":
        return _view_360(obj, record_id, method)
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


def _view_360(obj: dict, record_id: str, method: str) -> Response:
    """The customer's record and what its own service shows of them, and the part every other
    enabled service adds (``ServiceSpec.view_360``), fetched in parallel."""
    ctx = context()
    parts = [(obj["service"], method, record_id)]
    extra = [s for s in services.enabled(ctx.modules)
             if s != obj["service"] and services.get(s).view_360]
    parts += [(s, services.get(s).view_360, record_id) for s in extra]
    results = rpc().call_many(parts, ctx)
    base = results[0]
    if isinstance(base, MosaicError):
        raise base
    guard = FieldGuard(obj)
    body = {**base, obj["name"]: guard.out(base.get(obj["name"]))}
    for service, result in zip(extra, results[1:]):
        body[service] = ({"error": result.to_problem()} if isinstance(result, MosaicError) else result)
    return jsonify(body)
