"""Components are found, not listed: every service (and the gateway) declares itself through an
entry point, and the run modes, migrations, the CLI, the gateway and the test stack find it there.

A service package adds, in its ``pyproject.toml``::

    [project.entry-points."mosaic.services"]
    contacts = "mosaic_contacts.spec:SERVICE"

where ``SERVICE`` is a :class:`ServiceSpec`. The gateway declares itself the same way in the
``mosaic.gateway`` group with a :class:`GatewaySpec`. Nothing in ``mosaic`` names a service or
the gateway: a new service is a new package, not a line in the platform (``docs/services.md``).
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Mapping

log = logging.getLogger(__name__)

SERVICES_GROUP = "mosaic.services"
GATEWAY_GROUP = "mosaic.gateway"


def load_object(path: str) -> Any:
    """``"package.module:attr"`` → the attribute; ``"package.module"`` → the module."""
    module, _, attr = path.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attr) if attr else loaded


@dataclass(frozen=True)
class Component:
    """What the platform needs to know of a process that owns a database.

    :param name: the component's name; for a service also its module name (what a tenant enables)
        and its PostgreSQL schema / SQLite file (``mosaic.db.engine``).
    :param package: the package holding ``migrations/`` (alembic env + versions).
    :param models: modules defining the component's own tables (imported before migrations).
    :param tables: the component's own tables, which its migrations manage.
    :param platform_tables: whether the component also hosts the platform's tables (metadata,
        records, audit, outbox, jobs …), whose migrations are the platform's alembic branch.
    """

    name: str
    package: str
    models: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    platform_tables: bool = False


@dataclass(frozen=True)
class ServiceSpec(Component):
    """A nameko service of the product.

    :param service_class: ``"module:Class"`` of its nameko service.
    :param plugin: module declaring its core objects through the plugin hooks (always enabled).
    :param label: how people call it (the admin API shows it).
    :param grants: the module's default object permissions, ``{role: {action: grant}}`` for every
        object of the module (``mosaic.permissions``); plugins and tenants' objects inherit them.
    :param view_360: the RPC method that adds the service's part to a customer's 360° view, or None.
    :param imports: whether it hosts CSV import jobs for its objects (the import RPCs).
    :param records: whether it hosts records (the record pieces, ``mosaic.pieces.RECORD_HOST``):
        the gateway asks it for its objects, rules and record RPCs. A read model says False and
        is asked only for what every service answers (``ping``, ``sync_tenant``).
    :param module: whether it is a module a tenant enables (contacts, sales, …). A platform service
        (``module=False``, the hub) runs for every tenant: the admin module list, the directory,
        OpenAPI and the demo tenant leave it out, while the run modes, migrations and readiness
        checks include it like any service.
    :param provides: the platform features it owns for every tenant (``"notifications"``,
        ``"approvals"``, ``"webhooks"``): the gateway finds their one owner with :func:`provider`
        instead of naming a service.
    :param commands: operator commands it adds to the CLI, ``{name: "module:function"}``: ``mosaic
        <service> <name> [args…]`` calls ``function(settings, args) -> exit code`` (the hub's
        ``mosaic hub adopt``).
    """

    platform_tables: bool = True
    service_class: str = ""
    plugin: str | None = None
    label: str = ""
    description: str = ""
    grants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    view_360: str | None = None
    imports: bool = False
    records: bool = True
    module: bool = True
    provides: tuple[str, ...] = ()
    commands: Mapping[str, str] = field(default_factory=dict)

    @property
    def outbox(self) -> bool:
        """Whether it has an outbox (its events need ``mosaic relay <name>``)."""
        return self.platform_tables or "outbox" in self.tables

    def load_class(self) -> type:
        """The nameko service class, checked against this spec (``mosaic.pieces.check_service``:
        the RPCs the spec promises, the needs of the pieces it composes)."""
        from mosaic.pieces import check_service

        cls = load_object(self.service_class)
        check_service(self, cls)
        return cls


@dataclass(frozen=True)
class GatewaySpec(Component):
    """The HTTP gateway.

    :param app: ``"module:function"`` building the WSGI app: ``create_app(settings, rpc)``.
    :param bootstrap: ``"module:function"`` run by the embedded mode once its services are up:
        ``bootstrap(settings, rpc, announce)`` (the demo tenant on a first start).
    :param tenant_command: ``"module:function"`` behind ``mosaic tenant create``:
        ``tenant_command(settings, args) -> exit code``.
    """

    app: str = ""
    bootstrap: str | None = None
    tenant_command: str | None = None


_lock = threading.Lock()
_services: dict[str, ServiceSpec] | None = None
_gateway: GatewaySpec | None = None


def _discover(group: str, kind: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        spec = ep.load()
        if not isinstance(spec, kind):
            raise TypeError(f"entry point {group}:{ep.name} is not a {kind.__name__}")
        if spec.name != ep.name:
            raise ValueError(f"entry point {group}:{ep.name} declares a component named {spec.name!r}")
        found[spec.name] = spec
    return found


def installed() -> dict[str, ServiceSpec]:
    """Every installed service by name, in name order (read once per process)."""
    global _services
    with _lock:
        if _services is None:
            _services = _discover(SERVICES_GROUP, ServiceSpec)
            _register_grants(_services.values())
        return _services


def names() -> tuple[str, ...]:
    """The installed modules' names: what a tenant may enable (platform services excluded)."""
    return tuple(name for name, spec in installed().items() if spec.module)


def running() -> tuple[str, ...]:
    """Every installed service's name, modules and platform services: what the run modes start,
    what migrations and readiness checks cover."""
    return tuple(installed())


def relayed() -> tuple[str, ...]:
    """The installed services with an outbox: those ``mosaic relay <name>`` runs for."""
    return tuple(name for name, spec in installed().items() if spec.outbox)


def get(name: str) -> ServiceSpec:
    """One installed service; KeyError naming the installed ones otherwise."""
    services = installed()
    if name not in services:
        raise KeyError(f"no service {name!r} is installed (installed: {', '.join(services) or 'none'})")
    return services[name]


def enabled(modules) -> list[str]:
    """The installed modules among a tenant's enabled ``modules``, in name order (a platform
    service is never among them: it is not enabled, it is always there)."""
    wanted = set(modules or ())
    return [name for name in names() if name in wanted]


def provider(feature: str) -> str:
    """The name of the installed service that owns ``feature`` (``ServiceSpec.provides``);
    ServiceUnavailable (503) when none is installed, RuntimeError when two claim it."""
    from mosaic.errors import ServiceUnavailable

    found = [name for name, spec in installed().items() if feature in spec.provides]
    if len(found) > 1:
        raise RuntimeError(f"{feature!r} is provided by several services: {', '.join(found)}")
    if not found:
        raise ServiceUnavailable(f"no installed service provides {feature}")
    return found[0]


def hosting_records(modules) -> list[str]:
    """The installed services among ``modules`` that host records (``ServiceSpec.records``)."""
    return [name for name in enabled(modules) if installed()[name].records]


def gateway() -> GatewaySpec:
    """The installed gateway (exactly one)."""
    global _gateway
    with _lock:
        if _gateway is None:
            found = _discover(GATEWAY_GROUP, GatewaySpec)
            if len(found) != 1:
                raise RuntimeError(f"expected one {GATEWAY_GROUP} entry point, found {len(found)}")
            _gateway = next(iter(found.values()))
        return _gateway


def components() -> dict[str, Component]:
    """The gateway and every service: what owns a database and runs migrations."""
    gw = gateway()
    return {gw.name: gw, **installed()}


def component(name: str) -> Component:
    """The gateway or a service by name."""
    found = components()
    if name not in found:
        raise KeyError(f"no component {name!r} (installed: {', '.join(found)})")
    return found[name]


def _register_grants(specs) -> None:
    from mosaic import permissions

    for spec in specs:
        for role, actions in spec.grants.items():
            permissions.grant(spec.name, "*", role, actions)


def reset() -> None:
    """Forget what was discovered (tests that install a package on the fly)."""
    global _services, _gateway
    with _lock:
        _services = None
        _gateway = None
