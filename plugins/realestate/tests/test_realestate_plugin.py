"""The plugin loads in a fresh host with no failures, declares what it should within its
namespace, and every definition it ships compiles against the objects a tenant with it sees."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
from flask import Blueprint

from mosaic.automation.rules import compile_rule
from mosaic.filters import parse
from mosaic.formulas import parse_formula
from mosaic.metadata.fields import FieldType
from mosaic.plugins import PluginHost
from mosaic.plugins.visibility import visible_objects
from mosaic.processes.definitions import compile_process
from mosaic.validation import compile_validation_rule
from mosaic_realestate import plugin
from mosaic_realestate.logic import CONTRACT_GUARD_MESSAGE, EXPIRY_MESSAGE


@pytest.fixture(scope="module")
def loaded() -> PluginHost:
    return PluginHost().load(["mosaic_realestate.plugin"], discover=False)


@pytest.fixture(scope="module")
def objects(loaded):
    """The contacts service's objects as a tenant with the plugin sees them."""
    return visible_objects({o.name: o for o in loaded.objects_for("contacts")}, frozenset({"contacts", "realestate"}))


def test_loads_without_failures(loaded):
    assert loaded.failures == {}
    assert set(loaded.plugins) == {"contacts", "realestate"}
    m = loaded.plugins["realestate"].manifest
    assert (m.name, m.version, m.core, m.modules, m.extends) == ("realestate", "1.0.0", ">=0.2,<1",
                                                                  ("contacts",), ("contact",))


def test_declares_its_objects_and_contact_fields(loaded, objects):
    prop, viewing, contact = objects["realestate__property"], objects["realestate__viewing"], objects["contact"]
    assert (prop.kind, prop.namespace, prop.service, prop.path, prop.title_field) == (
        "plugin", "realestate", "contacts", "realestate__properties", "title")
    assert viewing.path == "realestate__viewings"
    assert {f.name for f in prop.fields} >= {"id", "version", "owner_id", "title", "address", "district", "type",
                                             "area_m2", "rooms", "price", "commission_rate", "commission",
                                             "status", "listing_agent", "positive_viewings", "description"}
    assert prop.field("status").choices == ("available", "reserved", "under_contract", "sold")
    assert len(prop.field("district").choices) == 8
    assert prop.field("price").indexed and prop.field("district").indexed
    assert prop.field("commission").type is FieldType.FORMULA and prop.field("commission").formula_type == "decimal"
    assert prop.field("positive_viewings").read_only and prop.field("positive_viewings").default == 0
    assert prop.field("commission_rate").default == 3
    assert viewing.field("property_id").lookup == "realestate__property" and viewing.field("property_id").required
    assert viewing.field("contact_id").lookup == "contact" and viewing.field("scheduled_at").required
    assert viewing.field("outcome").default == "pending"
    added = {f.name: f for f in contact.fields if f.namespace == "realestate"}
    assert set(added) == {"realestate__budget_min", "realestate__budget_max", "realestate__districts",
                          "realestate__rooms_min", "realestate__purpose"}
    assert added["realestate__districts"].choices == prop.field("district").choices


def test_a_tenant_without_the_plugin_sees_none_of_it(loaded):
    objects = visible_objects({o.name: o for o in loaded.objects_for("contacts")}, frozenset({"contacts"}))
    assert "realestate__property" not in objects and "realestate__viewing" not in objects
    assert not any(f.name.startswith("realestate__") for f in objects["contact"].fields)


def test_commission_formula_type_checks(objects):
    prop = objects["realestate__property"]
    formula = parse_formula(prop.field("commission").formula, {f.name: f for f in prop.fields})
    assert formula.result_type == "decimal"
    now = datetime(2024, 5, 8, tzinfo=timezone.utc)
    assert formula.evaluate({"price": 400000.0, "commission_rate": 3.0}, now) == 12000.0
    assert formula.evaluate({"price": None, "commission_rate": 3.0}, now) is None


def test_declarations_are_tagged_and_namespaced(loaded):
    d = loaded.declarations
    for items in (d.processes, d.automation_rules, d.validation_rules, d.analytics_metrics):
        assert items and all(i["plugin"] == "realestate" and i["name"].startswith("realestate__") for i in items)
    metrics = {m["name"]: m for m in d.analytics_metrics}
    assert metrics["realestate__listings_by_status"] == {
        "name": "realestate__listings_by_status", "label": "Listings by status", "object": "realestate__property",
        "aggregate": "count", "group_by": "status", "plugin": "realestate"}
    assert metrics["realestate__avg_price_by_district"]["aggregate"] == "avg"


def test_listing_process_compiles(loaded, objects):
    (definition,) = loaded.declarations.processes
    p = compile_process(definition, objects["realestate__property"], objects)
    assert (p.name, p.field, p.initial) == ("realestate__listing", "status", "available")
    assert [t.name for t in p.transitions] == ["reserve", "contract", "sell", "release"]
    contract = p.find(name="contract", from_="reserved")
    assert contract.to == "under_contract" and contract.guard_message == CONTRACT_GUARD_MESSAGE
    assert str(contract.guard) == "positive_viewings > 0"
    assert p.find(to="available", from_="under_contract").name == "release"
    (timer,) = p.stage("reserved").timers
    assert timer.name == "expire" and timer.after == {"days": 7}
    assert [a["type"] for a in timer.actions] == ["transition", "notify"]
    assert timer.actions[1] == {"type": "notify", "to": "owner", "message": EXPIRY_MESSAGE}
    assert p.stage("sold").final and p.definition["plugin"] == "realestate"


def test_rules_and_validation_rules_compile(loaded, objects):
    for definition in loaded.declarations.automation_rules:
        rule = compile_rule(definition, objects[definition["object"]], objects)
        assert rule.actions and rule.plugin == "realestate"
    (vr,) = loaded.declarations.validation_rules
    rule = compile_validation_rule(vr, objects["realestate__property"], objects)
    assert rule.error_key == "price" and rule.condition.fields == {"price", "area_m2"}


def test_metrics_name_real_fields(loaded, objects):
    for m in loaded.declarations.analytics_metrics:
        obj = objects[m["object"]]
        for key in ("field", "group_by"):
            if key in m:
                assert obj.field(m[key]) is not None, (m["name"], key)
        if "filter" in m:
            parse(m["filter"], {f.name: f for f in obj.fields})


def test_gateway_routes_are_a_blueprint_with_the_matches_route():
    from flask import Flask

    bp = plugin.mosaic_gateway_routes()
    assert isinstance(bp, Blueprint) and bp.name == "realestate"
    app = Flask("t")
    app.register_blueprint(bp, url_prefix="/api/v1/x/realestate")
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert "/api/v1/x/realestate/contacts/<contact_id>/matches" in rules


def test_a_plugin_outside_its_namespace_is_refused():
    """The host's namespace rule holds for what this plugin declares (a guard for copies of it)."""
    import types

    from mosaic_realestate.objects import PROPERTY_OBJECT

    rogue = types.ModuleType("rogue")
    rogue.MANIFEST = replace(plugin.MANIFEST, name="rogue")
    rogue.mosaic_objects = plugin.mosaic_objects
    h = PluginHost().load([rogue], discover=False)
    assert "rogue" in h.failures and PROPERTY_OBJECT.name in h.failures["rogue"]
