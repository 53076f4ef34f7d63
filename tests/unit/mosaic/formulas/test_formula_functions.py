"""mosaic.formulas.functions: every function, the null rules and date arithmetic."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from mosaic.formulas import FUNCTIONS, parse_formula

UTC = timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("IF(qty > 2, 'many', 'few')", "many"),
    ("IF(qty > 5, 'many', 'few')", "few"),
    ("IF(qty > 2, 1, 2.5)", 1.0),
    ("IF(vip, born, seen)", datetime(1990, 2, 3, tzinfo=UTC)),
    ("AND(vip, qty = 3, true)", True),
    ("AND(vip, qty = 4)", False),
    ("OR(qty = 4, vip)", True),
    ("OR(false, false)", False),
    ("NOT(vip)", False),
    ("COALESCE(null, qty, 7)", 3),
    ("COALESCE(score, qty)", 2.5),
    ("CONCAT(name, ' #', qty, ' ', vip, ' ', born, ' ', score)", "Ann Lee #3 true 1990-02-03 2.5"),
    ("UPPER(name)", "ANN LEE"),
    ("LOWER(stage & email)", "newann@example.com"),
    ("TRIM('  a b  ')", "a b"),
    ("LEN(name)", 7),
    ("LEFT(name, 3)", "Ann"),
    ("LEFT(name, 0)", ""),
    ("LEFT(name, 99)", "Ann Lee"),
    ("RIGHT(name, 3)", "Lee"),
    ("RIGHT(name, 0)", ""),
    ("RIGHT(name, 99)", "Ann Lee"),
    ("ROUND(2.5)", 3),
    ("ROUND(-2.5)", -3),
    ("ROUND(2.675, 2)", 2.68),
    ("ROUND(1234.5678, -2)", 1200.0),
    ("ROUND(1250, -2)", 1300),
    ("ROUND(qty, 2)", 3),
    ("ROUND(1.23456789, 20)", 1.23456789),
    ("FLOOR(2.7)", 2),
    ("FLOOR(-2.2)", -3),
    ("CEIL(2.2)", 3),
    ("CEIL(-2.7)", -2),
    ("FLOOR(qty)", 3),
    ("ABS(-4)", 4),
    ("ABS(-score)", 2.5),
    ("MIN(3, 1.5, 2)", 1.5),
    ("MAX(qty, 1)", 3),
    ("MAX('b', 'a')", "b"),
    ("MIN(born, seen)", datetime(1990, 2, 3, tzinfo=UTC)),
    ("TODAY()", date(2024, 5, 15)),
    ("NOW()", datetime(2024, 5, 15, 10, 30, tzinfo=UTC)),
    ("DATE(2024, 2, 29)", date(2024, 2, 29)),
    ("DATE(2023, 2, 29)", None),
    ("DATE(2024, 13, 1)", None),
    ("YEAR(born)", 1990), ("MONTH(born)", 2), ("DAY(born)", 3),
    ("YEAR(seen)", 2024), ("DAY(seen)", 1),
    ("ADD_DAYS(born, 30)", date(1990, 3, 5)),
    ("ADD_DAYS(born, -3)", date(1990, 1, 31)),
    ("ADD_DAYS(seen, 1.5)", datetime(2024, 5, 2, 20, 0, tzinfo=UTC)),
    ("ADD_DAYS(DATE(9999, 12, 31), 1)", None),
    ("DAYS_BETWEEN(born, DATE(1990, 3, 3))", 28),
    ("DAYS_BETWEEN(TODAY(), born) < 0", True),
    ("DAYS_BETWEEN(seen, NOW())", 14),
    ("DAYS_BETWEEN(seen, TODAY())", 14),
    ("TEXT(qty)", "3"),
    ("TEXT(qty * 1.0)", "3"),
    ("TEXT(score)", "2.5"),
    ("TEXT(vip)", "true"),
    ("TEXT(born)", "1990-02-03"),
    ("TEXT(seen)", "2024-05-01T08:00:00.000000+00:00"),
    ("TEXT(1 / 3)", "0.3333333333333333"),
    ("TEXT(name)", "Ann Lee"),
])
def test_functions(calc, text, expected):
    result = calc(text)
    assert result == expected
    assert type(result) is type(expected)


def test_function_names_are_case_insensitive(calc):
    assert calc("upper(name)") == calc("Upper(name)") == "ANN LEE"


@pytest.mark.parametrize("text", [
    "qty + null", "null * 2", "-null", "name & null", "UPPER(null)", "LEN(name)",
    "ROUND(score, null)", "YEAR(born)", "ADD_DAYS(born, qty)", "DATE(null, 1, 1)",
    "MIN(qty, 1)", "TEXT(name)", "name = 'x'", "qty > 1", "not (qty > 1)", "ABS(qty)",
    "DAYS_BETWEEN(born, seen)", "LEFT(name, qty)", "FLOOR(score)", "price.amount * 2",
])
def test_null_propagates(calc, text):
    assert calc(text, name=None, qty=None, born=None, score=None, price=None) is None


@pytest.mark.parametrize("text", ["qty / 0", "qty / (qty - 3)", "score / 0.0", "1 / 0 + 1"])
def test_division_by_zero_is_null(calc, text):
    assert calc(text) is None


def test_negative_lengths_give_null(calc):
    assert calc("LEFT(name, -1)") is None
    assert calc("RIGHT(name, -1)") is None


def test_the_null_skipping_functions(calc):
    assert calc("CONCAT(name, null, '!')") == "Ann Lee!"
    assert calc("CONCAT(null)") == ""
    assert calc("COALESCE(qty, 0)", qty=None) == 0
    assert calc("COALESCE(qty, qty)", qty=None) is None
    assert calc("IF(vip, 'y', 'n')", vip=None) == "n"  # an unknown condition is not true
    assert calc("AND(vip, false)", vip=None) is False
    assert calc("AND(vip, true)", vip=None) is None
    assert calc("OR(vip, true)", vip=None) is True
    assert calc("OR(vip, false)", vip=None) is None
    assert calc("vip and false", vip=None) is False
    assert calc("not vip", vip=None) is None


def test_if_computes_only_the_chosen_branch(calc):
    assert calc("IF(qty = 0, 1, 10 / qty)") == pytest.approx(10 / 3)


def test_money_parts_and_picklists(calc):
    assert calc("price.amount * rate / 100") == 25.0
    assert calc("price.currency & ' ' & TEXT(price.amount)") == "EUR 200"
    assert calc("price.amount", price=None) is None
    assert calc("stage = 'new'") is True


def test_today_and_now_follow_the_clock(fields, make_record):
    formula = parse_formula("DAYS_BETWEEN(born, TODAY())", fields)
    record = make_record(born=date(2024, 1, 1))
    assert formula.evaluate(record, datetime(2024, 1, 11, 23, 59, tzinfo=UTC)) == 10
    # ``now`` in another zone: today is the UTC date
    from datetime import timedelta
    tokyo = timezone(timedelta(hours=9))
    assert formula.evaluate(record, datetime(2024, 1, 12, 8, 0, tzinfo=tokyo)) == 10


def test_stored_json_forms_are_read_as_their_types(fields, now):
    formula = parse_formula("DAYS_BETWEEN(born, seen) & '/' & TEXT(score + qty)", fields)
    values = {"born": "2024-04-30", "seen": "2024-05-01T08:00:00.000000+00:00", "score": 1,
              "qty": 2}
    assert formula.evaluate(values, now) == "1/3"


def test_a_value_of_the_wrong_shape_gives_null_not_an_error(fields, now):
    assert parse_formula("qty + 1", fields).evaluate({"qty": "many"}, now) is None
    assert parse_formula("YEAR(born)", fields).evaluate({"born": "not a date"}, now) is None


def test_integer_overflow_and_infinite_decimals_give_null(calc):
    assert calc("9223372036854775807 + 0") == 2 ** 63 - 1
    assert calc("9223372036854775807 + 1") is None
    assert calc("qty * 9223372036854775807") is None
    assert calc("ABS(-9223372036854775807 - 1)") is None
    assert calc("score * 1" + "0" * 300 + ".0 * 1" + "0" * 300 + ".0") is None


def test_every_listed_function_exists():
    listed = ("IF AND OR NOT COALESCE CONCAT UPPER LOWER TRIM LEN LEFT RIGHT ROUND FLOOR CEIL ABS "
              "MIN MAX TODAY NOW DATE YEAR MONTH DAY ADD_DAYS DAYS_BETWEEN TEXT").split()
    assert set(FUNCTIONS) == set(listed)
