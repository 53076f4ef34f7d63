"""Test support for the filter language: hypothesis strategies for filters and records, and a
probe table storing each record both as columns and as JSON, with its resolver. For property tests
of anything that stores and filters records (this package's own; a record store's resolver).

Needs ``hypothesis`` (the ``dev`` extra); nothing in the running platform imports this module.
Values are drawn from small pools on purpose, so that generated filters and records collide often
and comparisons land on both sides, on the edges (same day, same microsecond) and on NULL.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Mapping

import sqlalchemy as sa
from hypothesis import strategies as st

from mosaic.db import JSONType, UTCDateTime
from mosaic.filters import ast
from mosaic.filters.dates import iso_date, iso_datetime, to_date, to_datetime
from mosaic.filters.parser import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, TAGS, TEXT, MONEY_PARTS,
                                   kind_of)
from mosaic.filters.sql import json_accessor
from mosaic.metadata.fields import FieldDef, FieldType

#: characters that stress quoting, LIKE escaping and case folding (ß and é fold the same way in
#: python and in PostgreSQL under C.UTF-8).
TEXT_ALPHABET = "aAbBé É%_\\'\"ß"
CHOICES = ("x", "y", "z", "X")
CURRENCIES = ("EUR", "USD", "eur")
FIRST_DAY, LAST_DAY = date(2024, 4, 20), date(2024, 6, 10)

texts = st.text(alphabet=TEXT_ALPHABET, max_size=4)
integers = st.integers(-3, 3) | st.sampled_from([2 ** 40, -(2 ** 40)])
decimals = st.sampled_from([-1.5, 0.0, 0.1, 0.2, 0.30000000000000004, 1.0, 2.5, 1e20]) | st.floats(
    -10, 10, allow_nan=False, allow_infinity=False).map(lambda f: round(f, 3))
dates = st.dates(FIRST_DAY, LAST_DAY)
datetimes = st.one_of(
    st.datetimes(datetime.combine(FIRST_DAY, time.min), datetime.combine(LAST_DAY, time.max)),
    # the first and last microsecond of a day: where a day-range off by one shows
    st.builds(lambda d, last: datetime.combine(d, time.max if last else time.min), dates, st.booleans()),
).map(lambda d: d.replace(tzinfo=timezone.utc))
#: moments to evaluate relative dates against, inside the range records are drawn from.
nows = st.datetimes(datetime(2024, 5, 10), datetime(2024, 5, 20)).map(
    lambda d: d.replace(tzinfo=timezone.utc)) | st.just(datetime(2024, 5, 15, tzinfo=timezone.utc))

_VALUES = {TEXT: texts, INTEGER: integers, DECIMAL: decimals, BOOLEAN: st.booleans(),
           DATE: dates, DATETIME: datetimes, TAGS: st.sampled_from(CHOICES)}


def value_for(kind: str, field_def: FieldDef | None = None) -> st.SearchStrategy:
    """A python value a record may hold for a field of this kind."""
    if field_def is not None and field_def.type == FieldType.PICKLIST and field_def.choices:
        return st.sampled_from(field_def.choices)
    if kind == TAGS:
        return st.lists(st.sampled_from(CHOICES), max_size=3, unique=True)
    return _VALUES[kind]


@st.composite
def records(draw, fields: Mapping[str, FieldDef]) -> dict[str, Any]:
    """A record dict over ``fields``: each field missing, None, or a value (money: a dict whose
    parts may be None)."""
    record: dict[str, Any] = {}
    for name, field_def in fields.items():
        state = draw(st.sampled_from(("value", "value", "value", "none", "missing")))
        if state == "missing":
            continue
        if state == "none":
            record[name] = None
        elif field_def.type == FieldType.MONEY:
            record[name] = {"amount": draw(st.none() | decimals),
                            "currency": draw(st.none() | st.sampled_from(CURRENCIES))}
        else:
            record[name] = draw(value_for(kind_of(field_def, None), field_def))
    return record


def _literal(draw, kind: str, field_def: FieldDef) -> ast.Value:
    if kind in (DATE, DATETIME):
        choice = draw(st.sampled_from(("date", "datetime", "today", "now")))
        if choice in ("today", "now"):
            return ast.Value(choice)
        return ast.make_value(draw(dates if choice == "date" else datetimes))
    if kind in (INTEGER, DECIMAL):
        # an integer field refuses literals beyond 64 bits, so keep 1e20 for decimal fields
        raw = draw(integers | (decimals if kind == DECIMAL else decimals.filter(lambda f: abs(f) < 1e15)))
        return ast.Value("number", raw if isinstance(raw, int) else Decimal(repr(raw)))
    if kind == TEXT and field_def.type == FieldType.MONEY:
        return ast.make_value(draw(st.sampled_from(CURRENCIES)))
    return ast.make_value(draw(value_for(kind, field_def) if kind != TAGS else st.sampled_from(CHOICES)))


@st.composite
def comparisons(draw, fields: Mapping[str, FieldDef]) -> ast.Node:
    """One valid comparison on one of ``fields``."""
    name = draw(st.sampled_from(sorted(fields)))
    field_def = fields[name]
    subpath = None
    if field_def.type == FieldType.MONEY:
        subpath = draw(st.sampled_from((None, *MONEY_PARTS)))
    kind = kind_of(field_def, subpath)
    ref = ast.FieldRef(name, subpath)
    shapes = ["null", "not_null"]
    if kind == TAGS:
        shapes += ["has"] * 4
    else:
        shapes += ["compare"] * 4 + ["in", "not_in"]
    if kind == TEXT:
        shapes += ["match"] * 2
    if kind in (DATE, DATETIME):
        shapes += ["within", "within", "day_word"]
    shape = draw(st.sampled_from(shapes))
    if shape in ("null", "not_null"):
        return ast.IsNull(ref, negated=shape == "not_null")
    if shape == "has":
        return ast.Match(ref, "contains", ast.make_value(draw(st.sampled_from(CHOICES))))
    if shape == "match":
        return ast.Match(ref, draw(st.sampled_from(ast.MATCH_MODES)), ast.make_value(draw(texts)))
    if shape == "within":
        return ast.Within(ref, draw(st.sampled_from(ast.DIRECTIONS)), draw(st.integers(0, 40)),
                          draw(st.sampled_from(ast.UNITS)))
    if shape == "day_word":
        return ast.Compare(ref, draw(st.sampled_from(("before", "after"))), _literal(draw, kind, field_def))
    if shape in ("in", "not_in"):
        values = tuple(_literal(draw, kind, field_def) for _ in range(draw(st.integers(1, 3))))
        return ast.InList(ref, values, negated=shape == "not_in")
    ops = ("=", "!=") if kind == BOOLEAN else ("=", "!=", "<", "<=", ">", ">=")
    return ast.Compare(ref, draw(st.sampled_from(ops)), _literal(draw, kind, field_def))


def filters(fields: Mapping[str, FieldDef], max_leaves: int = 6) -> st.SearchStrategy:
    """Random valid filter trees over ``fields`` (render them with :func:`mosaic.filters.render`)."""
    return st.recursive(
        comparisons(fields),
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda items: ast.And(tuple(items))),
            st.lists(inner, min_size=2, max_size=3).map(lambda items: ast.Or(tuple(items))),
            inner.map(ast.Not),
        ),
        max_leaves=max_leaves,
    )




# -- a probe table: records stored as columns and as JSON at once ------------------------------

#: the column type each kind gets in a probe table.
COLUMN_TYPES = {TEXT: sa.String, INTEGER: sa.BigInteger, DECIMAL: sa.Float, BOOLEAN: sa.Boolean,
                DATE: sa.Date, DATETIME: UTCDateTime, TAGS: JSONType}


def probe_table(metadata, fields: Mapping[str, FieldDef], name: str = "filter_probe"):
    """A table holding each record twice over: every field as a real column (``c_<name>``; money
    as ``c_<name>_amount`` and ``c_<name>_currency``) and inside the JSON column ``data``, so one
    row serves a column resolver and a JSON resolver alike."""
    columns = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
               sa.Column("data", JSONType)]
    for field_name, field_def in fields.items():
        if field_def.type == FieldType.MONEY:
            columns += [sa.Column(f"c_{field_name}_{part}", COLUMN_TYPES[kind])
                        for part, kind in MONEY_PARTS.items()]
        else:
            columns.append(sa.Column(f"c_{field_name}", COLUMN_TYPES[kind_of(field_def, None)]))
    return sa.Table(name, metadata, *columns)


def _native(field_def: FieldDef, value: Any) -> Any:
    # Records may hold dates and datetimes as python objects or as ISO text.
    if field_def.type == FieldType.DATE:
        return to_date(value)
    if field_def.type == FieldType.DATETIME:
        return to_datetime(value)
    return value


def stored_json(field_def: FieldDef, value: Any) -> Any:
    """``value`` as the JSON column holds it (dates and datetimes as their ISO text)."""
    value = _native(field_def, value)
    if value is None:
        return None
    if field_def.type == FieldType.DATE:
        return iso_date(value)
    if field_def.type == FieldType.DATETIME:
        return iso_datetime(value)
    return value


def probe_row(fields: Mapping[str, FieldDef], row_id: int, record: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`probe_table` row for ``record``. A key absent from the record is absent from the
    JSON too (an explicit None is a JSON null) and a SQL NULL in the columns, except a list
    column, where an explicit None is stored as JSON null: both must read as "no value"."""
    row: dict[str, Any] = {"id": row_id,
                           "data": {k: stored_json(fields[k], v) for k, v in record.items()}}
    for name, field_def in fields.items():
        value = record.get(name)
        if field_def.type == FieldType.MONEY:
            for part in MONEY_PARTS:
                row[f"c_{name}_{part}"] = (value or {}).get(part)
        elif field_def.type == FieldType.MULTI_PICKLIST and name not in record:
            row[f"c_{name}"] = sa.null()
        else:
            row[f"c_{name}"] = _native(field_def, value)
    return row


def probe_resolver(table, dialect_name: str):
    """A resolver for :func:`mosaic.filters.compile_sql` over a :func:`probe_table`: a column for
    ``storage="column"`` fields, :func:`mosaic.filters.json_accessor` for the others."""
    def resolve(field_def: FieldDef, subpath: str | None):
        if not field_def.is_column:
            return json_accessor(table.c.data, field_def, subpath, dialect_name)
        if field_def.type == FieldType.MONEY:
            return table.c[f"c_{field_def.name}_{subpath or 'amount'}"]
        return table.c[f"c_{field_def.name}"]

    return resolve
