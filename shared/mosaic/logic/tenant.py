"""A tenant's low-code configuration as the runtime uses it: its processes, automation rules and
validation rules (its own and those of the plugins it runs), compiled once per metadata version
and plugin set, and the plugin hooks it may call. (Webhook subscriptions are not here: the hub
owns them and queues their deliveries from the published events, see ``mosaic_hub.webhooks``.)"""
from __future__ import annotations

import logging
import weakref
from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from mosaic.logic.definitions import compile_definition, list_definitions
from mosaic.metadata.cache import LRUCache
from mosaic.metadata.fields import ObjectDef
from mosaic.plugins.host import PluginHost

log = logging.getLogger(__name__)

#: plugin declaration list -> definition kind
_PLUGIN_KINDS = {"processes": "process", "automation_rules": "automation_rule",
                 "validation_rules": "validation_rule"}
_CACHES: "weakref.WeakKeyDictionary[Any, LRUCache]" = weakref.WeakKeyDictionary()


class TenantLogic:
    """What one tenant runs: ``store.logic`` of every record store."""

    def __init__(self, host: PluginHost, enabled: frozenset[str], compiled: dict[str, list],
                 errors: dict[str, str]):
        self.host = host
        self.enabled = enabled
        #: definitions that no longer compile (a field was removed since): name -> why
        self.errors = errors
        self._by_object: dict[str, dict[str, list]] = {k: defaultdict(list) for k in _PLUGIN_KINDS.values()}
        self.all: dict[str, list] = compiled
        for kind, items in compiled.items():
            for item in items:
                self._by_object[kind][item.object].append(item)
        for items in self._by_object["automation_rule"].values():
            items.sort(key=lambda r: (r.definition.get("order", 100), r.name))

    def processes(self, object_name: str) -> list:
        """Active processes on ``object_name``."""
        return self._by_object["process"].get(object_name, [])

    def rules(self, object_name: str) -> list:
        """Active automation rules on ``object_name``, in their ``order``."""
        return self._by_object["automation_rule"].get(object_name, [])

    def validation_rules(self, object_name: str) -> list:
        """Active validation rules on ``object_name``."""
        return self._by_object["validation_rule"].get(object_name, [])

    def scheduled_rules(self) -> list:
        """Active rules with a scheduled trigger, on every object."""
        return [r for r in self.all["automation_rule"]
                if (r.definition.get("trigger") or {}).get("type") == "scheduled"]

    def hook(self, name: str):
        """Hook ``name`` limited to the built-in and this tenant's plugins."""
        return self.host.hook(name, self.enabled)

    def implements(self, name: str) -> bool:
        return self.host.implements(name, self.enabled)


def build_logic(session: Session, objects: dict[str, ObjectDef], host: PluginHost,
                enabled: frozenset[str]) -> TenantLogic:
    """Compile the tenant's and its plugins' definitions against its (visible) ``objects``."""
    compiled: dict[str, list] = {kind: [] for kind in _PLUGIN_KINDS.values()}
    errors: dict[str, str] = {}

    def add(kind: str, definition: dict, origin: str) -> None:
        if definition.get("active", True) is False:
            return
        if definition.get("object") not in objects:
            return  # an object of a plugin the tenant does not run
        try:
            compiled[kind].append(compile_definition(kind, definition, objects))
        except Exception as exc:  # noqa: BLE001 — one broken definition must not stop the tenant
            errors[f"{kind}:{definition.get('name')}"] = str(exc)
            log.warning("%s %s of %s skipped: %s", kind, definition.get("name"), origin, exc)

    for attr, kind in _PLUGIN_KINDS.items():
        for definition in getattr(host.declarations, attr):
            if definition.get("plugin") in enabled:
                add(kind, definition, f"plugin {definition['plugin']}")
    for row in list_definitions(session):
        if row.active:
            add(row.kind, row.definition, "the tenant")
    return TenantLogic(host, enabled, compiled, errors)


def tenant_logic(session: Session, registry: Any, objects: dict[str, ObjectDef], version: int,
                 host: PluginHost, enabled: frozenset[str]) -> TenantLogic:
    """:func:`build_logic`, cached per (database, tenant, metadata version, plugin set)."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    per_registry = _CACHES.get(registry)
    if per_registry is None:
        per_registry = _CACHES[registry] = LRUCache(1000)
    key = (id(engine), session.info.get("tenant_id"), version, enabled)
    logic = per_registry.get(key)
    if logic is None:
        logic = build_logic(session, objects, host, enabled)
        if not session.info.get("mosaic.metadata.dirty"):
            per_registry.put(key, logic)
    return logic


def scheduled_rules_by_tenant(engine, open_store, host: PluginHost) -> dict[str, list]:
    """``{tenant: [(rule, active_since)]}`` of every tenant with an active scheduled rule of its
    own or of one of its plugins (what :func:`mosaic.automation.engine.run_scheduled` takes).
    ``active_since`` is when the tenant last saved its rule (None for a plugin's: look back the
    full window)."""
    from sqlalchemy import select

    from mosaic.db import system_session
    from mosaic.logic.models import BehaviourDefinition, TenantPlugins

    plugin_rules = {d["plugin"] for d in host.declarations.automation_rules
                    if (d.get("trigger") or {}).get("type") == "scheduled"}
    since: dict[tuple[str, str], Any] = {}
    tenants: set[str] = set()
    with system_session(engine) as session:
        rows = session.execute(select(BehaviourDefinition.tenant_id, BehaviourDefinition.name,
                                      BehaviourDefinition.definition, BehaviourDefinition.updated_at)
                               .where(BehaviourDefinition.kind == "automation_rule",
                                      BehaviourDefinition.active.is_(True))).all()
        for tenant_id, name, definition, updated_at in rows:
            if ((definition or {}).get("trigger") or {}).get("type") == "scheduled":
                tenants.add(tenant_id)
                since[(tenant_id, name)] = updated_at
        if plugin_rules:
            for tenant_id, plugins in session.execute(select(TenantPlugins.tenant_id, TenantPlugins.plugins)):
                if plugin_rules & set(plugins or ()):
                    tenants.add(tenant_id)
    out: dict[str, list] = {}
    for tenant_id in sorted(tenants):
        with open_store(tenant_id) as store:
            out[tenant_id] = [(rule, since.get((tenant_id, rule.name))) for rule in store.logic.scheduled_rules()]
    return out
