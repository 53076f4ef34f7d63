"""``/api/v1/openapi.json`` and the browsable docs at ``/api/docs``, served without internet
(Swagger UI's assets come from the swagger-ui-bundle package).

Before login the document shows the core objects of every installed service with their core
fields (the services' ``describe_core``), so the docs are useful before a token exists; with a
token or API key it is the caller's tenant's: its custom fields and objects, its plugins' objects
and routes, less the fields the caller's roles may not read."""
from __future__ import annotations

import threading

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from mosaic import services
from mosaic.errors import MosaicError
from mosaic_gateway import auth, openapi
from mosaic_gateway.contract import ANY_OBJECT, PROBLEM, declare, not_in_document
from mosaic_gateway.web import context, directory, rpc

bp = Blueprint("docs", __name__)
_core_lock = threading.Lock()

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Mosaic CRM API</title>
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#ui", deepLinking: true,
  requestInterceptor: function (req) {
    var token = window.localStorage.getItem("mosaic_token");
    if (token && !req.headers.Authorization) { req.headers.Authorization = "Bearer " + token; }
    return req;
  }});
</script></body></html>"""


def core_objects() -> list[dict]:
    """The core objects of every installed service that hosts records, with their core fields;
    kept once every such service has answered (they change only with a release)."""
    ext = current_app.extensions["mosaic"]
    cached = ext.get("core_objects")
    if cached is not None:
        return cached
    with _core_lock:
        results = rpc().call_many([(s, "describe_core") for s in services.hosting_records(services.names())], None)
        objects = [obj for result in results if not isinstance(result, MosaicError) for obj in result]
        if not any(isinstance(r, MosaicError) for r in results):
            ext["core_objects"] = objects
        return objects


@bp.get("/api/v1/openapi.json")
@declare("This OpenAPI document (the tenant's when authenticated)", tag="docs", security="public",
         responses={200: ANY_OBJECT, 401: PROBLEM})
def openapi_json():
    if request.headers.get("Authorization") or request.headers.get("X-API-Key"):
        ctx = context()  # an invalid token is a 401, not a silently smaller document
        ident = auth.current_identity()
        objects = list(directory().objects(ctx).values())
        doc = openapi.build(current_app, objects, ctx.plugins,
                            hidden=lambda name: auth.field_policy(ident, name)[0])
    else:
        doc = openapi.build(current_app, core_objects())
    return jsonify(doc)


@bp.get("/api/docs")
@declare("The browsable API documentation (Swagger UI)", tag="docs", security="public", produces="text/html",
         responses={200: {"type": "string"}})
def docs_page():
    return Response(PAGE, mimetype="text/html")


@bp.get("/api/docs/static/<path:name>")
@not_in_document("Swagger UI's own assets")
def docs_static(name: str):
    return send_from_directory(swagger_ui_path, name)
