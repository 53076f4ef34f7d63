"""mosaic.formulas.order and FormulaStep: dependency order, cycles, broken formulas, and the
formulas computed into a write."""
from __future__ import annotations

import logging
from datetime import date

import pytest

from mosaic.errors import ValidationFailed
from mosaic.formulas import dependents, formula_order, resolve_formula_fields
from mosaic.formulas.step import FormulaStep
from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.records.pipeline import Write


def formula(name: str, text: str, formula_type: str | None = None) -> FieldDef:
    return FieldDef(name, FieldType.FORMULA, formula=text, formula_type=formula_type, custom=True)


def make_obj(*fields: FieldDef) -> ObjectDef:
    base = (FieldDef("qty", FieldType.INTEGER), FieldDef("price", FieldType.DECIMAL),
            FieldDef("name", FieldType.TEXT), FieldDef("due", FieldType.DATE))
    return ObjectDef("deal", "Deal", "svc", SYSTEM_FIELDS + base + fields, kind="custom")


class FakeStore:
    """What FormulaStep uses of a RecordStore: the clock."""

    def __init__(self, now):
        self._now = now

    def now(self):
        return self._now


def test_formulas_come_after_the_formulas_they_read():
    obj = make_obj(formula("total", "net + tax", "decimal"), formula("tax", "net * 0.2", "decimal"),
                   formula("net", "qty * price", "decimal"), formula("label", "name", "text"))
    order = [fd.name for fd, _ in formula_order(obj)]
    assert order.index("net") < order.index("tax") < order.index("total")
    assert sorted(order) == ["label", "net", "tax", "total"]


def test_the_order_is_cached_with_the_definition():
    obj = make_obj(formula("net", "qty * price", "decimal"))
    assert formula_order(obj) is formula_order(obj)
    plain = make_obj()
    assert formula_order(plain) == [] and formula_order(plain) is formula_order(plain)


def test_a_cycle_names_its_fields():
    obj = make_obj(formula("a", "b + 1", "integer"), formula("b", "c + 1", "integer"),
                   formula("c", "a + 1", "integer"), formula("d", "qty", "integer"))
    with pytest.raises(ValidationFailed) as exc:
        formula_order(obj)
    message = exc.value.errors["formula"][0]
    assert "depend on each other" in message
    assert all(name in message for name in "abc") and "d" not in message.split(":")[1]
    with pytest.raises(ValidationFailed, match="refers to its own field"):
        formula_order(make_obj(formula("a", "a + 1", "integer")))


def test_a_broken_formula_gives_null_and_is_logged(caplog, now):
    # ``gone`` was removed (or its plugin disabled) after the formula was defined.
    obj = make_obj(formula("a", "gone * 2", "integer"), formula("b", "COALESCE(a, 0) + 1", "integer"),
                   formula("c", "1 +", "integer"))
    with caplog.at_level(logging.WARNING, logger="mosaic.formulas"):
        order = dict((fd.name, f) for fd, f in formula_order(obj))
    assert order["a"].evaluate({"gone": 2}, now) is None
    assert order["b"].evaluate({"a": None}, now) == 1
    assert order["c"].evaluate({}, now) is None
    assert "deal.a is broken" in caplog.text and "deal.c is broken" in caplog.text


def test_dependents_are_found_through_other_formulas():
    fields = make_obj(formula("net", "qty * price", "decimal"), formula("tax", "net * 0.2", "decimal"),
                      formula("other", "name", "text")).fields
    assert dependents(fields, "qty") == ["net", "tax"]
    assert dependents(fields, "net") == ["tax"]
    assert dependents(fields, "due") == []


def test_resolve_infers_types_in_dependency_order():
    fields = make_obj(formula("b", "a * 2"), formula("a", "qty + 1")).fields
    resolved = resolve_formula_fields(fields, ["a", "b"])
    assert {n: f.formula_type for n, f in resolved.items()} == {"a": "integer", "b": "integer"}


def test_resolve_reports_each_field_once():
    fields = make_obj(formula("a", "nope + 1"), formula("b", "a * 2"), formula("c", "'x' + 1")).fields
    with pytest.raises(ValidationFailed) as exc:
        resolve_formula_fields(fields, ["a", "b", "c"])
    assert set(exc.value.errors) == {"a", "c"}  # b only fails because a does


def test_step_computes_formulas_into_the_write(now):
    obj = make_obj(formula("net", "qty * price", "decimal"), formula("tax", "ROUND(net * 0.2, 2)", "decimal"),
                   formula("soon", "ADD_DAYS(due, 7)", "date"))
    w = Write(obj=obj, action="create", before=None, values={"qty": 3, "price": 9.99,
                                                             "due": date(2024, 1, 1)})
    FormulaStep().before_write(FakeStore(now), w)
    assert w.values["net"] == pytest.approx(29.97)
    assert w.values["tax"] == 5.99
    assert w.values["soon"] == date(2024, 1, 8)


def test_step_adds_only_changed_results(now):
    obj = make_obj(formula("net", "qty * price", "decimal"), formula("shout", "UPPER(name)", "text"))
    before = {"qty": 2, "price": 5.0, "name": "a", "net": 10.0, "shout": "A"}
    w = Write(obj=obj, action="update", before=before, values={"name": "b"})
    FormulaStep().before_write(FakeStore(now), w)
    assert w.values == {"name": "b", "shout": "B"}
    w = Write(obj=obj, action="update", before=before, values={"qty": None})
    FormulaStep().before_write(FakeStore(now), w)
    assert w.values == {"qty": None, "net": None}


def test_step_does_nothing_without_formulas(now):
    class NoClock:
        def now(self):
            raise AssertionError("the clock is not needed")

    w = Write(obj=make_obj(), action="create", before=None, values={"qty": 1})
    FormulaStep().before_write(NoClock(), w)
    assert w.values == {"qty": 1}
