"""mosaic.validation: compiling validation rule definitions, and ValidationStep in the write
pipeline (with a tiny fake store: its ``logic`` and clock)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from mosaic.errors import ValidationFailed
from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.records.pipeline import Write
from mosaic.validation import ValidationStep, compile_validation_rule

NOW = datetime(2024, 5, 15, 10, 30, tzinfo=timezone.utc)
PROPERTY = ObjectDef("realestate__property", "Property", "contacts", SYSTEM_FIELDS + (
    FieldDef("price", FieldType.MONEY), FieldDef("area", FieldType.DECIMAL),
    FieldDef("title", FieldType.TEXT), FieldDef("listed_on", FieldType.DATE),
    FieldDef("per_m2", FieldType.FORMULA, formula="price.amount / area", formula_type="decimal"),
), kind="plugin")
OBJECTS = {PROPERTY.name: PROPERTY}


def make_rule_def(**overrides) -> dict:
    """A rule definition for the property object; ``key=None`` removes a key."""
    definition = {"name": "positive_price", "object": PROPERTY.name,
                  "condition": "price > 0 and area > 0", "message": "Price and area must be positive.",
                  "field": "price", "active": True}
    definition.update(overrides)
    return {k: v for k, v in definition.items() if v is not None}


def problems(**overrides) -> dict:
    with pytest.raises(ValidationFailed) as exc:
        compile_validation_rule(make_rule_def(**overrides), PROPERTY, OBJECTS)
    return exc.value.errors


def test_a_rule_compiles_with_its_normalised_definition():
    rule = compile_validation_rule(make_rule_def(object=None, active=None), PROPERTY, OBJECTS)
    assert (rule.name, rule.object, rule.field, rule.active) == (
        "positive_price", PROPERTY.name, "price", True)
    assert rule.condition.fields == {"price", "area"}
    assert rule.definition == make_rule_def()
    assert rule.error_key == "price"
    plain = compile_validation_rule(make_rule_def(field=None, plugin="realestate"), PROPERTY, OBJECTS)
    assert plain.error_key == "_record" and plain.definition["plugin"] == "realestate"


def test_every_problem_is_reported_under_its_key():
    errors = problems(name="Bad Name", object="contact", condition="prise > 0", message="",
                      field="nope", active="yes", colour="red")
    assert set(errors) == {"name", "object", "condition", "message", "field", "active", "colour"}
    assert errors["colour"] == ["Unknown key."]
    assert "unknown field 'prise' (did you mean price?)" in errors["condition"][0]


@pytest.mark.parametrize("overrides, key", [
    ({"condition": None}, "condition"), ({"condition": "  "}, "condition"),
    ({"condition": "price >"}, "condition"), ({"condition": 'area = "x"'}, "condition"),
    ({"message": None}, "message"), ({"message": "x" * 501}, "message"), ({"message": 5}, "message"),
    ({"name": None}, "name"), ({"field": 3}, "field"), ({"plugin": 1}, "plugin"),
])
def test_bad_values(overrides, key):
    assert key in problems(**overrides)


def test_a_definition_must_be_an_object():
    with pytest.raises(ValidationFailed) as exc:
        compile_validation_rule(["x"], PROPERTY, OBJECTS)
    assert "_schema" in exc.value.errors


def test_conditions_may_use_typed_formula_fields():
    rule = compile_validation_rule(make_rule_def(condition="per_m2 < 20000"), PROPERTY, OBJECTS)
    assert rule.condition.fields == {"per_m2"}


class FakeLogic:
    def __init__(self, rules):
        self.rules = rules

    def validation_rules(self, obj_name):
        return [r for r in self.rules if r.object == obj_name]


class FakeStore:
    """What ValidationStep uses of a RecordStore: ``logic`` and the clock."""

    def __init__(self, *definitions):
        self.logic = FakeLogic([compile_validation_rule(d, PROPERTY, OBJECTS) for d in definitions])

    def now(self):
        return NOW


def write(values: dict, before: dict | None = None) -> Write:
    return Write(obj=PROPERTY, action="update" if before else "create", before=before, values=values)


def run(store, w: Write) -> dict | None:
    try:
        ValidationStep().before_write(store, w)
    except ValidationFailed as exc:
        assert exc.detail == "Record is invalid."
        return exc.errors
    return None


PRICE = {"amount": 100.0, "currency": "EUR"}


def test_a_false_condition_refuses_the_write_with_every_message():
    store = FakeStore(
        make_rule_def(),
        make_rule_def(name="has_title", condition="title is not null", message="A title is needed.",
                      field=None),
        make_rule_def(name="recent", condition="listed_on after 2020-01-01", message="Too old.",
                      field="listed_on"),
        make_rule_def(name="area_again", condition="area > 0", message="Price and area must be positive."))
    errors = run(store, write({"price": PRICE, "area": 0.0, "listed_on": date(2019, 1, 1)}))
    assert errors == {"price": ["Price and area must be positive."], "_record": ["A title is needed."],
                      "listed_on": ["Too old."]}


def test_the_record_as_it_will_be_saved_is_checked():
    store = FakeStore(make_rule_def())
    before = {"price": PRICE, "area": 50.0}
    assert run(store, write({"area": 60.0}, before)) is None
    assert run(store, write({"area": -1.0}, before)) == {"price": ["Price and area must be positive."]}


def test_an_unknown_condition_passes_like_an_sql_check():
    store = FakeStore(make_rule_def())
    assert run(store, write({"price": PRICE})) is None  # area is null: unknown, not false
    assert run(store, write({})) is None


def test_relative_dates_use_the_stores_clock():
    store = FakeStore(make_rule_def(condition="listed_on within last 30 days", message="Stale.",
                                    field="listed_on"))
    assert run(store, write({"listed_on": date(2024, 5, 1)})) is None
    assert run(store, write({"listed_on": date(2024, 3, 1)})) == {"listed_on": ["Stale."]}


def test_inactive_rules_and_rules_of_other_objects_are_ignored():
    store = FakeStore(make_rule_def(active=False))
    assert run(store, write({"price": PRICE, "area": -1.0})) is None


def test_no_rules_costs_nothing():
    class NoClock:
        logic = FakeLogic([])

        def now(self):
            raise AssertionError("the clock is not needed without rules")

    assert run(NoClock(), write({"area": -1.0})) is None


def test_formula_values_computed_before_are_checked():
    store = FakeStore(make_rule_def(condition="per_m2 < 20000", message="Too dear.", field=None))
    assert run(store, write({"price": PRICE, "area": 10.0, "per_m2": 10.0})) is None
    assert run(store, write({"per_m2": 25000.0})) == {"_record": ["Too dear."]}
