"""The record API, the same shape for every object — core, plugin or custom:
list, get, create, PATCH, delete, history, and actions as ``POST …/{id}/{verb}``."""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from mosaic import services
from mosaic.errors import BadRequest, MosaicError, NotFound
from mosaic_gateway import auth
from mosaic_gateway.contract import ANY_OBJECT, PROBLEM, declare, header, items_of, page_of, query, record
from mosaic_gateway.idempotency import idempotent
from mosaic_gateway.references import check_write
from mosaic_gateway.web import (FieldGuard, call, context, count_arg, directory, etag, fields_arg, filter_arg,
                                if_match, int_arg, json_body, page_out, rpc)

bp = Blueprint("records", __name__, url_prefix="/api/v1")

#: views every record has: name -> RPC method of the hosting service. Others come with the
#: object's metadata (``views``: a timeline, duplicates, the 360° view).
COMMON_VIEWS = {"history": "record_history"}

# What every record route may answer beyond its own: 404 (no such object or record, module off),
# 403 (the role may not, or a hidden field is named), 422 (the service refused the values).
_ERRORS = {403: PROBLEM, 404: PROBLEM, 422: PROBLEM}
_ETAG = {"ETag": {"description": "the record's version, for If-Match", "schema": {"type": "string"}}}
_IF_MATCH = header("If-Match", "the record's ETag (version); a stale one answers 412")
_FIELDS = query("fields", "comma-separated fields to return")
_CURSOR = query("cursor", "next_cursor of the previous page")
_PAGED = lambda default: [_CURSOR, query("limit", "page size", type="integer", minimum=1, maximum=200,  # noqa: E731
                                         default=default)]
_HISTORY_ENTRY = {"type": "object", "properties": {
    "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string", "nullable": True},
    "action": {"type": "string"}, "changes": {"type": "object"}}, "additionalProperties": True}
_TRANSITION = {"type": "object", "properties": {
    "process": {"type": "string"}, "from": {"type": "string", "nullable": True}, "to": {"type": "string"},
    "at": {"type": "string", "format": "date-time"}}, "additionalProperties": True}
_MOVE = {"type": "object", "additionalProperties": False, "properties": {
    "to": {"type": "string", "description": "the stage to move to"}, "transition": {"type": "string"},
    "comment": {"type": "string"}, "process": {"type": "string"}, "expected_version": {"type": "integer"}}}
_DECIDE = {"type": "object", "additionalProperties": False,
           "properties": {"comment": {"type": "string"}, "process": {"type": "string"}}}
_MOVED = lambda obj: {"type": "object", "required": ["status"], "properties": {  # noqa: E731
    "status": {"type": "string"}, "record": record()(obj)}, "additionalProperties": True}
_MERGE = {"type": "object", "required": ["merged_ids"], "additionalProperties": False, "properties": {
    "merged_ids": {"type": "array", "minItems": 1, "maxItems": 10, "items": {"type": "string"}},
    "pick": {"type": "object", "additionalProperties": {"type": "string"},
             "description": "per field, the id of the record whose value wins"}}}


def _object(path: str) -> dict:
    return directory().get(context(), path)


def _record_url(record_id) -> str:
    """What ``url_for("records.get_record", …)`` answers for a record of the request's own
    collection URL, without building it through the URL map (a third of the time, ~10 µs less)."""
    req = auth._request()
    return f"{req.script_root}{req.path}/{quote(str(record_id), safe=_SEGMENT_SAFE)}"


#: what werkzeug's path converters leave unquoted in a segment
_SEGMENT_SAFE = "!$&'()*+,/:;=@"


def _one(obj: dict, record: dict, status: int = 200, guard: FieldGuard | None = None, **headers) -> Response:
    # jsonify is current_app.json.response, read here without the proxy
    resp = auth._request_app().json.response((guard or FieldGuard(obj)).out(record))
    resp.status_code = status
    resp.headers["ETag"] = etag(record)
    for k, v in headers.items():
        resp.headers[k.replace("_", "-")] = v
    return resp


@bp.get("/<objpath:path>")
@declare("List records", tag="records", op="list_{plural}",
         params=[query("filter", "filter language, see docs/filters.md"), query("sort", "field, '-' for descending"),
                 _CURSOR, query("limit", "page size", type="integer", minimum=1, default=50), _FIELDS,
                 query("count", "true: add the total of matching records (docs/records.md)",
                       enum=["true", "false", "1", "0"])],
         responses={200: page_of(record(), total=True), **_ERRORS})
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
@declare("Create a record", tag="records", op="create_{name}", body=record("Input"),
         params=[query("dedup", "block (default): a likely duplicate answers 409", enum=["block", "allow"]),
                 header("Idempotency-Key", "replays the first response of the same key and body")],
         headers={201: {**_ETAG, "Location": {"description": "the record", "schema": {"type": "string"}},
                        "X-Possible-Duplicates": {"description": "ids of likely duplicates (dedup=allow)",
                                                  "schema": {"type": "string"}}}},
         responses={201: record(), 409: PROBLEM, **_ERRORS})
@auth.login_required
@idempotent
def create_record(path: str):
    obj = _object(path)
    data = json_body()
    guard = FieldGuard(obj)
    guard.check_write(data)
    check_write(obj, data)
    policy = auth._request().args.get("dedup", "block")
    if policy not in ("block", "allow"):
        raise BadRequest("dedup must be 'block' or 'allow'", errors={"dedup": ["block or allow"]})
    result = call(obj["service"], "create_record", obj["name"], data, dedup_policy=policy)
    record = result["record"]
    headers = {"Location": _record_url(record["id"])}
    if result.get("duplicates"):
        headers["X_Possible_Duplicates"] = ",".join(d["id"] for d in result["duplicates"])
    return _one(obj, record, 201, guard, **headers)


@bp.get("/<objpath:path>/<record_id>")
@declare("Get a record", tag="records", op="get_{name}", params=[_FIELDS], headers={200: _ETAG},
         responses={200: record(), **_ERRORS})
def get_record(path: str, record_id: str):
    obj = _object(path)
    guard = FieldGuard(obj)
    fields = fields_arg()
    guard.check_query(None, None, fields)
    return _one(obj, call(obj["service"], "get_record", obj["name"], record_id, fields), guard=guard)


@bp.patch("/<objpath:path>/<record_id>")
@declare("Change a record", tag="records", op="update_{name}", body=record("Patch"), params=[_IF_MATCH],
         headers={200: _ETAG}, responses={200: record(), 409: PROBLEM, 412: PROBLEM, **_ERRORS})
def update_record(path: str, record_id: str):
    obj = _object(path)
    data = json_body()
    guard = FieldGuard(obj)
    guard.check_write(data)
    check_write(obj, data, record_id)
    record = call(obj["service"], "update_record", obj["name"], record_id, data, expected_version=if_match())
    return _one(obj, record, guard=guard)


@bp.delete("/<objpath:path>/<record_id>")
@declare("Delete a record", tag="records", op="delete_{name}", params=[_IF_MATCH],
         responses={204: None, 409: PROBLEM, 412: PROBLEM, **_ERRORS})
def delete_record(path: str, record_id: str):
    obj = _object(path)
    call(obj["service"], "delete_record", obj["name"], record_id, expected_version=if_match())
    return Response(status=204)


@bp.get("/<objpath:path>/<record_id>/<sub>")
@declare("Every change of the record: actor, time, field, old → new; newest first", tag="records",
         op="history_{name}", values={"sub": "history"}, params=_PAGED(50),
         responses={200: page_of(_HISTORY_ENTRY), **_ERRORS})
@declare("Activities and changes, newest first", tag="records", op="timeline_{name}", values={"sub": "timeline"},
         when=lambda obj: "timeline" in (obj.get("views") or {}), params=_PAGED(20),
         responses={200: page_of(ANY_OBJECT), **_ERRORS})
@declare("Likely duplicates, best first", tag="records", op="duplicates_{name}", values={"sub": "duplicates"},
         when=lambda obj: "duplicates" in (obj.get("views") or {}),
         responses={200: items_of({"type": "object", "properties": {
             "id": {"type": "string"}, "reason": {"type": "string"}, "score": {"type": "number"}}}), **_ERRORS})
@declare("The customer's 360° view across enabled services", tag="records", op="view_360_{name}",
         values={"sub": "360"}, when=lambda obj: "360" in (obj.get("views") or {}),
         responses={200: lambda obj: {"type": "object", "required": [obj["name"]],
                                      "properties": {obj["name"]: record()(obj)}, "additionalProperties": True},
                    **_ERRORS})
@declare("The record's process history (stage entries), newest first", tag="records", op="transitions_{name}",
         values={"sub": "transitions"}, when=lambda obj: bool(obj.get("processes")),
         responses={200: items_of(_TRANSITION), **_ERRORS})
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
@declare("Move the record along its process (202: awaiting approval)", tag="records", op="transition_{name}",
         values={"verb": "transition"}, when=lambda obj: bool(obj.get("processes")), body=_MOVE,
         params=[_IF_MATCH, header("Idempotency-Key")], headers={200: _ETAG, 202: _ETAG},
         responses={200: _MOVED, 202: ("Awaiting approval", _MOVED), 409: PROBLEM, 412: PROBLEM, **_ERRORS})
@declare("Approve or reject the record's pending transition", tag="records", op="{verb}_{name}",
         values=lambda obj: [{"verb": "approve"}, {"verb": "reject"}], when=lambda obj: bool(obj.get("processes")),
         body=_DECIDE, body_required=False, params=[header("Idempotency-Key")], headers={200: _ETAG},
         responses={200: _MOVED, 409: PROBLEM, **_ERRORS})
@declare("Run the object's action (merge: fold records into this one)", tag="records", op="{verb}_{name}",
         values=lambda obj: [{"verb": v} for v in obj.get("actions", ())],
         body=lambda obj: _MERGE if "merge" in obj.get("actions", ()) else ANY_OBJECT,
         params=[header("Idempotency-Key")], headers={200: _ETAG},
         responses={200: record(), 409: PROBLEM, **_ERRORS})
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
