"""A tenant's logic end to end on SQLite: what a plugin declares (objects, fields, validation
rules, metrics) and its write hooks apply only to tenants that enabled it; what a tenant admin
defines applies from the next write; everything runs through the one record engine."""
from __future__ import annotations

import types

import pytest

from mosaic.context import RequestContext
from mosaic.db import Base, make_engine, tenant_session
from mosaic.db.migrate import load_models, owned_tables
from mosaic.errors import NotFound, ValidationFailed
from mosaic.logic.definitions import delete_definition, list_definitions, put_definition
from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.metadata.registry import ObjectRegistry
from mosaic.metadata.schema_factory import clear_schema_cache
from mosaic.plugins import Manifest, PluginHost, hookimpl, set_host
from mosaic.records.provider import build_store
from mosaic_contacts.behaviours import build_behaviours

SAVED: list[tuple] = []


def acme_plugin():
    module = types.ModuleType("acme_plugin")
    module.MANIFEST = Manifest(name="acme", version="1.0.0", extends=("contact",))

    @hookimpl
    def mosaic_objects():
        return [ObjectDef(name="acme__gadget", label="Gadget", service="contacts", title_field="title",
                          fields=SYSTEM_FIELDS + (FieldDef("title", FieldType.TEXT, "Title"),
                                                  FieldDef("weight", FieldType.DECIMAL, "Weight")))]

    @hookimpl
    def mosaic_fields():
        return {"contact": [FieldDef("acme__rating", FieldType.INTEGER, "Rating")]}

    @hookimpl
    def mosaic_validation_rules():
        return [{"name": "acme__positive_weight", "object": "acme__gadget", "condition": "weight > 0",
                 "message": "Weight must be positive.", "field": "weight"}]

    @hookimpl
    def mosaic_analytics_metrics():
        return [{"name": "acme__gadgets", "label": "Gadgets", "object": "acme__gadget", "aggregate": "count"}]

    @hookimpl
    def mosaic_validate_record(object_name, values):
        if object_name == "acme__gadget" and values.get("title") == "forbidden":
            return {"title": ["this title is forbidden by acme"]}
        return None

    @hookimpl
    def mosaic_record_saved(store, object_name, record, before, action):
        SAVED.append((store.ctx.tenant_id, object_name, record.get("title"), before is None, action))

    for fn in (mosaic_objects, mosaic_fields, mosaic_validation_rules, mosaic_analytics_metrics,
               mosaic_validate_record, mosaic_record_saved):
        setattr(module, fn.__name__, fn)
    return module


@pytest.fixture
def host():
    h = PluginHost().load(discover=False)
    h.add(acme_plugin())
    assert h.failures == {}
    set_host(h)
    SAVED.clear()
    yield h
    set_host(None)


@pytest.fixture
def engine(tmp_path):
    load_models()
    eng = make_engine(f"sqlite:///{tmp_path / 'contacts.db'}", "contacts")
    Base.metadata.create_all(eng, tables=[Base.metadata.tables[t] for t in owned_tables("contacts")])
    clear_schema_cache()
    yield eng
    eng.dispose()


@pytest.fixture
def store_for(engine, host):
    registry = ObjectRegistry("contacts", host.objects_for("contacts"))
    sessions = []

    def make(tenant="t1", plugins=("acme",), roles=("admin",)):
        session = tenant_session(engine, tenant)
        sessions.append(session)
        ctx = RequestContext(tenant_id=tenant, user_id="u1", roles=roles, modules=("contacts",), plugins=plugins)
        return build_store(session, registry, ctx, module="contacts", behaviours=build_behaviours(), max_age=0)

    yield make
    for s in sessions:
        s.close()


def test_plugin_declarations_apply_only_where_enabled(store_for, host):
    with_plugin = store_for()
    gadget = with_plugin.create("acme__gadget", {"title": "Widget", "weight": 2})
    assert gadget["title"] == "Widget"
    assert with_plugin.create("contact", {"last_name": "Ray", "acme__rating": 4})["acme__rating"] == 4
    with_plugin.session.commit()
    without = store_for(tenant="t2", plugins=())
    with pytest.raises(NotFound):
        without.create("acme__gadget", {"title": "Nope"})
    with pytest.raises(ValidationFailed) as err:
        without.create("contact", {"last_name": "Ray", "acme__rating": 4})
    assert "acme__rating" in err.value.errors
    assert without.logic.validation_rules("acme__gadget") == []
    metrics = host.declarations.analytics_metrics
    assert metrics == [{"name": "acme__gadgets", "label": "Gadgets", "object": "acme__gadget",
                        "aggregate": "count", "plugin": "acme"}]


def test_plugin_validation_rule_and_validate_hook_refuse_writes(store_for):
    store = store_for()
    with pytest.raises(ValidationFailed) as err:
        store.create("acme__gadget", {"title": "Heavy", "weight": -1})
    assert err.value.errors == {"weight": ["Weight must be positive."]}
    with pytest.raises(ValidationFailed) as err:
        store.create("acme__gadget", {"title": "forbidden", "weight": 1})
    assert err.value.errors == {"title": ["this title is forbidden by acme"]}


def test_record_saved_hook_sees_every_write_of_tenants_with_the_plugin(store_for):
    store = store_for()
    gadget = store.create("acme__gadget", {"title": "One", "weight": 1})
    store.update("acme__gadget", gadget["id"], {"title": "Two"})
    assert SAVED == [("t1", "acme__gadget", "One", True, "create"), ("t1", "acme__gadget", "Two", False, "update")]
    store.session.commit()  # SQLite's single pooled connection goes back before the next store
    SAVED.clear()
    store_for(tenant="t2", plugins=()).create("contact", {"last_name": "Quiet"})
    assert SAVED == []


def test_tenant_defined_rules_apply_from_the_next_write(store_for):
    admin = store_for()
    stored = put_definition(admin.session, admin.objects, "validation_rule",
                            {"name": "named", "object": "contact", "condition": "last_name is not null",
                             "message": "A last name is needed."})
    assert stored["name"] == "named"
    admin.session.commit()
    store = store_for()
    assert [r.name for r in store.logic.validation_rules("contact")] == ["named"]
    with pytest.raises(ValidationFailed) as err:
        store.create("contact", {"first_name": "Only", "email": "only@example.com"})
    assert "A last name is needed." in str(err.value.errors)
    assert [r.name for r in list_definitions(store.session, "validation_rule")] == ["named"]
    delete_definition(store.session, "validation_rule", "named")
    store.session.commit()
    assert store_for().logic.validation_rules("contact") == []


def test_bad_definitions_are_refused_with_clear_errors(store_for):
    store = store_for()
    with pytest.raises(ValidationFailed) as err:
        put_definition(store.session, store.objects, "validation_rule", {"name": "x", "object": "nope"})
    assert err.value.errors == {"object": ["no such object in this tenant"]}
    with pytest.raises(ValidationFailed) as err:
        put_definition(store.session, store.objects, "validation_rule",
                       {"name": "acme__mine", "object": "contact", "condition": "true", "message": "m"})
    assert "name" in err.value.errors
    with pytest.raises(NotFound):
        delete_definition(store.session, "validation_rule", "never_defined")


def test_rules_must_fit_the_objects_processes(store_for):
    from mosaic_contacts.objects import LIFECYCLE

    store = store_for()
    put_definition(store.session, store.objects, "process",
                   {"name": "life", "object": "contact", "field": "lifecycle_stage", "initial": "subscriber",
                    "stages": [{"name": s} for s in LIFECYCLE],
                    "transitions": [{"name": "promote", "from": ["subscriber"], "to": "lead"}]})
    store.session.commit()
    store = store_for()
    processes = store.logic.processes("contact")
    assert [p.name for p in processes] == ["life"]

    def rule(trigger, actions=({"type": "notify", "to": "owner", "message": "moved"},)):
        return {"name": "on_stage", "object": "contact", "trigger": trigger, "actions": list(actions)}

    cases = [
        (rule({"type": "stage_entered", "process": "nope", "stage": "lead"}), "trigger.process"),
        (rule({"type": "stage_entered", "process": "life", "stage": "nope"}), "trigger.stage"),
        (rule({"type": "created"}, [{"type": "set_field", "field": "lifecycle_stage", "value": "lead"}]),
         "actions[0].field"),
    ]
    for definition, key in cases:
        with pytest.raises(ValidationFailed) as err:
            put_definition(store.session, store.objects, "automation_rule", definition, processes=processes)
        assert key in err.value.errors, err.value.errors
    ok = put_definition(store.session, store.objects, "automation_rule",
                        rule({"type": "stage_entered", "process": "life", "stage": "lead"}), processes=processes)
    assert ok["trigger"]["stage"] == "lead"


def test_a_step_is_active_only_where_it_has_work(store_for):
    """Bulk paths (imports) depend on this: a tenant with nothing configured keeps them."""
    plain = store_for(tenant="t3", plugins=())
    assert not any(step.active(plain, plain.obj("contact")) for step in plain.steps)
    assert not plain.pipeline_active(plain.obj("contact"))
    plain.session.commit()  # SQLite's single pooled connection goes back before the next store
    with_plugin = store_for()
    gadget = with_plugin.obj("acme__gadget")
    active = {type(step).__name__ for step in with_plugin.steps if step.active(with_plugin, gadget)}
    assert active == {"ValidationStep", "PluginStep"}  # acme's validation rule and write hooks
