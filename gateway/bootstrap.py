"""What the gateway does for the run modes and the CLI: the embedded mode's demo tenant (with
every installed plugin enabled and their demo data) and ``mosaic tenant create``."""
from __future__ import annotations

import logging
import secrets

from sqlalchemy import select

from mosaic import services
from mosaic.config import Settings, ensure_secret
from mosaic.context import RequestContext
from mosaic.db import get_engine, system_session
from mosaic_gateway import identity
from mosaic_gateway.directory import ObjectDirectory
from mosaic_gateway.models import Tenant, User

log = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_ADMIN = "admin@demo.local"


def ensure_demo(settings: Settings) -> tuple[str, str] | None:
    """On the embedded mode's first start, create the demo tenant with every installed module and
    plugin enabled; returns (email, password) once (then :func:`seed_demo` fills it)."""
    if not settings.demo:
        return None
    engine = get_engine(settings, "gateway")
    with system_session(engine) as session:
        if session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_TENANT)) is not None:
            return None
        password = secrets.token_urlsafe(12)
        tenant, _admin = identity.create_tenant(session, DEMO_TENANT, "Demo company", DEMO_ADMIN, password,
                                                modules=services.names())
        identity.set_plugins(session, tenant.id, _demo_plugins())
        session.commit()
    return DEMO_ADMIN, password


def _demo_plugins() -> list[str]:
    from mosaic.plugins import get_host

    host = get_host()
    installed = set(services.names())
    return [n for n, p in host.plugins.items() if not p.manifest.builtin and set(p.manifest.modules) <= installed]


def seed_demo(settings: Settings, rpc) -> int:
    """Run every enabled plugin's ``mosaic_seed_demo`` for the demo tenant, as its admin;
    returns how many records they created. A failing plugin is logged, not fatal."""
    from mosaic.plugins import get_host
    from mosaic.plugins.seeding import SeedClient

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


def bootstrap_embedded(settings: Settings, rpc, announce=print) -> None:
    """The embedded mode's start: the services learn every tenant's users (``mosaic_gateway.user_sync``);
    on the first start, the demo tenant, its demo data, and its login, shown once."""
    from mosaic_gateway.user_sync import UserSync

    demo = ensure_demo(settings)
    with system_session(get_engine(settings, "gateway")) as session:
        pending = UserSync(rpc).catch_up(session, batch=1_000_000)
    if pending:
        log.warning("users of %d tenants not synced to the services yet; the gateway retries", len(pending))
    if demo:
        seed_demo(settings, rpc)
        announce(f"Demo tenant created. Log in once with: tenant={DEMO_TENANT} email={demo[0]} password={demo[1]}")
        announce("(this password is shown only now; it is stored hashed)")


def tenant_create_command(settings: Settings, args) -> int:
    """``mosaic tenant create SLUG --name N --admin-email E [--admin-password P] [--modules m,…]``."""
    from mosaic.db.migrate import migrate

    if settings.embedded:
        settings = ensure_secret(settings)
        migrate(settings, "gateway")
    password = args.admin_password or secrets.token_urlsafe(12)
    modules = tuple(m for m in (args.modules or ",".join(services.names())).split(",") if m)
    with system_session(get_engine(settings, "gateway")) as session:
        tenant, admin = identity.create_tenant(session, args.slug, args.name, args.admin_email, password,
                                               modules=modules)
        session.commit()
        print(f"tenant {tenant.slug} ({tenant.id}) created; admin {admin.email}"
              + ("" if args.admin_password else f" password {password} (shown once)"))
    return 0
