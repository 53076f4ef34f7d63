"""Formula fields on the real PostgreSQL: values computed by the formula engine and stored in
JSONB filter and sort as their result type (a decimal formula compares and orders as a number,
not as text), with the same answers the in-memory evaluator gives."""
from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from mosaic.db import JSONType, make_engine
from mosaic.filters import compile_sql, evaluate, json_accessor, parse
from mosaic.formulas import formula_order
from mosaic.localdev import ensure_database, checkout_database
from mosaic.metadata.fields import SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef
from mosaic.metadata.values import to_json_value

pytestmark = pytest.mark.postgres

PG_SERVER = os.environ.get("MOSAIC_TEST_PG_SERVER", "postgresql+psycopg2://postgres@127.0.0.1:5432")
DATABASE = checkout_database("mosaic_test_formulas")
NOW = datetime(2024, 5, 15, 10, 30, tzinfo=timezone.utc)

DEAL = ObjectDef("deal", "Deal", "svc", SYSTEM_FIELDS + (
    FieldDef("qty", FieldType.INTEGER, custom=True),
    FieldDef("price", FieldType.MONEY, custom=True),
    FieldDef("commission_rate", FieldType.PERCENT, custom=True),
    FieldDef("commission", FieldType.FORMULA, custom=True, formula_type="decimal",
             formula="price.amount * qty * commission_rate / 100"),
    FieldDef("band", FieldType.FORMULA, custom=True, formula_type="text",
             formula="IF(commission >= 100, 'high', 'low')"),
), kind="custom")
INPUTS = {
    "d1": {"qty": 1, "price": {"amount": 9.5, "currency": "EUR"}, "commission_rate": 10.0},   # 0.95
    "d2": {"qty": 10, "price": {"amount": 100.0, "currency": "EUR"}, "commission_rate": 10.0},  # 100
    "d3": {"qty": 2, "price": {"amount": 1000.0, "currency": "EUR"}, "commission_rate": 1.5},  # 30
    "d4": {"qty": 3, "price": None, "commission_rate": 5.0},                                   # null
    "d5": {"qty": 1, "price": {"amount": 25000.0, "currency": "EUR"}, "commission_rate": 4.0},  # 1000
}


def computed(values: dict) -> dict:
    """``values`` with the formula fields computed as the write pipeline computes them."""
    out = dict(values)
    for fd, formula in formula_order(DEAL):
        out[fd.name] = formula.evaluate(out, NOW)
    return out


RECORDS = {rid: computed(values) for rid, values in INPUTS.items()}


@pytest.fixture(scope="module")
def deals():
    ensure_database(DATABASE, PG_SERVER.replace("+psycopg2", ""))
    engine = make_engine(f"{PG_SERVER}/{DATABASE}", "formulas", pool_size=2)
    meta = sa.MetaData()
    table = sa.Table("formula_deals", meta, sa.Column("id", sa.String, primary_key=True),
                     sa.Column("data", JSONType, nullable=False))
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        for rid, values in RECORDS.items():
            data = {k: to_json_value(DEAL.field(k), v) for k, v in values.items() if v is not None}
            conn.execute(table.insert().values(id=rid, data=data))
    yield engine, table
    meta.drop_all(engine)
    engine.dispose()


def _ids(deals, flt_text: str | None = None, sort: str | None = None, descending=False) -> list[str]:
    engine, table = deals
    fields = {f.name: f for f in DEAL.fields}
    stmt = sa.select(table.c.id)
    if flt_text:
        flt = parse(flt_text, fields)
        stmt = stmt.where(compile_sql(flt, lambda fd, sub: json_accessor(table.c.data, fd, sub, "postgresql"),
                                      NOW, "postgresql"))
    if sort:
        expr = json_accessor(table.c.data, DEAL.field(sort), None, "postgresql")
        stmt = stmt.order_by((expr.desc() if descending else expr.asc()).nulls_last(), table.c.id)
    with engine.connect() as conn:
        return list(conn.scalars(stmt))


def test_the_formulas_were_computed():
    assert RECORDS["d2"]["commission"] == 100.0 and RECORDS["d2"]["band"] == "high"
    assert RECORDS["d4"]["commission"] is None and RECORDS["d4"]["band"] == "low"


@pytest.mark.parametrize("text", [
    "commission > 50", "commission >= 100", "commission < 31", "commission = 30",
    "commission in (0.95, 1000)", "commission is null", "not commission > 50",
    'band = "high"', 'band = "low" and commission is not null',
])
def test_filters_on_a_decimal_formula_match_memory(deals, text):
    fields = {f.name: f for f in DEAL.fields}
    expected = sorted(rid for rid, values in RECORDS.items() if evaluate(parse(text, fields), values, NOW))
    assert sorted(_ids(deals, text)) == expected
    assert expected


def test_sorting_a_decimal_formula_is_numeric(deals):
    # As text, "1000" < "100" < "30" < "0.95" would not be numeric order.
    assert _ids(deals, sort="commission") == ["d1", "d3", "d2", "d5", "d4"]
    assert _ids(deals, sort="commission", descending=True) == ["d5", "d2", "d3", "d1", "d4"]
