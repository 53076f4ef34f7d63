"""``compile_sql`` and ``json_accessor`` on SQLite (PostgreSQL: tests/integration/test_filters_pg.py).

Each hand-picked case is stored once, both as columns and as JSON, and queried with the filter
and with its negation, through a column resolver and through a JSON resolver: the row must come
back for ``filter`` exactly when the case is True and for ``not (filter)`` exactly when it is
False, which pins SQL's NULL to the evaluator's "unknown".
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from mosaic.db import make_engine
from mosaic.filters import IsoDateTimeText, compile_sql, json_accessor, parse
from mosaic.filters.conformance import CASES
from mosaic.filters.testing import probe_resolver, probe_row, probe_table
from mosaic.metadata.fields import FieldDef, FieldType


def storage(fields, where: str):
    """``fields`` with every field stored in ``where`` ("column" or "json")."""
    return {name: f.evolve(storage=where) for name, f in fields.items()}


@pytest.fixture(scope="module")
def db(tmp_path_factory, make_fields):
    """A SQLite engine (mosaic's, with the Unicode lower()) holding every case as row ``i``."""
    fields = make_fields(total=None)
    metadata = sa.MetaData()
    table = probe_table(metadata, fields)
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('sql') / 'cases.db'}", "filters")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [probe_row(fields, i, record) for i, (_, record, _) in enumerate(CASES)])
    yield engine, table
    engine.dispose()


@pytest.mark.parametrize("where", ["column", "json"])
@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_case(db, index, where, fields, now):
    engine, table = db
    text, _, expected = CASES[index]
    flt = parse(text, storage(fields, where))
    condition = compile_sql(flt, probe_resolver(table, "sqlite"), now, "sqlite")
    with engine.connect() as conn:
        def selected(expr):
            return conn.scalar(sa.select(sa.func.count()).where(table.c.id == index, expr)) == 1
        assert selected(condition) is (expected is True)
        assert selected(sa.not_(condition)) is (expected is False)


def test_values_are_bound_never_inlined(db, fields, now):
    engine, table = db
    hostile = "x' OR 1=1 --"
    flt = parse(f'name = "{hostile}" or name contains "{hostile}"', storage(fields, "json"))
    condition = compile_sql(flt, probe_resolver(table, "sqlite"), now, "sqlite")
    sql = str(sa.select(table.c.id).where(condition).compile(dialect=sqlite.dialect()))
    assert "1=1" not in sql
    with engine.connect() as conn:
        assert conn.scalars(sa.select(table.c.id).where(condition)).all() == []


def test_like_escapes_wildcards(db, fields, now):
    _, table = db
    flt = parse('name contains "50%_\\\\"', storage(fields, "column"))
    condition = compile_sql(flt, probe_resolver(table, "sqlite"), now, "sqlite")
    compiled = sa.select(table.c.id).where(condition).compile(dialect=sqlite.dialect())
    assert "ESCAPE '\\'" in str(compiled)
    assert "%50\\%\\_\\\\%" in compiled.params.values()


def _pg_sql(expr) -> str:
    return str(expr.compile(dialect=postgresql.dialect()))


def test_json_accessor_types_each_kind(fields):
    data = sa.column("data", sa.JSON)
    pg = {name: json_accessor(data, f, None, "postgresql") for name, f in fields.items()
          if f.type != FieldType.FORMULA}
    assert isinstance(pg["name"].type, sa.String)
    assert "NUMERIC" in _pg_sql(pg["age"])
    assert "FLOAT" in _pg_sql(pg["score"])
    assert "BOOLEAN" in _pg_sql(pg["vip"])
    assert isinstance(pg["seen"].type, IsoDateTimeText)
    assert isinstance(pg["tags"].type, sa.JSON)
    assert "#>>" in _pg_sql(json_accessor(data, fields["price"], "currency", "postgresql"))
    with pytest.raises(ValueError):
        json_accessor(data, fields["price"], "cents", "postgresql")


def test_list_membership_uses_jsonb_containment_on_postgresql(fields, now):
    data = sa.column("data", sa.JSON)
    flt = parse('tags contains "x"', fields)
    sql = _pg_sql(compile_sql(flt, lambda f, s: json_accessor(data, f, s, "postgresql"), now, "postgresql"))
    assert "@>" in sql and "jsonb_typeof" in sql


def test_iso_datetime_binds_fixed_width_utc():
    from datetime import datetime, timedelta, timezone

    moment = datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    bound = IsoDateTimeText().process_bind_param(moment, None)
    assert bound == "2024-05-01T10:00:00.000000+00:00"


def test_resolver_receives_money_subpaths(fields, now):
    seen = []

    def resolve(field_def: FieldDef, subpath):
        seen.append((field_def.name, subpath))
        return sa.column(f"{field_def.name}_{subpath}", sa.Float if subpath == "amount" else sa.String)

    compile_sql(parse('price > 1 and price.currency = "EUR" and price.amount < 9', fields), resolve, now, "sqlite")
    assert seen == [("price", "amount"), ("price", "currency"), ("price", "amount")]
