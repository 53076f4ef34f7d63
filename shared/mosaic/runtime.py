"""Process roles: the embedded all-in-one process, one service, the relay, the gateway.

Every role runs the same code; the embedded mode only swaps RabbitMQ for the in-process broker
and PostgreSQL for SQLite files. The caller must have monkey-patched eventlet first
(``mosaic.cli`` does, before anything imports a socket).
"""
from __future__ import annotations

import importlib
import logging
import secrets
import signal

import eventlet

from mosaic.config import IMPLEMENTED_SERVICES, Settings, ensure_secret

log = logging.getLogger(__name__)

#: service name -> its nameko class
SERVICE_CLASSES = {"contacts": "mosaic_contacts.service:ContactsService"}
DEMO_TENANT = "demo"
DEMO_ADMIN = "admin@demo.local"


def service_class(name: str):
    module, _, attr = SERVICE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


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
    """The gateway Flask app with its pooled RPC client."""
    from mosaic.rpc import RpcPool
    from mosaic_gateway.app import create_app

    rpc = RpcPool(settings.amqp_uri, size=settings.rpc_pool, timeout=settings.rpc_timeout)
    return create_app(settings, rpc), rpc


def serve_wsgi(app, host: str, port: int, sock=None) -> None:
    """Serve ``app`` on eventlet's WSGI server until the process is stopped."""
    from eventlet import wsgi

    import socket

    sock = sock or eventlet.listen((host, port))
    # Accepted connections inherit this: without it a response written in several pieces waits
    # for the client's delayed ACK (~40 ms) between them (Nagle's algorithm).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    log.info("gateway listening on http://%s:%s", host, port)
    wsgi.server(sock, app, log_output=False, max_size=2000, socket_timeout=60)


def ensure_demo(settings: Settings) -> tuple[str, str] | None:
    """On the embedded mode's first start, create the demo tenant with every installed plugin
    enabled; returns (email, password) once (then :func:`seed_demo` fills it)."""
    from mosaic.db import get_engine, system_session
    from mosaic_gateway import identity
    from mosaic_gateway.models import Tenant
    from sqlalchemy import select

    if not settings.demo:
        return None
    engine = get_engine(settings, "gateway")
    with system_session(engine) as session:
        if session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_TENANT)) is not None:
            return None
        password = secrets.token_urlsafe(12)
        tenant, _admin = identity.create_tenant(session, DEMO_TENANT, "Demo company", DEMO_ADMIN, password,
                                                modules=tuple(IMPLEMENTED_SERVICES))
        identity.set_plugins(session, tenant.id, _demo_plugins())
        session.commit()
    return DEMO_ADMIN, password


def _demo_plugins() -> list[str]:
    from mosaic.plugins import get_host

    host = get_host()
    return [n for n, p in host.plugins.items() if not p.manifest.builtin
            and set(p.manifest.modules) <= set(IMPLEMENTED_SERVICES)]


def seed_demo(settings: Settings, rpc) -> int:
    """Run every enabled plugin's ``mosaic_seed_demo`` for the demo tenant, as its admin;
    returns how many records they created. A failing plugin is logged, not fatal."""
    from mosaic.context import RequestContext
    from mosaic.db import get_engine, system_session
    from mosaic.plugins import get_host
    from mosaic.plugins.seeding import SeedClient
    from mosaic_gateway.directory import ObjectDirectory
    from mosaic_gateway.models import Tenant, User
    from sqlalchemy import select

    with system_session(get_engine(settings, "gateway")) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_TENANT))
        admin = session.scalar(select(User).where(User.tenant_id == tenant.id, User.email == DEMO_ADMIN))
        ctx = RequestContext(tenant_id=tenant.id, user_id=admin.id, roles=("admin",),
                             modules=tuple(tenant.modules), plugins=tuple(tenant.plugins))
    directory = ObjectDirectory(rpc)
    client = SeedClient(lambda service, method, *a, **kw: rpc.call(service, method, ctx, *a, **kw),
                        lambda name: directory.by_name(ctx, name)["service"])
    host = get_host()
    for name in ctx.plugins:
        try:
            host.hook("mosaic_seed_demo", frozenset({name}))(client=client)
        except Exception:  # noqa: BLE001 — demo data is a convenience; the product still starts
            log.exception("plugin %s: demo data not created", name)
    return len(client.created)


def run_embedded(settings: Settings, *, sock=None, announce=print) -> None:
    """Everything in one process: services, relays and the gateway (``make run``)."""
    from mosaic.db.migrate import migrate_all

    settings = prepare(settings, "embedded")
    migrate_all(settings)
    demo = ensure_demo(settings)
    containers = [start_service(settings, s) for s in IMPLEMENTED_SERVICES]
    relays = [start_relay(settings, s) for s in IMPLEMENTED_SERVICES]
    app, rpc = gateway_app(settings)
    if demo:
        seed_demo(settings, rpc)
    url = f"http://{settings.host}:{settings.port}"
    announce(f"Mosaic CRM (embedded) on {url}  —  API docs: {url}/api/docs  —  data: {settings.data_dir.resolve()}")
    if demo:
        announce(f"Demo tenant created. Log in once with: tenant={DEMO_TENANT} email={demo[0]} password={demo[1]}")
        announce("(this password is shown only now; it is stored hashed)")
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
