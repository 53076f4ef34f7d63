"""Process roles: the embedded all-in-one process, one service, the relay, the gateway.

Every role runs the same code; the embedded mode only swaps RabbitMQ for the in-process broker
and PostgreSQL for SQLite files. The caller must have monkey-patched eventlet first
(``mosaic.cli`` does, before anything imports a socket).
"""
from __future__ import annotations

import logging
import signal

import eventlet

from mosaic import services
from mosaic.config import Settings, ensure_secret

log = logging.getLogger(__name__)


def service_class(name: str):
    """The nameko class of installed service ``name`` (found through its entry point)."""
    return services.get(name).load_class()


def nameko_config(settings: Settings) -> dict:
    """The nameko container config of every service process."""
    # 20 workers: as many as the database pool holds connections (mosaic.db.engine).
    return {"AMQP_URI": settings.amqp_uri, "MOSAIC_SETTINGS": settings, "SERIALIZER": "json",
            "max_workers": 20, "PARENT_CALLS_TRACKED": 10}


def prepare(settings: Settings, role: str) -> Settings:
    """Common start-up: secret, data dir, JSON logs, traces, and the in-process broker."""
    from mosaic.logs import setup_logging
    from mosaic.telemetry import setup_telemetry

    if settings.embedded:
        from mosaic import broker

        broker.install()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = ensure_secret(settings) if (settings.embedded or role == "gateway") else settings
    setup_logging(settings.log_level, role)
    setup_telemetry(settings, role if not settings.embedded else "mosaic")
    _quiet_gc()
    return settings


def _quiet_gc() -> None:
    """Move everything start-up allocated (modules, metadata, SQLAlchemy's caches) out of the
    garbage collector's sight, so full collections stay short and rare under load."""
    import gc

    gc.collect()
    gc.freeze()


def start_service(settings: Settings, name: str):
    """Start one service's nameko container (returns it, running)."""
    from nameko.containers import ServiceContainer

    container = ServiceContainer(service_class(name), nameko_config(settings))
    container.start()
    log.info("service %s started", name)
    return container


def start_relay(settings: Settings, service: str):
    """Relay ``service``'s outbox to the broker in a green thread; returns (relay, greenthread)."""
    from mosaic.db import get_engine
    from mosaic.events.publishers import make_publisher
    from mosaic.events.relay import Relay

    relay = Relay(get_engine(settings, service), make_publisher(settings.amqp_uri),
                  batch=settings.relay_batch, interval=settings.relay_interval)
    return relay, eventlet.spawn(relay.run_forever)


def gateway_app(settings: Settings):
    """The installed gateway's WSGI app with its pooled RPC client."""
    from mosaic.rpc import RpcPool

    create_app = services.load_object(services.gateway().app)
    rpc = RpcPool(settings.amqp_uri, size=settings.rpc_pool, timeout=settings.rpc_timeout)
    return create_app(settings, rpc), rpc


def serve_wsgi(app, host: str, port: int, sock=None) -> None:
    """Serve ``app`` on eventlet's WSGI server with our cheaper HTTP protocol (request heads
    parsed by ``mosaic.http_protocol``, answers written by ``mosaic.http_response``), until the
    process is stopped."""
    import socket

    from eventlet import wsgi

    from mosaic.http_protocol import HttpProtocol

    sock = sock or eventlet.listen((host, port))
    # Accepted connections inherit this: without it a response written in several pieces waits
    # for the client's delayed ACK (~40 ms) between them (Nagle's algorithm).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    log.info("gateway listening on http://%s:%s", host, port)
    # debug=False: an exception escaping the app answers an empty 500, never its traceback.
    wsgi.server(sock, app, log_output=False, max_size=2000, socket_timeout=60, protocol=HttpProtocol, debug=False)


def run_embedded(settings: Settings, *, sock=None, announce=print) -> None:
    """Everything in one process: every installed service, their relays and the gateway (``make run``)."""
    from mosaic.db.migrate import migrate_all

    settings = prepare(settings, "embedded")
    migrate_all(settings)
    containers = [start_service(settings, s) for s in services.running()]  # the hub too
    relays = [start_relay(settings, s) for s in services.relayed()]
    app, rpc = gateway_app(settings)
    url = f"http://{settings.host}:{settings.port}"
    announce(f"Mosaic CRM (embedded) on {url}  —  API docs: {url}/api/docs  —  data: {settings.data_dir.resolve()}")
    bootstrap = services.gateway().bootstrap
    if bootstrap:
        services.load_object(bootstrap)(settings, rpc, announce)
    _stop_on_signals()
    try:
        serve_wsgi(app, settings.host, settings.port, sock)
    finally:
        for relay, thread in relays:
            relay.stop()
            thread.kill()
        for container in containers:
            container.stop()
        rpc.close()


def _stop_on_signals() -> None:
    def _raise(signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _raise)
