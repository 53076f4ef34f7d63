"""mosaic.metadata.definitions: admins' field and object definitions checked before storage."""
from __future__ import annotations

import pytest
from metadata_factories import make_widget_object
from mosaic.errors import Conflict, ValidationFailed
from mosaic.metadata import (FieldDef, FieldType, validate_field, validate_field_change,
                             validate_object)
from mosaic.metadata.definitions import field_to_definition

KNOWN = {"widget", "account"}


def make_def(**overrides):
    """An API field definition; text ``region`` unless overridden."""
    return {"name": "region", "type": "text", **overrides}


def check(**overrides) -> FieldDef:
    return validate_field(make_def(**overrides), make_widget_object(), KNOWN)


def problems(obj=None, **overrides) -> dict:
    with pytest.raises(ValidationFailed) as exc:
        validate_field(make_def(**overrides), obj or make_widget_object(), KNOWN)
    return exc.value.errors


def test_a_valid_definition_becomes_a_custom_json_field():
    fdef = check(label="Sales region", required=True, indexed=True, help_text="Where",
                 max_length=20, pattern="[A-Z]{2}")
    assert fdef == FieldDef("region", FieldType.TEXT, "Sales region", required=True,
                            indexed=True, help_text="Where", max_length=20, pattern="[A-Z]{2}",
                            storage="json", custom=True)
    assert check().label == "Region"
    assert check(name="annual_revenue", type="decimal").label == "Annual revenue"


@pytest.mark.parametrize("name", ["Region", "1st", "has space", "x" * 64, "", None, 5, "a-b"])
def test_names_must_match_name_re(name):
    assert "name" in problems(name=name)


@pytest.mark.parametrize("name", ["plugin__x", "tenant_id", "custom", "data", "object"])
def test_reserved_names(name):
    assert "name" in problems(name=name)


def test_names_of_system_core_and_custom_fields_are_taken():
    assert "system field" in problems(name="created_at")["name"][0]
    assert "core field" in problems(name="name")["name"][0]
    obj = make_widget_object().with_fields([check()])
    with pytest.raises(Conflict):
        validate_field(make_def(type="integer"), obj, KNOWN)


def test_type_must_be_known():
    assert "type" in problems(type="colour")


def widget_with(*fields: FieldDef):
    """The widget object with extra custom fields."""
    return make_widget_object().with_fields(list(fields))


def test_a_formula_field_is_type_checked_and_its_result_type_inferred():
    obj = widget_with(FieldDef("qty", FieldType.INTEGER, custom=True),
                      FieldDef("price", FieldType.MONEY, custom=True))
    fdef = validate_field(make_def(name="total", type="formula", formula="qty * price.amount"),
                          obj, KNOWN)
    assert (fdef.type, fdef.formula, fdef.formula_type) == (FieldType.FORMULA, "qty * price.amount",
                                                            "decimal")
    assert fdef.storage == "json" and fdef.custom
    label = validate_field(make_def(name="tag", type="formula", formula='UPPER(name) & "!"'),
                           obj, KNOWN)
    assert label.formula_type == "text"
    assert field_to_definition(fdef) == {"name": "total", "type": "formula", "label": "Total",
                                         "formula": "qty * price.amount", "formula_type": "decimal"}


def test_a_declared_formula_type_is_checked():
    obj = widget_with(FieldDef("qty", FieldType.INTEGER, custom=True))
    assert validate_field(make_def(type="formula", formula="qty + 1", formula_type="decimal"),
                          obj, KNOWN).formula_type == "decimal"  # an integer widens
    errors = problems(obj, type="formula", formula="qty + 1", formula_type="text")
    assert "formula_type is text but the formula gives integer" in errors["formula"][0]
    assert "formula_type" in problems(obj, type="formula", formula="qty", formula_type="money")


def test_formula_problems_name_the_position():
    assert problems(type="formula", formula="nmae & 'x'")["formula"] == [
        "unknown field 'nmae' (did you mean name?) at position 1"]
    assert "at position 6" in problems(type="formula", formula="name + 1")["formula"][0]
    assert "formula" in problems(type="formula")
    assert "formula" in problems(type="formula", formula="   ")
    assert "formula" in problems(type="formula", formula="1 +")


def test_options_that_make_no_sense_on_a_formula_are_refused():
    errors = problems(type="formula", formula="1", required=True, unique=True, default="x",
                      choices=["a"], max_length=3)
    assert set(errors) == {"required", "unique", "default", "choices", "max_length"}
    assert "formula" in problems(type="text", formula="1")
    assert "formula_type" in problems(type="integer", formula_type="integer")
    assert "indexed" in problems(type="formula", formula="name", indexed=True)  # text: unbounded
    assert check(type="formula", formula="LEN(name)", indexed=True).indexed


def test_a_formula_may_not_refer_to_itself_or_close_a_cycle():
    assert "refers to its own field" in problems(type="formula", formula="region + 1")["formula"][0]
    a = FieldDef("a", FieldType.FORMULA, custom=True, formula="b + 1", formula_type="integer")
    b = FieldDef("b", FieldType.FORMULA, custom=True, formula="1", formula_type="integer")
    obj = widget_with(a, b)
    with pytest.raises(ValidationFailed) as exc:
        validate_field_change(b, {"formula": "a * 2"}, obj, KNOWN)
    assert "depend on each other" in exc.value.errors["formula"][0]


def test_changing_a_formula_re_infers_its_type_and_rechecks_dependents():
    a = FieldDef("a", FieldType.FORMULA, custom=True, formula="b + 1", formula_type="integer")
    b = FieldDef("b", FieldType.FORMULA, custom=True, formula="1", formula_type="integer")
    obj = widget_with(a, b)
    lone = FieldDef("c", FieldType.FORMULA, custom=True, formula="1", formula_type="integer")
    assert validate_field_change(lone, {"formula": "2.5"}, widget_with(lone),
                                 KNOWN).formula_type == "decimal"
    assert validate_field_change(b, {"formula": "LEN(name)"}, obj, KNOWN).formula == "LEN(name)"
    with pytest.raises(ValidationFailed) as exc:
        validate_field_change(b, {"formula": "2.5"}, obj, KNOWN)  # a = b + 1 is stored as integer
    [message] = exc.value.errors["formula"]
    assert message.startswith("the formula of 'a' no longer works: formula_type is integer")


def test_a_new_objects_formulas_may_read_any_of_its_fields():
    obj = check_object(fields=[
        {"name": "name", "type": "text"},
        {"name": "shout", "type": "formula", "formula": "UPPER(name) & suffix"},
        {"name": "size", "type": "formula", "formula": "LEN(shout) * 2"},
        {"name": "suffix", "type": "text"}])
    assert obj.field("shout").formula_type == "text"
    assert obj.field("size").formula_type == "integer"
    errors = object_problems(fields=[{"name": "name", "type": "text"},
                                     {"name": "x", "type": "formula", "formula": "y"},
                                     {"name": "y", "type": "formula", "formula": "x"}])
    assert set(errors) == {"fields.1.formula", "fields.2.formula"}
    errors = object_problems(fields=[{"name": "name", "type": "text"},
                                     {"name": "x", "type": "formula", "formula": "name * 2"}])
    assert list(errors) == ["fields.1.formula"]


def test_unknown_keys_are_refused():
    assert problems(colour="red", read_only=True) == {"colour": ["Unknown key."],
                                                      "read_only": ["Unknown key."]}


def test_picklists_need_unique_non_empty_choices():
    assert check(type="picklist", choices=[" a", "b "]).choices == ("a", "b")
    assert "choices" in problems(type="picklist")
    assert "choices" in problems(type="multi_picklist", choices=[])
    assert "choices" in problems(type="picklist", choices=["a", "a"])
    assert "choices" in problems(type="picklist", choices=["a", " "])
    assert "choices" in problems(type="picklist", choices=["a", 3])
    assert "choices" in problems(type="picklist", choices="a,b")
    assert "choices" in problems(type="text", choices=["a"])


def test_patterns_compile_and_stay_short():
    assert "Not a valid regular expression" in problems(pattern="([a-z")["pattern"][0]
    assert "pattern" in problems(pattern="a" * 501)
    assert "pattern" in problems(type="integer", pattern="\\d+")


def test_bounds_are_ordered_and_numeric():
    assert check(type="integer", min_value=1, max_value=1).min_value == 1
    assert "min_value" in problems(type="integer", min_value=5, max_value=1)
    assert "min_length" in problems(min_length=5, max_length=1)
    assert "max_value" in problems(type="decimal", max_value="10")
    assert "max_value" in problems(type="decimal", max_value=True)
    assert "max_length" in problems(max_length=-1)
    assert "max_length" in problems(max_length=256)  # beyond the text cap
    assert "min_value" in problems(type="text", min_value=1)


def test_defaults_must_be_valid_for_the_field_and_are_stored_in_json_form():
    assert check(type="integer", default=5, max_value=10).default == 5
    assert check(type="date", default="2024-01-31").default == "2024-01-31"
    assert check(type="datetime", default="2024-01-31T10:00:00+01:00").default == \
        "2024-01-31T09:00:00.000000+00:00"
    assert check(type="picklist", choices=["a"], default="a").default == "a"
    assert "default" in problems(type="integer", default=11, max_value=10)
    assert "default" in problems(type="picklist", choices=["a"], default="b")
    assert "default" in problems(type="money", default={"amount": 1})  # no currency anywhere
    assert check(type="money", currency="EUR", default={"amount": 1}).default == \
        {"amount": 1.0, "currency": "EUR"}


def test_lookups_name_a_known_object_or_another_service():
    assert check(type="lookup", lookup="account").lookup == "account"
    assert check(type="lookup", lookup="sales.opportunity").lookup == "sales.opportunity"
    assert problems(type="lookup", lookup="ghost")["lookup"] == ["Unknown object 'ghost'."]
    assert "lookup" in problems(type="lookup")
    assert "lookup" in problems(type="lookup", lookup="Sales.x")
    assert "lookup" in problems(type="text", lookup="account")


def test_money_currency_is_three_upper_case_letters():
    assert check(type="money", currency="USD").currency == "USD"
    for bad in ("usd", "EURO", 978):
        assert "currency" in problems(type="money", currency=bad)


def test_flags_unique_and_indexed_fit_the_type():
    assert "required" in problems(required="yes")
    assert "unique" in problems(type="boolean", unique=True)
    assert "indexed" in problems(type="long_text", indexed=True)
    assert check(type="email", unique=True, indexed=True).unique


def test_every_problem_is_reported_at_once():
    errors = problems(name="Bad", label="", min_length=-2, colour=1)
    assert set(errors) == {"name", "label", "min_length", "colour"}


def test_changes_keep_name_and_type_and_recheck_the_whole():
    existing = check(type="picklist", choices=["a", "b"], default="a")
    obj = make_widget_object().with_fields([existing])
    changed = validate_field_change(existing, {"choices": ["a", "b", "c"], "required": True},
                                    obj, KNOWN)
    assert changed.choices == ("a", "b", "c") and changed.required and changed.default == "a"
    with pytest.raises(ValidationFailed) as exc:
        validate_field_change(existing, {"choices": ["b"]}, obj, KNOWN)  # default now invalid
    assert "default" in exc.value.errors
    with pytest.raises(ValidationFailed) as exc:
        validate_field_change(existing, {"type": "text", "name": "zone"}, obj, KNOWN)
    assert set(exc.value.errors) == {"type", "name"}
    assert validate_field_change(existing, {"type": "picklist", "default": None}, obj,
                                 KNOWN).default is None


def test_field_to_definition_lists_set_keys_only():
    assert field_to_definition(check(max_length=3)) == \
        {"name": "region", "type": "text", "label": "Region", "max_length": 3}
    assert field_to_definition(check(type="boolean", default=False))["default"] is False
    assert field_to_definition(check(type="integer", default=0))["default"] == 0


def make_object_def(**overrides):
    return {"name": "project", "fields": [{"name": "name", "type": "text"}], **overrides}


def check_object(**overrides):
    return validate_object(make_object_def(**overrides), service="svc", taken_names={"widget"},
                           taken_paths={"widgets"}, known_objects=KNOWN)


def object_problems(**overrides) -> dict:
    with pytest.raises(ValidationFailed) as exc:
        check_object(**overrides)
    return exc.value.errors


def test_a_valid_object_definition():
    obj = check_object(label="Project", description="Work", fields=[
        {"name": "code", "type": "text"},
        {"name": "parent", "type": "lookup", "lookup": "project"}])
    assert (obj.name, obj.label, obj.plural, obj.kind, obj.service, obj.title_field) == \
        ("project", "Project", "projects", "custom", "svc", "code")
    assert [f.name for f in obj.custom_fields] == ["code", "parent"]
    assert check_object().title_field == "name"
    assert check_object(fields=[]).title_field == "id"
    assert check_object(plural="my-projects").path == "my-projects"


def test_object_names_and_paths_are_unique():
    with pytest.raises(Conflict):
        check_object(name="widget")
    with pytest.raises(Conflict):
        check_object(plural="widgets")


def test_object_definition_problems_name_their_place():
    errors = object_problems(plural="Bad Path", colour=1, title_field="nope", fields=[
        {"name": "name", "type": "text"}, {"name": "name", "type": "text"},
        {"name": "x", "type": "nope"}])
    assert set(errors) == {"plural", "colour", "title_field", "fields.1.name", "fields.2.type"}
    assert "fields" in object_problems(fields="name")
    assert "name" in object_problems(name="a__b")
    with pytest.raises(ValidationFailed):
        validate_object(["x"], service="svc", taken_names=(), taken_paths=(), known_objects=())


def test_a_custom_object_cannot_take_an_api_path():
    from mosaic.metadata.definitions import validate_object

    with pytest.raises(ValidationFailed) as err:
        validate_object({"name": "hook", "plural": "webhooks", "fields": []}, service="contacts", taken_names=(),
                        taken_paths=(), known_objects=())
    assert "path of the API itself" in err.value.errors["plural"][0]
