"""Liveness and readiness of the gateway process."""
from __future__ import annotations

from flask import Blueprint, jsonify

from mosaic import services
from mosaic.errors import MosaicError
from mosaic_gateway.contract import declare
from mosaic_gateway.responses import READY, STATUS
from mosaic_gateway.web import rpc

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@declare("Liveness", tag="health", security="public", responses={200: STATUS})
def healthz():
    """The process is up and serving."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@declare("Readiness: broker and services reachable", tag="health", security="public",
         responses={200: READY, 503: ("Not ready", READY, "application/json")})
def readyz():
    """Ready when the broker answers and every installed service replies to a ping."""
    names = services.running()  # platform services (the hub) too
    results = rpc().call_many([(s, "ping") for s in names], None)
    checks = {s: ("ok" if not isinstance(r, MosaicError) else r.detail) for s, r in zip(names, results)}
    ready = all(v == "ok" for v in checks.values())
    resp = jsonify({"status": "ready" if ready else "not ready", "services": checks})
    resp.status_code = 200 if ready else 503
    return resp
