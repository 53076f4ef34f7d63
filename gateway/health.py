"""Liveness and readiness of the gateway process."""
from __future__ import annotations

from flask import Blueprint, jsonify

from mosaic import services
from mosaic.errors import MosaicError
from mosaic_gateway import auth
from mosaic_gateway.contract import declare
from mosaic_gateway.responses import READY, STATUS
from mosaic_gateway.user_sync import user_sync
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
    """Ready when the broker answers and every running service (modules, and platform services
    such as the hub) replies to a ping; then also syncs the users services lack
    (:mod:`mosaic_gateway.user_sync`), reporting how many tenants are still pending."""
    names = services.running()
    results = rpc().call_many([(s, "ping") for s in names], None)
    checks = {s: ("ok" if not isinstance(r, MosaicError) else r.detail) for s, r in zip(names, results)}
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not ready", "services": checks}
    sync = user_sync()
    if ready and sync.due():  # users the services have not heard of yet (a failed push, a new process)
        with auth._read_session() as (session, _owned):  # noqa: SLF001 - the gateway's own look-up helper
            sync.catch_up(session)
    body["users_pending"] = len(sync.pending_tenants())
    resp = jsonify(body)
    resp.status_code = 200 if ready else 503
    return resp
