"""Formula fields outside the formula package: their stored and API forms follow the result
type, they filter and sort like a field of that type (memory and SQLite), and the OpenAPI
document types them so, read-only."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from mosaic.db import JSONType, make_engine
from mosaic.filters import compile_sql, evaluate, json_accessor, parse
from mosaic.metadata.fields import FieldDef, FieldType
from mosaic.metadata.schema_factory import load_create
from mosaic.metadata.values import from_json_value, to_api_value, to_json_value
from mosaic_gateway.openapi import field_schema

NOW = datetime(2024, 5, 15, 10, 30, tzinfo=timezone.utc)


def formula(name: str, formula_type: str | None, text: str = "1") -> FieldDef:
    return FieldDef(name, FieldType.FORMULA, formula=text, formula_type=formula_type, custom=True)


@pytest.mark.parametrize("formula_type, value, stored", [
    ("date", date(2024, 5, 1), "2024-05-01"),
    ("datetime", datetime(2024, 5, 1, 8, tzinfo=timezone.utc), "2024-05-01T08:00:00.000000+00:00"),
    ("decimal", 2.5, 2.5), ("integer", 3, 3), ("boolean", True, True), ("text", "a", "a"),
])
def test_stored_and_api_forms_follow_the_result_type(formula_type, value, stored):
    fd = formula("f", formula_type)
    assert to_json_value(fd, value) == stored
    assert from_json_value(fd, stored) == value
    assert to_api_value(fd, value) == stored


def test_callers_cannot_write_a_formula():
    from mosaic.errors import ValidationFailed
    from mosaic.metadata.fields import ObjectDef

    obj = ObjectDef("thing", "Thing", "svc", (FieldDef("n", FieldType.INTEGER), formula("f", "integer")),
                    kind="custom")
    with pytest.raises(ValidationFailed) as exc:
        load_create(obj, {"n": 1, "f": 2})
    assert "f" in exc.value.errors


FIELDS = {"score": formula("score", "decimal", "a * 1.5"), "due": formula("due", "date"),
          "label": formula("label", "text"), "hot": formula("hot", "boolean"),
          "rank": formula("rank", "integer"), "untyped": formula("untyped", None)}
ROWS = [
    {"id": "r1", "score": 2.5, "due": date(2024, 5, 1), "label": "b", "hot": True, "rank": 2},
    {"id": "r2", "score": 10.0, "due": date(2024, 6, 1), "label": "a", "hot": False, "rank": 10},
    {"id": "r3", "score": None, "due": None, "label": None, "hot": None, "rank": None},
    {"id": "r4", "score": -1.25, "due": date(2024, 5, 20), "label": "c", "hot": True, "rank": -3},
]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('formulas') / 'f.db'}", "formulas")
    meta = sa.MetaData()
    things = sa.Table("things", meta, sa.Column("id", sa.String, primary_key=True),
                      sa.Column("data", JSONType))
    meta.create_all(engine)
    with engine.begin() as conn:
        for row in ROWS:
            data = {k: to_json_value(FIELDS[k], v) for k, v in row.items() if k != "id" and v is not None}
            conn.execute(things.insert().values(id=row["id"], data=data))
    yield engine, things
    engine.dispose()


def _select(table, text: str, sort: str | None = None) -> list[str]:
    engine, things = table
    flt = parse(text, FIELDS)
    stmt = sa.select(things.c.id).where(compile_sql(
        flt, lambda fd, sub: json_accessor(things.c.data, fd, sub, "sqlite"), NOW, "sqlite"))
    if sort:
        stmt = stmt.order_by(json_accessor(things.c.data, FIELDS[sort], None, "sqlite").asc().nulls_last())
    with engine.connect() as conn:
        return list(conn.scalars(stmt))


@pytest.mark.parametrize("text", [
    "score > 2", "score <= 2.5", "due before 2024-05-21", "due within next 10 days", 'label = "a"',
    'label startswith "b"', "hot = true", "rank in (2, -3)", "score is null", "rank > 1.5",
])
def test_typed_formulas_filter_alike_in_sql_and_memory(table, text):
    expected = sorted(r["id"] for r in ROWS if evaluate(parse(text, FIELDS), r, NOW))
    assert sorted(_select(table, text)) == expected
    assert expected  # each case selects something


def test_typed_formulas_sort_by_their_type(table):
    assert _select(table, "score is not null or score is null", sort="score") == ["r4", "r1", "r2", "r3"]
    assert _select(table, "rank is not null", sort="rank") == ["r4", "r1", "r2"]  # not as text
    assert _select(table, "due is not null", sort="due") == ["r1", "r4", "r2"]


def test_a_formula_without_a_result_type_cannot_be_filtered():
    from mosaic.errors import InvalidFilter

    with pytest.raises(InvalidFilter, match="has no result type"):
        parse("untyped = 1", FIELDS)


def test_openapi_types_a_formula_by_its_result_type_read_only():
    schema = field_schema({"name": "due", "type": "formula", "formula": "ADD_DAYS(start, 3)",
                           "formula_type": "date", "label": "Due"})
    assert schema["type"] == "string" and schema["format"] == "date"
    assert schema["readOnly"] is True and "ADD_DAYS" in schema["description"]
    assert field_schema({"name": "n", "type": "formula", "formula_type": "integer"})["type"] == "integer"
    assert field_schema({"name": "n", "type": "formula"})["type"] == "string"
