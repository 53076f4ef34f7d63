"""Plugins for a tenant admin: what is installed, enabling and disabling per tenant, demo data;
and the plugins' own routes, mounted under ``/api/v1/x/<plugin>/`` for tenants that run them."""
from __future__ import annotations

import logging
from dataclasses import replace

from flask import Blueprint, Flask, current_app, jsonify, request

from mosaic import services as installed_services
from mosaic.errors import Conflict, MosaicError, NotFound
from mosaic.plugins import get_host
from mosaic.plugins.seeding import SeedClient
from mosaic_gateway import auth, identity as idm
from mosaic_gateway.contract import PROBLEM, declare
from mosaic_gateway.responses import PLUGIN, PLUGIN_STATE
from mosaic_gateway.user_sync import user_sync
from mosaic_gateway.web import context, directory, rpc

log = logging.getLogger(__name__)
bp = Blueprint("mosaic_plugins", __name__, url_prefix="/api/v1/admin/plugins")
admin_required = auth.roles_required("admin")


def _installed(name: str):
    host = get_host()
    plugin = host.plugins.get(name)
    if plugin is None or plugin.manifest.builtin:
        if name in host.failures:
            raise Conflict(f"plugin {name!r} is installed but failed to load: {host.failures[name]}")
        raise NotFound(f"no plugin named {name!r} is installed")
    return plugin


def _summary(name: str, enabled: set[str]) -> dict:
    plugin = get_host().plugins[name]
    return {**plugin.manifest.to_dict(), "enabled": name in enabled}


@bp.get("")
@declare("Installed plugins, the tenant's enabled ones, and those that failed to load", tag="plugins",
         responses={200: {"type": "object", "required": ["items"], "properties": {
             "items": {"type": "array", "items": PLUGIN}, "failed": {"type": "array", "items": {"type": "object"}},
             "enabled": {"type": "array", "items": {"type": "string"}}}}})
@admin_required
def list_plugins():
    """Installed plugins with the tenant's enablement, and plugins that failed to load."""
    host = get_host()
    enabled = set(auth.current_identity().plugins)
    items = [_summary(n, enabled) for n, p in host.plugins.items() if not p.manifest.builtin]
    failed = [{"name": n, "error": e} for n, e in host.failures.items()]
    return jsonify({"items": items, "failed": failed, "enabled": sorted(enabled)})


@bp.get("/<name>")
@declare("A plugin's manifest and declarations", tag="plugins", responses={200: PLUGIN, 404: PROBLEM, 409: PROBLEM})
@admin_required
def get_plugin(name: str):
    """One plugin: its manifest and everything it declares."""
    _installed(name)
    d = get_host().declarations
    mine = lambda items: [i for i in items if i.get("plugin") == name]  # noqa: E731
    return jsonify({
        **_summary(name, set(auth.current_identity().plugins)),
        "objects": [o.name for o in d.objects if o.namespace == name],
        "fields": {obj: [f.name for f in fields if f.namespace == name] for obj, fields in d.fields.items()
                   if any(f.namespace == name for f in fields)},
        "processes": [p["name"] for p in mine(d.processes)],
        "automation_rules": [r["name"] for r in mine(d.automation_rules)],
        "validation_rules": [r["name"] for r in mine(d.validation_rules)],
        "analytics_metrics": mine(d.analytics_metrics),
        "routes": [f"/api/v1/x/{name}/"] if name in current_app.extensions["mosaic"]["plugin_routes"] else [],
    })


def enable_plugin(name: str) -> list[str]:
    """Enable ``name`` for the caller's tenant after checking its modules and required plugins;
    returns the tenant's plugins."""
    plugin = _installed(name)
    ident = auth.current_identity()
    current = set(ident.plugins)
    if name in current:
        return sorted(current)
    missing_modules = [m for m in plugin.manifest.modules if m not in ident.modules]
    missing_plugins = [p for p in plugin.manifest.requires if p not in current]
    if missing_modules or missing_plugins:
        raise Conflict(f"plugin {name!r} needs " + ", ".join(
            [f"module {m}" for m in missing_modules] + [f"plugin {p}" for p in missing_plugins]) + " enabled first",
            missing_modules=missing_modules, missing_plugins=missing_plugins)
    return _save(current | {name})


def disable_plugin(name: str) -> list[str]:
    """Disable ``name`` for the caller's tenant: its objects, fields, processes, rules and routes
    disappear for the tenant; the data stays and comes back on re-enabling."""
    ident = auth.current_identity()
    current = set(ident.plugins)
    if name not in current:
        raise NotFound(f"plugin {name!r} is not enabled for this tenant")
    host = get_host()
    dependants = sorted(p for p in current - {name}
                        if p in host.plugins and name in host.plugins[p].manifest.requires)
    if dependants:
        raise Conflict(f"plugin {name!r} is required by {', '.join(dependants)}; disable those first",
                       required_by=dependants)
    return _save(current - {name})


def _save(plugins: set[str]) -> list[str]:
    ident = auth.current_identity()
    session = auth.gateway_session()
    tenant = idm.set_plugins(session, ident.tenant_id, plugins)
    session.commit()
    auth.invalidate_tenant(ident.tenant_id)
    directory().invalidate(ident.tenant_id)
    _sync_services(tuple(tenant.plugins))
    return list(tenant.plugins)


def _sync_services(plugins: tuple[str, ...]) -> None:
    """Tell every enabled service of the tenant's new plugin set (their timers and event
    handlers have no request to learn it from)."""
    ctx = replace(context(), plugins=plugins)
    for result in rpc().call_many([(s, "sync_tenant") for s in installed_services.enabled(ctx.modules)], ctx):
        if isinstance(result, MosaicError):
            raise result
    with auth._read_session() as (session, _owned):  # noqa: SLF001 - and the users' read model, in full
        user_sync().resync(session, ctx.tenant_id)


@bp.put("/<name>")
@declare("Enable a plugin for the tenant", tag="plugins", responses={200: PLUGIN_STATE, 404: PROBLEM, 409: PROBLEM})
@admin_required
def put_plugin(name: str):
    """Enable a plugin for the tenant."""
    return jsonify({"name": name, "enabled": True, "plugins": enable_plugin(name)})


@bp.delete("/<name>")
@declare("Disable a plugin (its data is kept)", tag="plugins", responses={200: PLUGIN_STATE, 404: PROBLEM, 409: PROBLEM})
@admin_required
def delete_plugin(name: str):
    """Disable a plugin for the tenant (its data is kept)."""
    return jsonify({"name": name, "enabled": False, "plugins": disable_plugin(name)})


@bp.post("/<name>/seed")
@declare("Create the plugin's demo records", tag="plugins",
         responses={201: {"type": "object", "required": ["created"], "properties": {"created": {"type": "integer"}}},
                    404: PROBLEM, 409: PROBLEM, 422: PROBLEM})
@admin_required
def seed_plugin(name: str):
    """Create the plugin's demo records in the tenant."""
    _installed(name)
    if name not in auth.current_identity().plugins:
        raise NotFound(f"plugin {name!r} is not enabled for this tenant")
    client = seed(name)
    return jsonify({"created": len(client.created)}), 201


def seed(name: str, ctx=None) -> SeedClient:
    """Run plugin ``name``'s ``mosaic_seed_demo`` as ``ctx`` (default: the caller)."""
    ctx = ctx or context()
    client = SeedClient(lambda service, method, *a, **kw: rpc().call(service, method, ctx, *a, **kw),
                        lambda object_name: directory().by_name(ctx, object_name)["service"])
    host = get_host()
    host.hook("mosaic_seed_demo", frozenset({name}))(client=client)
    return client


# ---------------------------------------------------------------- the plugins' own routes


def mount_plugin_routes(app: Flask) -> None:
    """Register each loaded plugin's blueprint under ``/api/v1/x/<name>/``; requests from tenants
    without the plugin get 404 before the plugin's code runs."""
    host = get_host()
    owners: dict[str, str] = {}
    for name, plugin in host.plugins.items():
        impls = [i for i in host.pm.hook.mosaic_gateway_routes.get_hookimpls() if i.plugin is plugin.module]
        if not impls:
            continue
        try:
            blueprint = impls[0].function()
        except Exception:  # noqa: BLE001 — a plugin's failure must not take the gateway down
            log.exception("plugin %s: mosaic_gateway_routes failed; its routes are not mounted", name)
            continue
        if blueprint is None:
            continue
        endpoint_name = f"x_{name}"
        app.register_blueprint(blueprint, url_prefix=f"/api/v1/x/{name}", name=endpoint_name)
        owners[endpoint_name] = name
    app.extensions["mosaic"]["plugin_routes"] = set(owners.values())

    @app.before_request
    def _plugin_gate():
        owner = owners.get(auth._request().blueprint or "")
        if owner is None:
            return None
        ident = auth.authenticate()
        if owner not in ident.plugins:
            raise NotFound(f"no such resource: {request.path}")
        return None
