"""Planning an import of a configuration document (see :mod:`mosaic_gateway.config_io`): what
each item would become — created, updated, unchanged or an error — checked against a copy of the
tenant's metadata with the services' own checks, before anything is written."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from mosaic import services
from mosaic.errors import MosaicError, ValidationFailed
from mosaic.logic.definitions import compile_definition
from mosaic.logic.secrets import MASK, has_secret, webhook_actions, without_secrets
from mosaic.metadata.definitions import (field_to_definition, validate_field, validate_field_change,
                                         validate_object)
from mosaic.metadata.fields import NAME_RE, FieldDef, ObjectDef
from mosaic.webhooks.egress import STRICT, EgressPolicy
from mosaic.webhooks.subscriptions import validate_subscription

if TYPE_CHECKING:  # pragma: no cover
    from mosaic_gateway.config_io import ConfigBackend

#: the order an import applies them: processes before the rules whose triggers name their stages.
IMPORT_ORDER = (("validation_rules", "validation_rule"), ("processes", "process"),
                ("automation_rules", "automation_rule"))
OBJECT_ATTRS = ("label", "plural", "description", "title_field")


def definition_out(d: dict) -> dict:
    """A definition as the document holds it (no plugin tag, ``active`` explicit)."""
    out = {k: v for k, v in d.items() if k != "plugin"}
    out["active"] = bool(out.get("active", True))
    return out


def webhook_key(w: dict) -> tuple:
    """What makes two subscriptions the same one across tenants: URL and event patterns."""
    return w["url"].strip(), tuple(sorted(set(w["events"])))


@dataclass
class Plan:
    """What an import would do: writes in order, and what needs none or cannot be done."""

    writes: list[tuple[str, dict, Callable[[], Any]]] = field(default_factory=list)  # (bucket, item, write)
    unchanged: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    #: webhook actions signed with a secret in the source tenant that this tenant does not hold
    secrets: list[dict] = field(default_factory=list)

    def write(self, bucket: str, item: dict, fn: Callable[[], Any]) -> None:
        """Plan ``fn`` (a backend write) that ``created``/``updated`` ``item``."""
        self.writes.append((bucket, item, fn))

    def error(self, item: dict, problem: MosaicError | str) -> None:
        """``item`` cannot be imported: why (and the checker's errors per key, if any)."""
        if isinstance(problem, MosaicError):
            self.errors.append({**item, "error": problem.detail, **({"errors": problem.errors} if problem.errors else {})})
        else:
            self.errors.append({**item, "error": problem})


class _Metadata:
    """The tenant's objects as they will be once the planned writes are done."""

    def __init__(self, described: list[dict]):
        self.objects = {o["name"]: ObjectDef.from_dict(o) for o in described}

    def put_field(self, obj: ObjectDef, fdef: FieldDef) -> None:
        if obj.field(fdef.name) is None:
            fields = obj.fields + (fdef,)
        else:
            fields = tuple(fdef if f.name == fdef.name else f for f in obj.fields)
        self.objects[obj.name] = replace(obj, fields=fields, _index={})

    def of_service(self, service: str) -> dict[str, ObjectDef]:
        return {n: o for n, o in self.objects.items() if o.service == service}


def _defer(fdef: dict, own: str, meta: _Metadata) -> bool:
    """Whether a new object's field looks up an object not there yet (added once all exist)."""
    target = fdef.get("lookup")
    return (fdef.get("type") == "lookup" and isinstance(target, str) and "." not in target
            and target != own and target not in meta.objects)


def _plan_objects(plan: Plan, meta: _Metadata, backend: ConfigBackend, entries: list[dict]) -> list:
    """Create missing custom objects; returns ``[(object name, field definitions)]`` still to
    plan (fields of existing custom objects, lookups between new objects)."""
    pending: list[tuple[str, list[dict]]] = []
    modules = set(services.hosting_records(backend.modules()))  # a read model hosts no object
    for entry in entries:
        name, item = entry["name"], {"kind": "object", "name": entry["name"]}
        existing = meta.objects.get(name)
        if existing is not None:
            if existing.kind != "custom":
                plan.error(item, f"{name!r} is a {existing.kind} object here, not a custom one")
                continue
            differing = [a for a in OBJECT_ATTRS if a in entry and entry[a] != getattr(existing, a)]
            if differing:
                plan.warnings.append({**item, "warning": f"{', '.join(differing)} differ(s) from the document; "
                                      "an import adds and changes fields but does not change an object itself"})
            plan.unchanged.append(item)
            pending.append((name, entry["fields"]))
            continue
        # A document names the hosting service; one without it means the tenant's only one that
        # hosts records.
        service = entry.get("service") or (next(iter(modules)) if len(modules) == 1 else None)
        if service is None:
            plan.error(item, "name the service that hosts it (the tenant has several)")
            continue
        if service not in modules:
            plan.error(item, f"its service {service!r} is not an enabled module of this tenant that hosts records")
            continue
        now, later = [], []
        for f in entry["fields"]:
            (later if _defer(f, name, meta) else now).append(f)
        definition = {**{k: v for k, v in entry.items() if k != "service"}, "fields": now}
        try:
            obj = validate_object(definition, service=service, taken_names=meta.objects.keys(),
                                  taken_paths={o.path for o in meta.objects.values()},
                                  known_objects=meta.objects.keys())
        except MosaicError as exc:
            plan.error(item, exc)
            continue
        meta.objects[name] = obj
        plan.write("created", item, partial(backend.create_object, service, definition))
        if later:
            pending.append((name, later))
    return pending


def _plan_field(plan: Plan, meta: _Metadata, backend: ConfigBackend, obj: ObjectDef, d: dict) -> None:
    item = {"kind": "field", "name": f"{obj.name}.{d['name']}"}
    existing, known = obj.field(d["name"]), meta.objects.keys()
    try:
        if existing is None:
            meta.put_field(obj, validate_field(d, obj, known))
            plan.write("created", item, partial(backend.add_field, obj.service, obj.name, d))
            return
        if not existing.custom or existing.namespace:
            kind = "plugin" if existing.namespace else "core or system"
            plan.error(item, f"{d['name']!r} is a {kind} field of {obj.name}, not a custom one")
            return
        if d.get("type") != existing.type.value:
            plan.error(item, f"its type is {existing.type.value} here and {d.get('type')} in the document; "
                             "a field's type cannot change (add a field of another name instead)")
            return
        # The document's definition in the form the service keeps, to compare like with like.
        draft = replace(obj, fields=tuple(f for f in obj.fields if f.name != existing.name), _index={})
        have, want = field_to_definition(existing), field_to_definition(validate_field(d, draft, known))
        changes = {k: want.get(k) for k in sorted(set(have) | set(want)) if have.get(k) != want.get(k)}
        if not changes:
            plan.unchanged.append(item)
            return
        meta.put_field(obj, validate_field_change(existing, changes, obj, known))
        plan.write("updated", item, partial(backend.change_field, obj.service, obj.name, existing.name, changes))
    except MosaicError as exc:
        plan.error(item, exc)


def _plan_fields(plan: Plan, meta: _Metadata, backend: ConfigBackend, object_name: str,
                 definitions: list[dict]) -> None:
    obj = meta.objects.get(object_name)
    if obj is None:
        plan.error({"kind": "object", "name": object_name}, "no such object in this tenant")
        return
    if obj.kind == "plugin":
        plan.error({"kind": "object", "name": object_name},
                   f"{object_name} belongs to the {obj.namespace} plugin; its fields are the plugin's")
        return
    for d in definitions:
        _plan_field(plan, meta, backend, meta.objects[object_name], d)


def _normal(definition: dict) -> str:
    """A definition as comparable text: no plugin marker, ``active`` explicit, keys sorted, no
    webhook secrets (a write that leaves them out keeps the stored ones)."""
    return json.dumps(without_secrets(definition_out(definition))[0], sort_keys=True, default=str)


def _gives_secret(definition: dict) -> bool:
    """Whether a document's definition carries a secret of its own (one to write, not keep)."""
    return any(has_secret(a) and a["secret"] != MASK for _p, a in webhook_actions(definition))


def _egress(backend: ConfigBackend) -> EgressPolicy:
    """Where this tenant's webhooks may go (the gateway's ``MOSAIC_WEBHOOK_ALLOW``)."""
    policy = getattr(backend, "egress_policy", None)
    return policy() if policy is not None else STRICT


def _check_urls(definition: dict, policy: EgressPolicy) -> dict[str, list[str]]:
    return {f"{path}.url": problems for path, action in webhook_actions(definition)
            if isinstance(action.get("url"), str) and (problems := policy.problems(action["url"]))}


def _missing_secrets(plan: Plan, kind: str, d: dict, have: dict | None, omitted: set[tuple]) -> None:
    """Note the webhook actions the source signed whose secret this tenant does not hold."""
    held = {path for path, action in webhook_actions(have or {}) if has_secret(action)}
    given = {path for path, action in webhook_actions(d) if has_secret(action)}
    for k, name, path in sorted(omitted):
        action_path = path.removesuffix(".secret")
        if (k, name) == (kind, d["name"]) and action_path not in held | given:
            plan.secrets.append({"kind": kind, "name": name, "path": path,
                                 "detail": "signed with a secret in the source tenant, which an export never "
                                           "holds: set it again with a PUT of this definition giving "
                                           f"{path} (until then its webhook is sent unsigned)"})


def _plan_definitions(plan: Plan, meta: _Metadata, backend: ConfigBackend, kind: str,
                      entries: list[dict], policy: EgressPolicy = STRICT, omitted: set[tuple] = frozenset()) -> None:
    current = {d["name"]: d for d in backend.list_definitions(kind) if not d.get("plugin")}
    for d in entries:
        item = {"kind": kind, "name": d["name"]}
        obj = meta.objects.get(d["object"])
        if obj is None:
            plan.error(item, f"unknown object {d['object']!r}")
            continue
        if "__" in d["name"] or not NAME_RE.match(d["name"]):
            plan.error(item, "a name is snake_case, letters first, without '__' (kept for plugins)")
            continue
        try:
            compiled = compile_definition(kind, d, meta.of_service(obj.service))
        except MosaicError as exc:
            plan.error(item, exc)
            continue
        bad_urls = _check_urls(d, policy)
        if bad_urls:
            plan.error(item, ValidationFailed(f"a webhook of this {kind.replace('_', ' ')} points at an address "
                                              "webhooks may not call", errors=bad_urls))
            continue
        have = current.get(d["name"])
        _missing_secrets(plan, kind, d, have, omitted)
        if have is not None and not _gives_secret(d) and _normal(have) == _normal(compiled.definition):
            plan.unchanged.append(item)
        else:
            plan.write("updated" if have else "created", item,
                       partial(backend.put_definition, obj.service, kind, d))


def _plan_webhooks(plan: Plan, backend: ConfigBackend, entries: list[dict], policy: EgressPolicy = STRICT) -> None:
    # Subscriptions are matched by url and events; an import never deletes or changes one.
    existing = {webhook_key(w) for w in backend.list_webhooks()}
    for d in entries:
        item = {"kind": "webhook", "name": d["url"], "events": d.get("events")}
        try:
            clean = validate_subscription(d, policy=policy)
        except MosaicError as exc:
            plan.error(item, exc)
            continue
        key = webhook_key(clean)
        if key in existing:
            plan.unchanged.append(item)
        else:
            existing.add(key)
            plan.write("created", item, partial(backend.create_webhook, clean))


def plan_import(backend: ConfigBackend, doc: dict) -> Plan:
    """The writes importing ``doc`` (a checked document) needs, in dependency order."""
    plan, policy = Plan(), _egress(backend)
    omitted = {(o["kind"], o["name"], o["path"]) for o in doc.get("secrets_omitted", ())}
    meta = _Metadata(backend.objects())
    for name, definitions in _plan_objects(plan, meta, backend, doc["objects"]):
        _plan_fields(plan, meta, backend, name, definitions)
    for name in sorted(doc["fields"]):
        _plan_fields(plan, meta, backend, name, doc["fields"][name])
    for key, kind in IMPORT_ORDER:
        _plan_definitions(plan, meta, backend, kind, doc[key], policy, omitted)
    _plan_webhooks(plan, backend, doc["webhooks"], policy)
    return plan


