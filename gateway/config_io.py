"""Metadata as code: a tenant's configuration as one JSON document, exported from one tenant and
imported into another (or into the same one later, where it changes nothing).

The document holds only what the tenant defined itself: custom objects, custom fields of core
objects, its own processes, automation rules and validation rules, and webhook subscriptions
(without secrets or ids). Core, system and plugin objects and fields, and plugins' definitions,
come with the code and are never written.

Secrets never leave a tenant: a webhook action's signing secret is dropped from its definition
and its place listed in ``secrets_omitted``; an import keeps the secrets the target tenant holds
already and reports in ``secrets_to_set`` each one it does not (set it again with a PUT of the
definition).

An import plans first, then writes:

1. the document is checked as a whole (``ValidationFailed`` with an error per JSON path);
2. the modules and plugins it names must be enabled in the tenant (``ValidationFailed``
   otherwise, or the plugins are enabled when asked to);
3. the plan is computed against a copy of the tenant's metadata held here, with the same checks
   the services run (``mosaic.metadata.definitions``, the definition compilers, the webhook
   validator), in dependency order: custom objects, custom fields, validation rules, processes,
   automation rules, webhooks. Each item is created, updated, unchanged or an error;
4. unless it is a dry run or the plan has errors, the writes run in that order. Each write is
   its own transaction in its service, so a failing write (a race, a check only the service
   can make) stops the import there and is reported, and the writes before it stay. Run a dry
   run first to see problems without writing anything.

Everything goes through a :class:`ConfigBackend`, so this module runs without RPC in tests.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from mosaic.db import utcnow
from mosaic.errors import MosaicError, ValidationFailed
from mosaic.logic.secrets import without_secrets
from mosaic.metadata.definitions import field_to_definition
from mosaic.metadata.fields import FieldDef
from mosaic.metadata.values import format_datetime
from mosaic.webhooks.egress import EgressPolicy
from mosaic_gateway.config_plan import (OBJECT_ATTRS, Plan, definition_out, plan_import,
                                        webhook_key)

FORMAT, VERSION = "mosaic-config", 1
#: (document key, definition kind) in document order.
DEFINITIONS = (("processes", "process"), ("automation_rules", "automation_rule"),
               ("validation_rules", "validation_rule"))
_LISTS = ("modules", "plugins", "objects", "processes", "automation_rules", "validation_rules",
          "webhooks", "secrets_omitted")
TOP_KEYS = frozenset({"format", "version", "exported_at", "source_tenant", "fields", *_LISTS})


class ConfigBackend(Protocol):
    """What export and import need of the tenant. Every method acts as the calling admin;
    writes raise typed :class:`~mosaic.errors.MosaicError` subclasses."""

    def tenant_slug(self) -> str | None: ...
    def modules(self) -> tuple[str, ...]: ...
    def plugins(self) -> tuple[str, ...]: ...
    def objects(self) -> list[dict]: ...                       # each service's ``describe``, fresh
    def list_definitions(self, kind: str) -> list[dict]: ...   # own ones and plugins' ones
    def list_webhooks(self) -> list[dict]: ...                  # without secrets
    def create_object(self, service: str, definition: dict) -> dict: ...
    def add_field(self, service: str, object_name: str, definition: dict) -> dict: ...
    def change_field(self, service: str, object_name: str, field_name: str, changes: dict) -> dict: ...
    def put_definition(self, service: str, kind: str, definition: dict) -> dict: ...
    def create_webhook(self, data: dict) -> dict: ...          # carries the new ``secret``
    def enable_plugin(self, name: str) -> None: ...
    def egress_policy(self) -> EgressPolicy: ...                # where webhooks may go


# ---------------------------------------------------------------- export

def _tenant_field(f: dict) -> bool:
    return bool(f.get("custom")) and not f.get("namespace")


def _field_out(f: dict) -> dict:
    return field_to_definition(FieldDef.from_dict(f))


def _webhook_out(w: dict) -> dict:
    return {"url": w["url"], "events": list(w.get("events") or ()),
            "description": w.get("description"), "active": bool(w.get("active", True))}


def export_config(backend: ConfigBackend, now: datetime | None = None) -> dict:
    """The tenant's own configuration as a ``mosaic-config`` document, in a stable order (objects,
    definitions and core objects' fields by name; a custom object's fields in their defined
    order, which the object keeps), so two exports diff cleanly."""
    objects = sorted(backend.objects(), key=lambda o: o["name"])
    doc: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "exported_at": format_datetime(now or utcnow()),
        "source_tenant": backend.tenant_slug(),
        "modules": sorted(backend.modules()), "plugins": sorted(backend.plugins()),
        "objects": [{"name": o["name"], **{a: o.get(a) for a in OBJECT_ATTRS},
                     "service": o["service"],
                     "fields": [_field_out(f) for f in o["fields"] if _tenant_field(f)]}
                    for o in objects if o.get("kind") == "custom"],
        "fields": {},
    }
    for o in objects:
        own = sorted((_field_out(f) for f in o["fields"] if _tenant_field(f)), key=lambda f: f["name"])
        if o.get("kind") != "custom" and own:
            doc["fields"][o["name"]] = own
    omitted = []
    for key, kind in DEFINITIONS:
        doc[key] = []
        for d in sorted((d for d in backend.list_definitions(kind) if not d.get("plugin")), key=lambda d: d["name"]):
            out, paths = without_secrets(definition_out(d))
            doc[key].append(out)
            omitted += [{"kind": kind, "name": d["name"], "path": path} for path in paths]
    doc["webhooks"] = sorted((_webhook_out(w) for w in backend.list_webhooks()),
                             key=lambda w: (*webhook_key(w), w["description"] or ""))
    doc["secrets_omitted"] = omitted
    return doc


# ---------------------------------------------------------------- the document

class _Problems(dict):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def _check_items(items: Any, path: str, required: tuple[str, ...], problems: _Problems,
                 unique: str | None = "name") -> list:
    """``items`` must be a list of objects with text ``required`` keys (and unique names)."""
    if not isinstance(items, list):
        problems.add(path, "must be a list")
        return []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.add(f"{path}[{i}]", "must be an object")
            continue
        for key in required:
            if not isinstance(item.get(key), str) or not item[key]:
                problems.add(f"{path}[{i}].{key}", "is required (text)")
        name = item.get(unique) if unique else None
        if isinstance(name, str):
            if name in seen:
                problems.add(f"{path}[{i}].{unique}", f"{name!r} appears more than once")
            seen.add(name)
    return items


def validate_document(doc: Any) -> dict:
    """The document with absent sections defaulted; ``ValidationFailed`` naming each problem by
    its JSON path (``objects[0].fields[2].type``). Only the shape is checked here; each item's
    content is checked when the import is planned, with the services' own rules."""
    problems = _Problems()
    if not isinstance(doc, dict):
        raise ValidationFailed("A configuration document is a JSON object.", errors={"$": ["must be an object"]})
    if doc.get("format") != FORMAT:
        problems.add("format", f"must be {FORMAT!r} (a document made by GET /api/v1/admin/config)")
    if doc.get("version") != VERSION or isinstance(doc.get("version"), bool):
        problems.add("version", f"must be {VERSION}: this server reads version {VERSION} documents")
    if problems:  # not our format: what else it holds means nothing
        raise ValidationFailed("Not a Mosaic configuration document.", errors=dict(problems))
    for key in sorted(set(doc) - TOP_KEYS, key=str):
        problems.add(str(key), "unknown key")
    out = {key: doc.get(key) if doc.get(key) is not None else [] for key in _LISTS}
    for key in ("modules", "plugins"):
        if not isinstance(out[key], list) or not all(isinstance(n, str) and n for n in out[key]):
            problems.add(key, "must be a list of names")
    for i, obj in enumerate(_check_items(out["objects"], "objects", ("name",), problems)):
        if isinstance(obj, dict):
            _check_items(obj.get("fields", []), f"objects[{i}].fields", ("name", "type"), problems)
    out["fields"] = doc.get("fields") if doc.get("fields") is not None else {}
    if not isinstance(out["fields"], dict):
        problems.add("fields", "must be an object: {object name: [field definitions]}")
        out["fields"] = {}
    for name, fields in out["fields"].items():
        _check_items(fields, f"fields.{name}", ("name", "type"), problems)
    for key, _kind in DEFINITIONS:
        _check_items(out[key], key, ("name", "object"), problems)
    _check_items(out["webhooks"], "webhooks", ("url",), problems, unique=None)
    _check_items(out["secrets_omitted"], "secrets_omitted", ("kind", "name", "path"), problems, unique=None)
    if problems:
        raise ValidationFailed("The configuration document is invalid.", errors=dict(problems))
    out["objects"] = [{**obj, "fields": obj.get("fields", [])} for obj in out["objects"]]
    return out


# ---------------------------------------------------------------- import

def _requirements(backend: ConfigBackend, doc: dict, enable_plugins: bool) -> list[str]:
    """The plugins to enable; ``ValidationFailed`` when a module (or, unless ``enable_plugins``,
    a plugin) the configuration was made with is not enabled here."""
    missing_modules = sorted(set(doc["modules"]) - set(backend.modules()))
    missing_plugins = sorted(set(doc["plugins"]) - set(backend.plugins()))
    problems: dict[str, list[str]] = {}
    if missing_modules:
        problems["modules"] = [f"not enabled in this tenant: {', '.join(missing_modules)} "
                               "(PUT /api/v1/admin/modules)"]
    if missing_plugins and not enable_plugins:
        problems["plugins"] = [f"not enabled in this tenant: {', '.join(missing_plugins)} "
                               "(PUT /api/v1/admin/plugins/<name>, or import with enable_plugins=true)"]
    if problems:
        raise ValidationFailed("This tenant lacks modules or plugins the configuration needs.", errors=problems,
                               missing_modules=missing_modules, missing_plugins=missing_plugins)
    return missing_plugins


def _enable(backend: ConfigBackend, names: list[str]) -> Plan:
    """Enable ``names``; one that needs another of them first is retried once that one is on.
    Returns the failures (as errors of a plan)."""
    pending, failed = list(names), Plan()
    while pending:
        failures: dict[str, MosaicError] = {}
        for name in pending:
            try:
                backend.enable_plugin(name)
            except MosaicError as exc:
                failures[name] = exc
        if len(failures) == len(pending):
            for name, exc in failures.items():
                failed.error({"kind": "plugin", "name": name}, exc)
            break
        pending = list(failures)
    return failed


def _report(dry_run: bool, applied: bool, **lists: list) -> dict:
    keys = ("created", "updated", "unchanged", "errors", "skipped", "warnings", "secrets_to_set")
    return {"dry_run": dry_run, "applied": applied, **{k: lists.get(k, []) for k in keys}}


def import_config(backend: ConfigBackend, document: Any, *, dry_run: bool = False,
                  enable_plugins: bool = False) -> dict:
    """Import a ``mosaic-config`` document (see the module docstring for the order and what a
    failure leaves behind). Returns ``{dry_run, applied, created, updated, unchanged, errors,
    skipped, warnings, secrets_to_set}``, items like ``{"kind": "field", "name": "contact.loyalty_tier"}``;
    ``applied`` says whether anything was written, ``skipped`` lists the writes not made because
    of an error, ``secrets_to_set`` the webhook secrets (``{kind, name, path, detail}``) the
    source signed with and this tenant must be given again. Raises ``ValidationFailed`` for a malformed document or missing modules/plugins."""
    doc = validate_document(document)
    to_enable = _requirements(backend, doc, enable_plugins)
    enabled = [{"kind": "plugin", "name": name} for name in to_enable]
    warnings = []
    if dry_run and to_enable:
        warnings.append({"kind": "plugin", "name": ", ".join(to_enable),
                         "warning": "enabled only when the import runs; what depends on these plugins "
                                    "was checked without them"})
    if not dry_run:
        failed = _enable(backend, to_enable)
        if failed.errors:
            done = [i for i in enabled if i["name"] not in {e["name"] for e in failed.errors}]
            return _report(False, bool(done), created=done, errors=failed.errors)
    plan = plan_import(backend, doc)
    warnings += plan.warnings
    planned = {"created": [*enabled], "updated": []}
    for bucket, item, _write in plan.writes:
        planned[bucket].append(item)
    if dry_run:
        return _report(True, False, **planned, unchanged=plan.unchanged, errors=plan.errors, warnings=warnings,
                       secrets_to_set=plan.secrets)
    if plan.errors:  # nothing written: a half-applied configuration helps no one
        return _report(False, bool(enabled), created=enabled, unchanged=plan.unchanged, errors=plan.errors,
                       skipped=[item for _b, item, _w in plan.writes], warnings=warnings)
    done: dict[str, list] = {"created": [*enabled], "updated": []}
    for i, (bucket, item, write) in enumerate(plan.writes):
        try:
            result = write()
        except MosaicError as exc:
            failed = Plan()
            failed.error(item, exc)
            written = {(it["kind"], it["name"]) for it in [*(it for _b, it, _w in plan.writes[:i]), *plan.unchanged]}
            return _report(False, i > 0 or bool(enabled), **done, unchanged=plan.unchanged, errors=failed.errors,
                           skipped=[it for _b, it, _w in plan.writes[i + 1:]], warnings=warnings,
                           secrets_to_set=[s for s in plan.secrets if (s["kind"], s["name"]) in written])
        if item["kind"] == "webhook" and isinstance(result, dict) and result.get("secret"):
            item = {**item, "secret": result["secret"]}  # shown this once, like the webhook API does
        done[bucket].append(item)
    return _report(False, True, **done, unchanged=plan.unchanged, warnings=warnings, secrets_to_set=plan.secrets)
