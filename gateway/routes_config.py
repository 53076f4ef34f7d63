"""Metadata as code over HTTP: ``GET /api/v1/admin/config`` exports the tenant's configuration as
a JSON file, ``PUT /api/v1/admin/config?dry_run=true|false`` imports one (see
:mod:`mosaic_gateway.config_io` for what is written, in which order, and what a failure leaves)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, json, request

from mosaic import services
from mosaic.errors import BadRequest, ServiceUnavailable, flatten_errors
from mosaic.webhooks.egress import egress_policy
from mosaic_gateway import auth, config_io
from mosaic_gateway.contract import ANY_OBJECT, PROBLEM as PROBLEM_SCHEMA, declare, flag
from mosaic_gateway.web import call, context, directory, json_body

bp = Blueprint("config_io", __name__)
admin_required = auth.roles_required("admin")
PROBLEM = "application/problem+json"
#: the largest page of subscriptions the owner answers
MAX_PAGE = 200


class RpcBackend:
    """The calling admin's tenant as :class:`config_io.ConfigBackend`: metadata and definitions
    from the services hosting them, webhook subscriptions from their one owner (the hub), over
    RPC as the caller; modules and plugins from the gateway."""

    def tenant_slug(self) -> str | None:
        return auth.current_identity().tenant_slug

    def modules(self) -> tuple[str, ...]:
        return tuple(auth.current_identity().modules)

    def plugins(self) -> tuple[str, ...]:
        return tuple(auth.current_identity().plugins)

    def _services(self) -> list[str]:
        return services.hosting_records(self.modules())

    def _changed(self) -> None:
        directory().invalidate(auth.current_identity().tenant_id)

    def objects(self) -> list[dict]:
        self._changed()  # an import must plan against the metadata as it is now, not 5 s ago
        return list(directory().objects(context()).values())

    def list_definitions(self, kind: str) -> list[dict]:
        return [d for s in self._services() for d in call(s, "list_definitions", kind)]

    def list_webhooks(self) -> list[dict]:
        # One owner (the hub), one row per subscription: every page of it.
        owner, found, cursor = services.provider("webhooks"), [], None
        while True:
            page = call(owner, "list_webhooks", MAX_PAGE, cursor)
            found += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return found

    def create_object(self, service: str, definition: dict) -> dict:
        created = call(service, "create_object", definition)
        self._changed()
        return created

    def add_field(self, service: str, object_name: str, definition: dict) -> dict:
        created = call(service, "add_field", object_name, definition)
        self._changed()
        return created

    def change_field(self, service: str, object_name: str, field_name: str, changes: dict) -> dict:
        changed = call(service, "change_field", object_name, field_name, changes)
        self._changed()
        return changed

    def put_definition(self, service: str, kind: str, definition: dict) -> dict:
        return call(service, "put_definition", kind, definition)

    def create_webhook(self, data: dict) -> dict:
        return call(services.provider("webhooks"), "create_webhook", data)

    def egress_policy(self):
        return egress_policy(auth.settings())

    def enable_plugin(self, name: str) -> None:
        try:
            from mosaic_gateway.routes_plugins import enable_plugin
        except ImportError:
            raise ServiceUnavailable("this gateway cannot enable plugins during an import; enable them "
                                     "first with PUT /api/v1/admin/plugins/<name>") from None
        enable_plugin(name)
        # The caller's identity (and so the RPC context) carries the tenant's plugins: read it anew.
        auth.invalidate_tenant(auth.current_identity().tenant_id)
        g.pop("mosaic_identity", None)
        auth.authenticate()
        self._changed()


def _backend() -> config_io.ConfigBackend:
    # Tests put a factory of an in-memory backend here.
    factory = current_app.extensions["mosaic"].get("config_backend", RpcBackend)
    return factory()


def _flag(name: str) -> bool:
    raw = (request.args.get(name) or "false").strip().lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name} must be true or false", errors={name: ["true or false"]})
    return raw in ("true", "1")


@bp.get("/api/v1/admin/config")
@declare("Export the tenant's configuration (metadata as code)", tag="admin", responses={200: ANY_OBJECT})
@admin_required
def export_config():
    """The tenant's configuration (custom objects and fields, processes, rules, validation rules,
    webhooks) as a downloadable ``mosaic-config`` JSON document."""
    doc = config_io.export_config(_backend())
    slug = auth.current_identity().tenant_slug
    body = json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="mosaic-config-{slug}.json"'})


@bp.put("/api/v1/admin/config")
@declare("Import a configuration (idempotent)", tag="admin", body=ANY_OBJECT,
         params=[flag("dry_run", "report what would change, change nothing"),
                 flag("enable_plugins", "enable the plugins the document needs")],
         responses={200: ANY_OBJECT, 422: PROBLEM_SCHEMA})
@admin_required
def import_config():
    """Import a ``mosaic-config`` document: 200 with what was (``dry_run=true``: would be)
    created, updated and left unchanged; 422 when the document is malformed, the tenant lacks
    a module or plugin it needs, or (not a dry run) an item could not be imported — then the
    problem's ``errors`` are by item (``"field.account.vip": [...]``) and ``failed`` lists them."""
    dry_run, enable_plugins = _flag("dry_run"), _flag("enable_plugins")
    report = config_io.import_config(_backend(), json_body(), dry_run=dry_run, enable_plugins=enable_plugins)
    if dry_run or not report["errors"]:
        return report
    detail = ("the configuration was partly imported: a write failed and the import stopped there"
              if report["applied"] else "nothing was imported: fix the errors (a dry run lists them) and retry")
    # A Problem's ``errors`` is {path: [messages]} everywhere; the failed items keep their detail
    # under ``failed``, beside the rest of the report.
    failed = report.pop("errors")
    errors: dict[str, list[str]] = {}
    for item in failed:
        messages = errors.setdefault(f"{item['kind']}.{item['name']}", [])
        messages.append(item["error"])
        messages += [f"{key}: {m}" for key, ms in flatten_errors(item.get("errors") or {}).items() for m in ms]
    body = {"type": "https://mosaic-crm.dev/problems/config-import-failed", "title": "Import failed",
            "status": 422, "detail": detail, "errors": errors, "failed": failed, **report}
    return Response(json.dumps(body), status=422, mimetype=PROBLEM)
