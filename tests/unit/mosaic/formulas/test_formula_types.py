"""mosaic.formulas.compiler: result types, and type errors found when a formula is defined."""
from __future__ import annotations

import pytest

from mosaic.errors import ValidationFailed
from mosaic.formulas import parse_formula


def type_error(text: str, fields, expect=None) -> dict:
    with pytest.raises(ValidationFailed) as exc:
        parse_formula(text, fields, expect=expect)
    return exc.value.errors


@pytest.mark.parametrize("text, result_type", [
    ("name", "text"), ("email & stage & account", "text"), ("qty", "integer"),
    ("qty + 1", "integer"), ("qty * 2 - 1", "integer"), ("qty / 1", "decimal"),
    ("qty + 0.5", "decimal"), ("rate", "decimal"), ("score", "decimal"),
    ("price.amount", "decimal"), ("price.currency", "text"), ("vip", "boolean"),
    ("qty > 1", "boolean"), ("born", "date"), ("seen", "datetime"), ("double + 1", "integer"),
    ("IF(vip, qty, score)", "decimal"), ("IF(vip, born, seen)", "datetime"),
    ("IF(vip, null, 'x')", "text"), ("COALESCE(null, born)", "date"), ("ROUND(score)", "integer"),
    ("ROUND(score, 1)", "decimal"), ("ROUND(qty, -1)", "integer"), ("ABS(qty)", "integer"),
    ("MAX(qty, score)", "decimal"), ("ADD_DAYS(born, 1)", "date"), ("ADD_DAYS(seen, 1)", "datetime"),
    ("TEXT(seen)", "text"), ("born < seen", "boolean"), ("-qty", "integer"),
])
def test_result_types_are_inferred(fields, text, result_type):
    assert parse_formula(text, fields).result_type == result_type


@pytest.mark.parametrize("text, fragment", [
    ("name + 1", "'+' needs numbers, not text; use & to join text"),
    ("born - 1", "'-' needs numbers, not a date; use ADD_DAYS or DAYS_BETWEEN"),
    ("-name", "unary '-' needs numbers"),
    ("vip * 2", "'*' needs numbers, not a boolean"),
    ("price * 2", "read as price.amount or price.currency"),
    ("price.cents", "read as price.amount or price.currency"),
    ("qty.part", "'qty' has no parts"),
    ("tags & 'x'", "a multi_picklist field ('tags') cannot be used in a formula"),
    ("untyped + 1", "the formula field 'untyped' has no result type"),
    ("nmae", "unknown field 'nmae' (did you mean name?)"),
    ("qty = 'x'", "the comparison '=' cannot mix integer and text values"),
    ("born = 1", "cannot mix date and integer"),
    ("vip < true", "'<' does not apply to boolean values"),
    ("qty = null", "'= null' is always null"),
    ("qty and vip", "'and' needs true/false values, not an integer"),
    ("not qty", "'not' needs a true/false value"),
    ("IF(qty, 1, 2)", "argument 1 of IF must be boolean, not an integer"),
    ("IF(vip, 1, 'x')", "IF's results cannot mix integer and text"),
    ("IF(vip, 1)", "IF takes 3 arguments, not 2"),
    ("UPPER()", "UPPER takes 1 argument, not 0"),
    ("ROUND(1, 2, 3)", "ROUND takes 1 or 2 arguments, not 3"),
    ("COALESCE()", "COALESCE takes at least 1 argument, not 0"),
    ("TODAY(1)", "TODAY takes 0 arguments, not 1"),
    ("UPPER(qty)", "argument 1 of UPPER must be text, not an integer"),
    ("LEFT(name, 1.5)", "argument 2 of LEFT must be integer, not a decimal"),
    ("ROUND(score, 1.5)", "argument 2 of ROUND must be integer"),
    ("YEAR(qty)", "argument 1 of YEAR must be date or datetime"),
    ("ADD_DAYS(born, 1.5)", "argument 2 of ADD_DAYS must be integer, not a decimal"),
    ("MIN(vip, true)", "argument 1 of MIN must be"),
    ("MAX(born, 'x')", "MAX cannot mix date and text"),
    ("DATE(2024, 1, '1')", "argument 3 of DATE must be integer, not text"),
    ("SQRT(4)", "unknown function SQRT"),
    ("EVAL('1')", "unknown function EVAL"),
    ("__import__('os')", "unknown function __IMPORT__"),
    ("99999999999999999999", "the number 99999999999999999999 is out of range"),
    ("null", "the formula is always null; give formula_type"),
])
def test_type_errors_say_why_and_where(fields, text, fragment):
    [message] = type_error(text, fields)["formula"]
    assert fragment in message
    assert "at position" in message


def test_a_declared_type_is_checked_and_integers_widen_to_decimal(fields, make_record, now):
    widened = parse_formula("qty * 2", fields, expect="decimal")
    assert widened.result_type == "decimal"
    value = widened.evaluate(make_record(), now)
    assert value == 6.0 and isinstance(value, float)
    assert parse_formula("null", fields, expect="date").evaluate({}, now) is None
    assert type_error("qty * 2", fields, expect="text") == {
        "formula_type": ["formula_type is text but the formula gives integer values"]}
    assert type_error("score", fields, expect="integer")["formula_type"]
    assert "formula_type" in type_error("qty", fields, expect="money")


def test_references_list_every_field_read(fields):
    assert parse_formula("IF(vip, price.amount, qty) & name", fields).references == {
        "vip", "price", "qty", "name"}
