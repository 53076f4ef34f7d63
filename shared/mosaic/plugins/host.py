"""The plugin host: finds plugins, checks them, and calls their hooks for the right tenants.

Plugins are modules (or objects) with a ``MANIFEST`` and ``@hookimpl`` functions, found through
the ``mosaic.plugins`` entry point group, the ``MOSAIC_PLUGINS`` setting (module paths, for
development and tests) and the installed services' own plugins (each service declares its core
objects through the same hooks: ``ServiceSpec.plugin``). A plugin that fails to load — a bad manifest, an unsupported core version, a
misspelt hook, a declaration outside its namespace or manifest — is reported in
:attr:`PluginHost.failures` and in the log, and left out; the process keeps running.
"""
from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import Any, Iterable

import pluggy

from mosaic import __version__
from mosaic.metadata.fields import FieldDef, ObjectDef
from mosaic.plugins import hookspecs
from mosaic.plugins.manifest import Manifest, ManifestError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mosaic.plugins"
#: a routing key no event has: binds a queue that stays empty
NO_EVENTS = "mosaic.no-plugin-handles-events"
DECLARATION_KINDS = ("processes", "automation_rules", "validation_rules", "analytics_metrics")


def builtin_plugins() -> tuple[str, ...]:
    """The installed services' own plugins (their core objects): always loaded, always enabled."""
    from mosaic import services

    return tuple(spec.plugin for spec in services.installed().values() if spec.plugin)


class PluginError(Exception):
    """A plugin broke a rule of the host (namespace, manifest scope, hook contract)."""


@dataclass
class Declarations:
    """What the loaded plugins declared, each item tagged with its plugin's name."""

    objects: list[ObjectDef] = field(default_factory=list)
    fields: dict[str, list[FieldDef]] = field(default_factory=dict)
    processes: list[dict] = field(default_factory=list)
    automation_rules: list[dict] = field(default_factory=list)
    validation_rules: list[dict] = field(default_factory=list)
    analytics_metrics: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class LoadedPlugin:
    name: str
    manifest: Manifest
    module: Any
    source: str


class PluginHost:
    """One per process: ``get_host()``."""

    def __init__(self, core_version: str = __version__):
        self.core_version = core_version
        self.pm = pluggy.PluginManager("mosaic")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        self.failures: dict[str, str] = {}
        self.declarations = Declarations()
        self._subsets: dict[tuple[str, frozenset], Any] = {}
        self._lock = threading.Lock()

    # -- loading ------------------------------------------------------------------------------
    def load(self, modules: Iterable[str] = (), *, builtins: Iterable[str] | None = None,
             discover: bool = True) -> "PluginHost":
        """Load the built-in plugins (default: every installed service's own), then those named in
        ``modules``, then (``discover``) every installed entry point of the ``mosaic.plugins`` group."""
        if builtins is None:
            builtins = builtin_plugins()
        for path in builtins:
            self.add(path, builtin=True)
        for path in modules:
            self.add(path)
        if discover:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self.add(ep.value, source=f"entry point {ep.name}")
        self.pm.check_pending()  # every registered impl has a spec by now (add() checks each)
        return self

    def add(self, target: Any, *, builtin: bool = False, source: str = "") -> LoadedPlugin | None:
        """Load one plugin (a module path, ``module:attribute``, or the object itself); returns it,
        or None after recording why it failed."""
        label = target if isinstance(target, str) else getattr(target, "__name__", repr(target))
        try:
            plugin = _resolve(target)
            manifest = getattr(plugin, "MANIFEST", None)
            if not isinstance(manifest, Manifest):
                raise ManifestError(f"{label} has no MANIFEST = mosaic.plugins.Manifest(...)")
            label = manifest.name or label
            if builtin and not manifest.builtin:
                manifest = replace(manifest, builtin=True)
            manifest.check(self.core_version)
            if manifest.name in self.plugins:
                if self.plugins[manifest.name].module is plugin:
                    return self.plugins[manifest.name]
                raise PluginError(f"a plugin named {manifest.name!r} is already loaded "
                                  f"(from {self.plugins[manifest.name].source})")
        except Exception as exc:  # noqa: BLE001 — any failure of a third-party plugin is reported
            return self._fail(label, exc)
        name = manifest.name
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 — pluggy refuses bad hook signatures
            return self._fail(name, exc)
        try:
            self._check_hooks(plugin, name)
            loaded = LoadedPlugin(name, manifest, plugin, source or label)
            declared = self._declare(loaded)
        except Exception as exc:  # noqa: BLE001
            self.pm.unregister(plugin)
            return self._fail(name, exc)
        self.plugins[name] = loaded
        self._merge(declared)
        self._subsets.clear()
        self.failures.pop(name, None)
        log.info("plugin %s %s loaded", name, manifest.version)
        return loaded

    def _fail(self, name: str, exc: Exception) -> None:
        self.failures[name] = f"{type(exc).__name__}: {exc}"
        log.error("plugin %s not loaded: %s", name, self.failures[name])
        return None

    def _check_hooks(self, plugin: Any, name: str) -> None:
        """A hook implementation without a spec is a misspelt hook: refuse the plugin (pluggy's
        ``check_pending`` would refuse the whole process)."""
        for hook_name in dir(self.pm.hook):
            caller = getattr(self.pm.hook, hook_name)
            if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
                continue
            if any(impl.plugin is plugin for impl in caller.get_hookimpls()):
                raise PluginError(f"{name} implements {hook_name}, which is not a Mosaic hook "
                                  f"(known: {', '.join(hookspecs.hook_names())})")

    # -- declarations --------------------------------------------------------------------------
    def _call_own(self, loaded: LoadedPlugin, hook_name: str) -> Any:
        impls = [i for i in getattr(self.pm.hook, hook_name).get_hookimpls() if i.plugin is loaded.module]
        return impls[0].function() if impls else None

    def _declare(self, loaded: LoadedPlugin) -> Declarations:
        m = loaded.manifest
        out = Declarations()
        own: set[str] = set()
        for obj in self._call_own(loaded, "mosaic_objects") or ():
            if not isinstance(obj, ObjectDef):
                raise PluginError(f"{m.name}: mosaic_objects must return ObjectDef instances")
            if not m.builtin:
                _namespaced(m, obj.name, "object")
                obj = replace(obj, kind="plugin", namespace=m.name, _index={})
            own.add(obj.name)
            out.objects.append(obj)
        reachable = own | set(m.extends)
        for object_name, fields in (self._call_own(loaded, "mosaic_fields") or {}).items():
            if not m.builtin and object_name not in reachable:
                raise PluginError(f"{m.name} adds fields to {object_name!r}, which its manifest does "
                                  f"not list in 'extends'")
            tagged = []
            for fd in fields:
                if not isinstance(fd, FieldDef):
                    raise PluginError(f"{m.name}: mosaic_fields must map object names to FieldDef lists")
                if not m.builtin:
                    _namespaced(m, fd.name, "field")
                    fd = fd.evolve(namespace=m.name, storage="json", custom=False)
                tagged.append(fd)
            out.fields.setdefault(object_name, []).extend(tagged)
        for kind in DECLARATION_KINDS:
            items = self._call_own(loaded, f"mosaic_{kind}") or ()
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    raise PluginError(f"{m.name}: mosaic_{kind} must return dicts with a name")
                if not m.builtin:
                    _namespaced(m, item["name"], kind.rstrip("s").replace("_", " "))
                    if item.get("object") not in reachable:
                        raise PluginError(f"{m.name}: {item['name']} is on {item.get('object')!r}, "
                                          f"which is neither its own object nor in 'extends'")
                getattr(out, kind).append({**item, "plugin": m.name})
        return out

    def _merge(self, declared: Declarations) -> None:
        d = self.declarations
        d.objects.extend(declared.objects)
        for object_name, fields in declared.fields.items():
            d.fields.setdefault(object_name, []).extend(fields)
        for kind in DECLARATION_KINDS:
            getattr(d, kind).extend(getattr(declared, kind))

    def objects_for(self, service: str) -> list[ObjectDef]:
        """Every object hosted by ``service``, with every plugin's fields added (hidden per
        tenant later by :func:`mosaic.plugins.visibility.visible_objects`)."""
        out = []
        for obj in self.declarations.objects:
            if obj.service != service:
                continue
            extra = self.declarations.fields.get(obj.name)
            out.append(obj.with_fields(extra) if extra else obj)
        return out

    # -- per tenant ----------------------------------------------------------------------------
    def builtin_names(self) -> frozenset[str]:
        return frozenset(n for n, p in self.plugins.items() if p.manifest.builtin)

    def enabled(self, tenant_plugins: Iterable[str]) -> frozenset[str]:
        """The loaded plugins a tenant with ``tenant_plugins`` enabled actually runs: the built-in
        ones and the enabled ones that loaded."""
        return self.builtin_names() | frozenset(p for p in tenant_plugins if p in self.plugins)

    def hook(self, name: str, enabled: frozenset[str]):
        """The caller of hook ``name`` limited to the plugins in ``enabled``."""
        key = (name, enabled)
        caller = self._subsets.get(key)
        if caller is None:
            with self._lock:
                remove = [p.module for n, p in self.plugins.items() if n not in enabled]
                caller = self.pm.subset_hook_caller(name, remove) if remove else getattr(self.pm.hook, name)
                self._subsets[key] = caller
        return caller

    def implements(self, name: str, enabled: frozenset[str]) -> bool:
        """Whether any plugin in ``enabled`` implements hook ``name``."""
        return bool(self.hook(name, enabled).get_hookimpls())

    def event_patterns(self) -> tuple[str, ...]:
        """The topic patterns a service's plugin-event queue binds: what the loaded plugins'
        ``mosaic_handle_event`` need (their manifests' ``events``; ``#`` for one that says
        nothing), or a pattern no event has when no plugin handles events."""
        patterns: set[str] = set()
        for plugin in self.plugins.values():
            impls = self.pm.hook.mosaic_handle_event.get_hookimpls()
            if any(i.plugin is plugin.module for i in impls):
                patterns.update(plugin.manifest.events or ("#",))
        if "#" in patterns:
            return ("#",)
        return tuple(sorted(patterns)) or (NO_EVENTS,)

    def describe(self) -> list[dict]:
        """Every loaded plugin's manifest, and every failure (admin API)."""
        items = [{**p.manifest.to_dict(), "builtin": p.manifest.builtin, "loaded": True,
                  "source": p.source} for p in self.plugins.values()]
        items += [{"name": n, "loaded": False, "error": e} for n, e in self.failures.items()]
        return items


def _namespaced(m: Manifest, name: str, what: str) -> None:
    if not name.startswith(m.namespace) or len(name) <= len(m.namespace):
        raise PluginError(f"{m.name}: {what} {name!r} must be named {m.namespace}<name> "
                          f"(plugins declare only within their namespace)")


def _resolve(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


_HOST: PluginHost | None = None
_HOST_LOCK = threading.Lock()


def get_host(settings=None) -> PluginHost:
    """The process's plugin host, loaded on first use (built-ins, ``MOSAIC_PLUGINS``, entry points)."""
    global _HOST
    if _HOST is None:
        with _HOST_LOCK:
            if _HOST is None:
                if settings is None:
                    from mosaic.config import load_settings

                    settings = load_settings()
                _HOST = PluginHost().load(settings.plugins)
    return _HOST


def set_host(host: PluginHost | None) -> None:
    """Replace the process's host (tests; ``None`` reloads on next use)."""
    global _HOST
    _HOST = host
