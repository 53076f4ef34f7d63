"""The plugin host: loading, manifests, namespacing, failures reported without taking the
process down, and hooks called only for the plugins a tenant runs."""
from __future__ import annotations

import types

import pytest

from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.plugins import Manifest, PluginHost, hookimpl
from mosaic.plugins.manifest import ManifestError


def make_plugin(name="acme", *, manifest=None, **hooks):
    """A plugin module built in memory: ``hooks`` are hook name -> function."""
    module = types.ModuleType(f"plugin_{name}")
    module.MANIFEST = manifest or Manifest(name=name, version="1.0.0", core=">=0.2,<1", extends=("contact",))
    for hook_name, fn in hooks.items():
        fn.__name__ = hook_name
        setattr(module, hook_name, hookimpl(fn))
    return module


def acme_object(name="acme__gadget"):
    return ObjectDef(name=name, label="Gadget", service="contacts", title_field="title",
                     fields=SYSTEM_FIELDS + (FieldDef("title", FieldType.TEXT, "Title"),))


def host_with(*plugins) -> PluginHost:
    host = PluginHost()
    host.load(discover=False)
    for plugin in plugins:
        host.add(plugin)
    return host


def test_builtin_contacts_plugin_declares_the_core_objects():
    host = host_with()
    assert {o.name for o in host.objects_for("contacts")} >= {"contact", "account", "relationship", "activity"}
    assert host.builtin_names() == {"contacts"}


def test_plugin_objects_and_fields_are_namespaced_and_tagged():
    plugin = make_plugin(mosaic_objects=lambda: [acme_object()],
                         mosaic_fields=lambda: {"contact": [FieldDef("acme__budget", FieldType.DECIMAL, "Budget")]})
    host = host_with(plugin)
    assert host.failures == {}
    objects = {o.name: o for o in host.objects_for("contacts")}
    gadget = objects["acme__gadget"]
    assert gadget.kind == "plugin" and gadget.namespace == "acme"
    budget = objects["contact"].field("acme__budget")
    assert budget.namespace == "acme" and budget.storage == "json" and not budget.custom


@pytest.mark.parametrize("hooks, message", [
    ({"mosaic_objects": lambda: [acme_object("gadget")]}, "must be named acme__"),
    ({"mosaic_fields": lambda: {"contact": [FieldDef("budget", FieldType.DECIMAL)]}}, "must be named acme__"),
    ({"mosaic_fields": lambda: {"account": [FieldDef("acme__x", FieldType.TEXT)]}}, "does not list in 'extends'"),
    ({"mosaic_processes": lambda: [{"name": "acme__p", "object": "account"}]}, "neither its own object"),
    ({"mosaic_automation_rules": lambda: [{"name": "rule", "object": "contact"}]}, "must be named acme__"),
])
def test_declarations_outside_namespace_or_manifest_fail_the_plugin_only(hooks, message):
    host = host_with(make_plugin(**hooks))
    assert "acme" not in host.plugins
    assert message in host.failures["acme"]
    assert "contact" in {o.name for o in host.objects_for("contacts")}  # the process goes on


def test_a_misspelt_hook_is_reported():
    host = host_with(make_plugin(mosaic_objectz=lambda: []))
    assert "mosaic_objectz" in host.failures["acme"] and "not a Mosaic hook" in host.failures["acme"]
    host.pm.check_pending()  # the failed plugin was unregistered: nothing pending remains


def test_a_plugin_that_raises_while_declaring_is_reported():
    def broken():
        raise RuntimeError("boom")

    host = host_with(make_plugin(mosaic_objects=broken))
    assert "boom" in host.failures["acme"]


def test_unsupported_core_version_and_bad_manifest():
    too_new = make_plugin(manifest=Manifest(name="acme", version="1.0.0", core=">=9"))
    host = host_with(too_new)
    assert "supports Mosaic >=9" in host.failures["acme"]
    host = host_with(types.ModuleType("no_manifest"))
    assert "has no MANIFEST" in host.failures["no_manifest"]
    with pytest.raises(ManifestError):
        Manifest(name="bad__name", version="1").check("0.2.0")
    with pytest.raises(ManifestError):
        Manifest(name="ok", version="not a version").check("0.2.0")


def test_module_path_loading_and_entry_point_discovery_of_missing_modules():
    host = PluginHost().load(["no.such.module"], discover=False)
    assert "no.such.module" in host.failures
    assert "contacts" in host.plugins


def test_two_plugins_may_both_declare_a_budget_field():
    a = make_plugin("acme", mosaic_fields=lambda: {"contact": [FieldDef("acme__budget", FieldType.DECIMAL)]})
    b = make_plugin("beta", manifest=Manifest(name="beta", version="1.0", extends=("contact",)),
                    mosaic_fields=lambda: {"contact": [FieldDef("beta__budget", FieldType.INTEGER)]})
    host = host_with(a, b)
    contact = {o.name: o for o in host.objects_for("contacts")}["contact"]
    assert contact.field("acme__budget").type is FieldType.DECIMAL
    assert contact.field("beta__budget").type is FieldType.INTEGER


def test_runtime_hooks_run_only_for_enabled_plugins():
    calls = []
    a = make_plugin("acme", mosaic_validate_record=lambda object_name: calls.append(("acme", object_name)))
    b = make_plugin("beta", manifest=Manifest(name="beta", version="1.0"),
                    mosaic_validate_record=lambda object_name: calls.append(("beta", object_name)))
    host = host_with(a, b)
    hook = host.hook("mosaic_validate_record", host.enabled(["beta", "not_installed"]))
    hook(store=None, object_name="contact", values={}, before=None)
    assert calls == [("beta", "contact")]
    assert host.enabled(["not_installed"]) == {"contacts"}
    assert not host.implements("mosaic_validate_record", host.enabled([]))
    assert host.implements("mosaic_validate_record", host.enabled(["acme"]))


def test_describe_lists_loaded_and_failed_plugins():
    host = host_with(make_plugin(), make_plugin("bad", manifest=Manifest(name="bad", version="x")))
    by_name = {p["name"]: p for p in host.describe()}
    assert by_name["acme"]["loaded"] is True and by_name["acme"]["version"] == "1.0.0"
    assert by_name["bad"]["loaded"] is False and "PEP 440" in by_name["bad"]["error"]


def test_services_consume_only_the_events_plugins_ask_for():
    assert host_with().event_patterns() == ("mosaic.no-plugin-handles-events",)
    picky = make_plugin("acme", manifest=Manifest(name="acme", version="1.0", events=("contact.created",)),
                        mosaic_handle_event=lambda event: None)
    assert host_with(picky).event_patterns() == ("contact.created",)
    greedy = make_plugin("beta", manifest=Manifest(name="beta", version="1.0"),
                         mosaic_handle_event=lambda event: None)
    assert host_with(picky, greedy).event_patterns() == ("#",)
