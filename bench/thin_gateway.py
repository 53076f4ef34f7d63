"""The thinnest gateway this architecture allows, as a reference for ``get`` and ``create``.

    python -m bench.thin_gateway PORT

The gateway's own server (``mosaic.runtime.serve_wsgi``: eventlet WSGI, ``mosaic.http_protocol``) running a Flask app
with two routes and nothing else: ``GET /ping`` is one RPC to the bare ``bench_ping`` service,
``POST /insert`` one RPC to ``bench_insert`` (a single-row ORM insert and commit), both through the
gateway's pooled client (``mosaic.rpc.RpcPool``), JSON in and out. No token, no tenant, no
validation, no idempotency, no telemetry: what an HTTP request that makes one RPC costs before any
product code runs. Measured in the same run as the product's gateway, its throughput or latency
against the same baseline is the best ratio the product could reach on this machine
(``details.ceiling`` of ``get_contact`` and ``create_contact``). Binds 127.0.0.1 only;
``MOSAIC_AMQP_URI`` names the broker.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # before kombu opens a socket

import os  # noqa: E402
import sys  # noqa: E402

from flask import Flask, jsonify, request  # noqa: E402

from mosaic.rpc import RpcPool  # noqa: E402


def make_app(pool: RpcPool) -> Flask:
    """The two routes."""
    app = Flask("thin_gateway")

    @app.get("/ping")
    def ping():
        return jsonify(pool.call("bench_ping", "ping", None))

    @app.post("/insert")
    def insert():
        return jsonify(pool.call("bench_insert", "insert", None, request.get_json())), 201

    return app


def main(argv: list[str]) -> int:
    """Serve on 127.0.0.1:PORT until killed."""
    if len(argv) != 1 or not argv[0].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    from mosaic.runtime import serve_wsgi

    serve_wsgi(make_app(RpcPool(os.environ["MOSAIC_AMQP_URI"])), "127.0.0.1", int(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
