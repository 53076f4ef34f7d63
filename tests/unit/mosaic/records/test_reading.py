"""The compiled read path answers exactly what the generic path (``values_of`` → ``to_api``)
answers, for every field type of the lab objects, whole or trimmed to some fields."""
from __future__ import annotations

from sqlalchemy import select

from mosaic.records.reading import read_plan
from tests.unit.mosaic.records.conftest import GADGET, PART, Gadget, make_gadget
from mosaic.records.models import Record


def test_plan_rows_equal_the_generic_api_form(store):
    make_gadget(store, size=2, price={"amount": 3.5, "currency": "USD"}, made_on="2026-02-03",
                tags=["red", "blue"], notes="long")
    make_gadget(store)  # every optional field empty
    store.create("part", {"label": "Bolt", "weight": 0.5})
    store.session.commit()
    for obj, model, json_col in ((GADGET, Gadget, Gadget.custom), (PART, Record, Record.data)):
        plan = read_plan(obj, model, json_col)
        assert read_plan(obj, model, json_col) is plan  # built once per definition
        rows = store.session.execute(select(*plan.columns).order_by(model.id)).all()
        orm = store.session.scalars(select(model).order_by(model.id)).all()
        assert rows and len(rows) == len(orm)
        for row, instance in zip(rows, orm):
            values = store.values_of(obj, instance)
            assert plan.api(row) == store.to_api(obj, values)
            assert plan.api(row, {"id", "version"}) == store.to_api(obj, values, ["id"])
            for fd in obj.fields:
                assert plan.python_value(row, fd) == values[fd.name], fd.name
