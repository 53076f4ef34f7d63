"""The filter language gives the same answer in SQL (SQLite and PostgreSQL) as in memory.

Random records are stored twice over in one table: every field as a real column *and* inside the
JSON column. Each random filter is run with two field maps (first half of the fields as columns and
the rest in JSON, then the other way round), so both kinds of resolver meet every field type, and
the ids each database returns must be exactly those ``evaluate`` accepts.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from mosaic.db import make_engine
from mosaic.filters import compile_sql, evaluate, parse, render
from mosaic.filters.conformance import CASES
from mosaic.filters.conformance import FIELDS as CASE_FIELDS
from mosaic.filters.conformance import NOW as CASE_NOW
from mosaic.filters.testing import (filters, nows, probe_resolver, probe_row, probe_table, records,
                                    stored_json)
from mosaic.localdev import ensure_database, checkout_database
from mosaic.metadata.fields import FieldDef, FieldType

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DB = checkout_database("mosaic_test_b")
PG_URL = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{DB}"

BASE_FIELDS = (
    FieldDef("name", FieldType.TEXT),
    FieldDef("age", FieldType.INTEGER),
    FieldDef("score", FieldType.DECIMAL),
    FieldDef("vip", FieldType.BOOLEAN),
    FieldDef("born", FieldType.DATE),
    FieldDef("seen", FieldType.DATETIME),
    FieldDef("stage", FieldType.PICKLIST, choices=("new", "won", "Won", "lost")),
    FieldDef("tags", FieldType.MULTI_PICKLIST, choices=("x", "y", "z", "X")),
    FieldDef("price", FieldType.MONEY),
)
LOGICAL = {f.name: f for f in BASE_FIELDS}


def field_map(columns_first: bool) -> dict[str, FieldDef]:
    """Every field, alternately stored as a column or in JSON; ``columns_first`` flips which."""
    out = {}
    for i, f in enumerate(BASE_FIELDS):
        as_column = (i % 2 == 0) == columns_first
        out[f.name] = f.evolve(storage="column" if as_column else "json")
    return out


FIELD_MAPS = (field_map(True), field_map(False))

metadata = sa.MetaData()
probe = probe_table(metadata, LOGICAL)
case_table = probe_table(metadata, CASE_FIELDS, name="filter_cases")


def _pg_engine() -> Engine:
    # C.UTF-8 as in production: byte-order text comparison, Unicode lower().
    ensure_database(DB, PG_ADMIN_URL.replace("+psycopg2", "").rsplit("/", 1)[0],
                    create_sql=f"CREATE DATABASE {DB} TEMPLATE template0 ENCODING 'UTF8' "
                               "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'")
    return sa.create_engine(PG_URL)


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """SQLite (through mosaic's engine factory, which registers the Unicode lower()) and
    PostgreSQL, each with a fresh probe table."""
    sqlite = make_engine(f"sqlite:///{tmp_path_factory.mktemp('filters') / 'probe.db'}", "filters")
    pg = _pg_engine()
    for engine in (sqlite, pg):
        metadata.drop_all(engine)
        metadata.create_all(engine)
    yield {"sqlite": sqlite, "postgresql": pg}
    for engine in (sqlite, pg):
        metadata.drop_all(engine)
        engine.dispose()


def _store(engine: Engine, rows: list[dict]) -> None:
    with engine.begin() as conn:
        conn.execute(probe.delete())
        if rows:
            conn.execute(probe.insert(), rows)


def _matching_ids(engine: Engine, flt, now) -> set[int]:
    dialect = engine.dialect.name
    where = compile_sql(flt, probe_resolver(probe, dialect), now, dialect)
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(probe.c.id).where(where)))


def _as_evaluator_sees(record: dict[str, Any], iso: bool) -> dict[str, Any]:
    # Half the time hand evaluate() what a JSON read gives (ISO text) instead of python dates.
    return {k: stored_json(LOGICAL[k], v) for k, v in record.items()} if iso else record


@pytest.mark.postgres
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(batch=st.lists(records(LOGICAL), min_size=10, max_size=30),
       trees=st.lists(filters(LOGICAL), min_size=1, max_size=3),
       now=nows, iso=st.booleans())
def test_sql_and_memory_agree(engines, batch, trees, now, iso):
    rows = [probe_row(LOGICAL, i, r) for i, r in enumerate(batch)]
    for engine in engines.values():
        _store(engine, rows)
    for tree in trees:
        text = render(tree)
        for fields in FIELD_MAPS:
            flt = parse(text, fields)
            expected = {i for i, r in enumerate(batch) if evaluate(flt, _as_evaluator_sees(r, iso), now)}
            for name, engine in engines.items():
                got = _matching_ids(engine, flt, now)
                assert got == expected, (name, text, [f for f in fields if fields[f].is_column])


@pytest.mark.postgres
def test_now_is_used_as_utc(engines):
    """A naive ``now`` is UTC, an aware one in another zone is converted, on both back ends."""
    record = {"seen": datetime(2024, 5, 1, 23, 30, tzinfo=timezone.utc)}
    for engine in engines.values():
        _store(engine, [probe_row(LOGICAL, 1, record)])
    flt = parse("seen = today", FIELD_MAPS[0])
    paris = timezone(timedelta(hours=2))
    for now in (datetime(2024, 5, 1, 12), datetime(2024, 5, 2, 1, 0, tzinfo=paris)):
        assert evaluate(flt, record, now) is True
        for engine in engines.values():
            assert _matching_ids(engine, flt, now) == {1}


@pytest.mark.postgres
@pytest.mark.parametrize("where", ["column", "json"])
def test_conformance_cases_on_postgresql(engines, where):
    """Every hand-picked case, stored as columns or as JSON, gives its truth on PostgreSQL: the
    row is selected by the filter exactly when True and by ``not (filter)`` exactly when False."""
    engine = engines["postgresql"]
    fields = {name: f.evolve(storage=where) for name, f in CASE_FIELDS.items()}
    with engine.begin() as conn:
        conn.execute(case_table.delete())
        conn.execute(case_table.insert(), [probe_row(fields, i, rec) for i, (_, rec, _) in enumerate(CASES)])
    resolve = probe_resolver(case_table, "postgresql")
    wrong = []
    with engine.connect() as conn:
        for i, (text, _, expected) in enumerate(CASES):
            condition = compile_sql(parse(text, fields), resolve, CASE_NOW, "postgresql")
            hits = [conn.scalar(sa.select(sa.func.count()).where(case_table.c.id == i, expr))
                    for expr in (condition, sa.not_(condition))]
            if hits != [int(expected is True), int(expected is False)]:
                wrong.append((text, expected, hits))
    assert wrong == []
