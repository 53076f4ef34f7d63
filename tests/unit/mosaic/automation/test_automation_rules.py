"""Rule and action definitions: what compiles, how it is normalised, and per-key errors."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from mosaic.automation import add_offset, check_offset, compile_rule, validate_actions
from mosaic.automation.templates import render
from mosaic.errors import ValidationFailed
from automation_factories import OBJECTS

CONTACT = OBJECTS["contact"]


def rule(**overrides):
    definition = {"name": "hot_lead", "object": "contact", "trigger": {"type": "created"},
                  "actions": [{"type": "set_field", "field": "source", "value": "web"}]}
    definition.update(overrides)
    return definition


def errors_of(definition) -> dict:
    with pytest.raises(ValidationFailed) as exc:
        compile_rule(definition, CONTACT, OBJECTS)
    return exc.value.errors


@pytest.mark.parametrize("trigger", [
    {"type": "created"}, {"type": "updated"}, {"type": "field_changed", "fields": ["lifecycle_stage", "email"]},
    {"type": "stage_entered", "process": "listing", "stage": "reserved"},
    {"type": "scheduled", "field": "birthday", "offset": {"days": -3}},
    {"type": "scheduled", "field": "lifecycle_changed_at", "offset": {"business_days": 2}},
])
def test_each_trigger_kind_compiles(trigger):
    compiled = compile_rule(rule(trigger=trigger), CONTACT, OBJECTS)
    assert compiled.kind == trigger["type"] and compiled.trigger == trigger
    assert compiled.definition["trigger"] == trigger


def test_defaults_and_normalised_definition():
    compiled = compile_rule(rule(condition='lifecycle_stage = "lead" and email is not null', actions=[
        {"type": "set_field", "field": "birthday", "value": "1990-02-03"},
        {"type": "notify", "to": "owner", "message": "New lead {{last_name}}"}]), CONTACT, OBJECTS)
    assert (compiled.name, compiled.label, compiled.active, compiled.order) == ("hot_lead", "hot_lead", True, 100)
    assert compiled.condition.fields == {"lifecycle_stage", "email"}
    assert [a["type"] for a in compiled.inline_actions] == ["set_field"]
    assert [a["type"] for a in compiled.queued_actions] == ["notify"]
    assert compiled.definition == {
        "name": "hot_lead", "label": "hot_lead", "object": "contact", "active": True, "order": 100,
        "trigger": {"type": "created"}, "condition": 'lifecycle_stage = "lead" and email is not null',
        "actions": [{"type": "set_field", "field": "birthday", "value": "1990-02-03"},
                    {"type": "notify", "to": "owner", "message": "New lead {{last_name}}"}]}
    # compiling the normalised form gives the same rule (what metadata export/import relies on)
    assert compile_rule(compiled.definition, CONTACT, OBJECTS).definition == compiled.definition


def test_unknown_and_missing_keys_are_named():
    errors = errors_of({"name": "x", "object": "contact", "trigger": {"type": "created"}, "actoins": []})
    assert errors == {"actoins": ["unknown key"], "actions": ["is required"]}


@pytest.mark.parametrize("overrides, key", [
    ({"name": "Bad Name"}, "name"),
    ({"object": "account"}, "object"),
    ({"active": "yes"}, "active"),
    ({"order": 1.5}, "order"),
    ({"trigger": {"type": "deleted"}}, "trigger.type"),
    ({"trigger": "created"}, "trigger"),
    ({"trigger": {"type": "created", "fields": ["email"]}}, "trigger.fields"),
    ({"trigger": {"type": "field_changed", "fields": ["nope"]}}, "trigger.fields"),
    ({"trigger": {"type": "field_changed", "fields": []}}, "trigger.fields"),
    ({"trigger": {"type": "scheduled", "field": "email", "offset": {"days": 1}}}, "trigger.field"),
    ({"trigger": {"type": "scheduled", "field": "birthday", "offset": {"weeks": 1}}}, "trigger.offset"),
    ({"trigger": {"type": "scheduled", "field": "birthday", "offset": {"days": 1.5}}}, "trigger.offset.days"),
    ({"trigger": {"type": "stage_entered", "process": "listing"}}, "trigger.stage"),
    ({"condition": "lifecycle_stage = "}, "condition"),
    ({"condition": "nmae = 'x'"}, "condition"),
    ({"actions": []}, "actions"),
    ({"actions": [{"type": "set_field", "field": "source", "value": "tv"}]}, "actions[0].value"),
])
def test_bad_definitions_name_the_key(overrides, key):
    errors = errors_of(rule(**overrides))
    assert key in errors, errors
    assert all(isinstance(m, str) and m for m in errors[key])


def test_a_condition_error_says_what_is_wrong():
    assert "nmae" in errors_of(rule(condition="nmae = 'x'"))["condition"][0]


@pytest.mark.parametrize("action, key", [
    ({"type": "explode"}, "actions[0].type"),
    ("set_field", "actions[0]"),
    ({"type": "set_field", "field": "nope", "value": 1}, "actions[0].field"),
    ({"type": "set_field", "field": "lifecycle_changed_at", "value": "2024-01-01T00:00:00Z"}, "actions[0].field"),
    ({"type": "set_field", "field": "owner_id", "value": "u1"}, "actions[0].field"),
    ({"type": "set_field", "field": "source"}, "actions[0]"),
    ({"type": "set_field", "field": "source", "value": "web", "formula": "1"}, "actions[0]"),
    ({"type": "set_field", "field": "email", "value": "not an email"}, "actions[0].value"),
    ({"type": "set_field", "field": "source", "value": "web", "colour": "red"}, "actions[0].colour"),
    ({"type": "assign_owner", "strategy": "random", "users": ["a"]}, "actions[0].strategy"),
    ({"type": "assign_owner", "strategy": "round_robin", "users": []}, "actions[0].users"),
    ({"type": "assign_owner", "strategy": "round_robin", "users": ["a", "a"]}, "actions[0].users"),
    ({"type": "assign_owner", "strategy": "territory", "field": "nope", "territories": {"x": "u"}},
     "actions[0].field"),
    ({"type": "assign_owner", "strategy": "territory", "field": "address_city", "territories": {}},
     "actions[0].territories"),
    ({"type": "create_activity", "activity_type": "fax"}, "actions[0].activity_type"),
    ({"type": "create_activity", "activity_type": "call", "subject": "Call {{frist_name}}"}, "actions[0].subject"),
    ({"type": "create_task", "subject": ""}, "actions[0].subject"),
    ({"type": "create_task", "subject": "x", "due": {"days": -1}}, "actions[0].due.days"),
    ({"type": "notify", "to": "everyone", "message": "hi"}, "actions[0].to"),
    ({"type": "notify", "to": "owner"}, "actions[0].message"),
    ({"type": "webhook", "url": "ftp://example.org/x"}, "actions[0].url"),
    ({"type": "webhook", "url": "http://127.0.0.1:9/x", "secret": ""}, "actions[0].secret"),
    ({"type": "emit_event", "event": "Hot Lead"}, "actions[0].event"),
    ({"type": "emit_event", "event": "created"}, "actions[0].event"),
    ({"type": "transition", "to": ""}, "actions[0].to"),
])
def test_bad_actions_name_the_key(action, key):
    with pytest.raises(ValidationFailed) as exc:
        validate_actions([action], CONTACT, OBJECTS, "actions")
    assert key in exc.value.errors, exc.value.errors


def test_every_action_kind_validates_and_values_are_normalised():
    actions = [
        {"type": "set_field", "field": "email", "value": "Ann@EXAMPLE.org"},
        {"type": "set_field", "field": "birthday", "formula": "TODAY()"},
        {"type": "assign_owner", "strategy": "round_robin", "users": ["u1", "u2"]},
        {"type": "assign_owner", "strategy": "territory", "field": "address_city",
         "territories": {"Berlin": "u1", "Munich": "u2"}, "default": "u3"},
        {"type": "create_activity", "activity_type": "call", "subject": "Call {{first_name}}"},
        {"type": "create_task", "subject": "Follow up {{last_name}}", "due": {"days": 2.0}},
        {"type": "notify", "to": "role:manager", "message": "{{last_name}} is hot"},
        {"type": "webhook", "url": "http://127.0.0.1:8080/hook", "secret": "s3cr3t"},
        {"type": "emit_event", "event": "hot_lead"},
        {"type": "transition", "to": "available"},
    ]
    out = validate_actions(actions, CONTACT, OBJECTS, "stages[1].on_enter")
    assert out[0]["value"] == "Ann@example.org"
    assert out[5]["due"] == {"days": 2}
    assert actions[5]["due"] == {"days": 2.0}  # the caller's definition is not changed


def test_set_field_formulas_are_type_checked_against_the_field():
    pytest.importorskip("mosaic.formulas")
    ok = validate_actions([{"type": "set_field", "field": "title", "formula": "UPPER(last_name) & '!'"}],
                          CONTACT, OBJECTS, "actions")
    assert ok[0]["formula"] == "UPPER(last_name) & '!'"
    for formula, key in [("ADD_DAYS(", "actions[0].formula"), ("LEN(last_name)", "actions[0].formula"),
                         ("nope + 1", "actions[0].formula")]:
        with pytest.raises(ValidationFailed) as exc:
            validate_actions([{"type": "set_field", "field": "title", "formula": formula}], CONTACT, OBJECTS, "actions")
        assert key in exc.value.errors and exc.value.errors[key][0]


def test_errors_carry_the_callers_path_and_all_problems_at_once():
    with pytest.raises(ValidationFailed) as exc:
        validate_actions([{"type": "notify", "to": "x", "message": ""}, {"type": "nope"}], CONTACT, OBJECTS,
                         "stages[2].on_enter")
    assert set(exc.value.errors) == {"stages[2].on_enter[0].message", "stages[2].on_enter[0].to",
                                     "stages[2].on_enter[1].type"}
    with pytest.raises(ValidationFailed) as exc:
        validate_actions({"type": "notify"}, CONTACT, OBJECTS, "actions")
    assert exc.value.errors == {"actions": ["must be a list of actions"]}


def test_templates_render_values_and_blank_for_missing():
    values = {"first_name": "Ann", "birthday": date(1990, 2, 3), "tags": ["vip", "b2b"], "last_name": None}
    assert render("Hi {{first_name}} {{ last_name }}({{birthday}}) [{{tags}}] {{nope}}", values) == \
        "Hi Ann (1990-02-03) [vip, b2b] "


def test_offsets_days_hours_and_business_days():
    friday = datetime(2024, 5, 10, 15, 0, tzinfo=timezone.utc)
    assert add_offset(friday, {"days": 2}) == datetime(2024, 5, 12, 15, 0, tzinfo=timezone.utc)
    assert add_offset(friday, {"hours": -3}) == datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)
    assert add_offset(friday, {"business_days": 1}) == datetime(2024, 5, 13, 15, 0, tzinfo=timezone.utc)
    assert add_offset(friday, {"business_days": 6}) == datetime(2024, 5, 20, 15, 0, tzinfo=timezone.utc)
    assert add_offset(date(2024, 5, 13), {"business_days": -1}) == datetime(2024, 5, 10, tzinfo=timezone.utc)
    saturday = datetime(2024, 5, 11, 8, 0, tzinfo=timezone.utc)
    assert add_offset(saturday, {"business_days": 1}) == datetime(2024, 5, 14, 8, 0, tzinfo=timezone.utc)
    assert check_offset({"days": 1, "hours": 2}, "due")[1] == {
        "due": ["must be an object with exactly one of days, hours, business_days"]}


@pytest.mark.parametrize("action", [
    {"type": "create_task", "subject": "Call"},
    {"type": "create_activity", "activity_type": "call"},
])
def test_activities_are_refused_where_the_service_has_none(action):
    """A rule on an object of a service without activities is refused when saved, not skipped
    when it fires."""
    without = {k: v for k, v in OBJECTS.items() if k != "activity"}
    with pytest.raises(ValidationFailed) as exc:
        validate_actions([action], CONTACT, without, "actions")
    assert "has no activities" in exc.value.errors["actions[0].type"][0]
    assert validate_actions([action], CONTACT, OBJECTS, "actions")  # where there are, it passes
