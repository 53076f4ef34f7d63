"""``/api/v1/openapi.json`` and the browsable docs at ``/api/docs``, served without internet
(Swagger UI's assets come from the swagger-ui-bundle package)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from mosaic_gateway import openapi
from mosaic_gateway.routes_plugins import plugin_paths
from mosaic_gateway.web import context, directory

bp = Blueprint("docs", __name__)

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


@bp.get("/api/v1/openapi.json")
def openapi_json():
    objects, extra = None, []
    if request.headers.get("Authorization") or request.headers.get("X-API-Key"):
        ctx = context()  # an invalid token is a 401, not a silently smaller document
        objects = list(directory().objects(ctx).values())
        extra = plugin_paths(current_app, ctx.plugins)
    return jsonify(openapi.build(objects, extra))


@bp.get("/api/docs")
def docs_page():
    return Response(PAGE, mimetype="text/html")


@bp.get("/api/docs/static/<path:name>")
def docs_static(name: str):
    return send_from_directory(swagger_ui_path, name)
