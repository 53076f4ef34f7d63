"""``compile_sql``: a filter as a SQLAlchemy boolean expression, and ``json_accessor`` for fields
stored in a JSON column.

Every value is a bound parameter; nothing is concatenated into SQL text. The compiler walks the
same lowered tree (:mod:`mosaic.filters.plan`) the in-memory evaluator walks, and each primitive
is written so that SQL's NULL propagation gives exactly the evaluator's three-valued answer.
"""
from __future__ import annotations

import operator
from datetime import date, datetime
from typing import Any, Callable

from sqlalchemy import (BigInteger, Boolean, Float, Numeric, String, and_, case, cast, exists,
                        func, literal, not_, null, or_, select, true, type_coerce)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from mosaic.filters.dates import iso_date, iso_datetime, to_date, to_datetime
from mosaic.filters.parser import (BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, TAGS, TEXT, Filter,
                                   kind_of)
from mosaic.filters.plan import (AllOf, AnyOf, Cmp, Has, InSet, Like, Negate, Null, Prim, Target,
                                 lower)
from mosaic.metadata.fields import FieldDef

#: ``resolve(field_def, subpath)`` -> the SQL expression of that field's stored value.
FieldResolver = Callable[[FieldDef, "str | None"], ColumnElement]

_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


class IsoDateText(TypeDecorator):
    """A date held as ``YYYY-MM-DD`` text (in a JSON column): binds a date as that text, so text
    comparison is date comparison."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return iso_date(value) if isinstance(value, date) and not isinstance(value, datetime) else value

    def process_result_value(self, value, dialect):
        return to_date(value)


class IsoDateTimeText(TypeDecorator):
    """A datetime held as fixed-width UTC ISO text (in a JSON column): binds a datetime as that
    text, so text comparison is time comparison."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return iso_datetime(value) if isinstance(value, datetime) else value

    def process_result_value(self, value, dialect):
        return to_datetime(value)


def json_accessor(json_column: ColumnElement, field_def: FieldDef, subpath: str | None,
                  dialect_name: str) -> ColumnElement:
    """A typed expression for the value of ``field_def`` (``subpath`` for money) stored under its
    name in ``json_column``; JSON null and a missing key both read as SQL NULL, except for a list
    field, which is returned as its JSON element for :func:`compile_sql` to test."""
    kind = kind_of(field_def, subpath)
    if kind is None:
        raise ValueError(f"field {field_def.name!r} has no part {subpath!r}")
    name = field_def.name
    if field_def.type.value == "money":
        element = json_column[(name, subpath or "amount")]
    else:
        element = json_column[name]
    if kind == TAGS:
        return element
    if kind == TEXT:
        return element.as_string()
    if kind == INTEGER:
        if dialect_name == "postgresql":
            # NUMERIC, not INTEGER: exact for 64-bit values and for a stored 3.0 alike.
            return cast(element.as_string(), Numeric)
        return element.as_integer()
    if kind == DECIMAL:
        return element.as_float()
    if kind == BOOLEAN:
        return element.as_boolean()
    if kind == DATE:
        return type_coerce(element.as_string(), IsoDateText())
    if kind == DATETIME:
        return type_coerce(element.as_string(), IsoDateTimeText())
    raise ValueError(f"no JSON accessor for kind {kind!r}")  # pragma: no cover - kinds are closed


def compile_sql(flt: Filter, resolve: FieldResolver, now: datetime, dialect_name: str) -> ColumnElement:
    """``flt`` as a boolean SQL expression for a WHERE clause. ``resolve`` gives each field's
    expression; relative dates are resolved against ``now``; ``dialect_name`` ("postgresql" or
    "sqlite") picks how list fields are tested. A row is selected exactly when
    :func:`mosaic.filters.evaluate` is True for it."""
    if dialect_name not in ("postgresql", "sqlite"):
        raise ValueError(f"filters compile for postgresql and sqlite, not {dialect_name!r}")
    return _Compiler(resolve, dialect_name).node(lower(flt, now))


class _Compiler:
    def __init__(self, resolve: FieldResolver, dialect_name: str):
        self.resolve = resolve
        self.dialect = dialect_name

    def node(self, prim: Prim) -> ColumnElement:
        if isinstance(prim, AllOf):
            return and_(*(self.node(i) for i in prim.items))
        if isinstance(prim, AnyOf):
            return or_(*(self.node(i) for i in prim.items))
        if isinstance(prim, Negate):
            return not_(self.node(prim.item))
        expr = self.resolve(prim.target.field, prim.target.subpath)
        if isinstance(prim, Null):
            return not_(self.is_array(expr)) if prim.target.kind == TAGS else expr.is_(None)
        if isinstance(prim, Has):
            return self.has(expr, prim.element)
        if isinstance(prim, Cmp):
            return _OPS[prim.op](expr, self.bind(prim.target, prim.value, expr))
        if isinstance(prim, InSet):
            return expr.in_([self.bind(prim.target, v, expr) for v in prim.values])
        if isinstance(prim, Like):
            pattern = _escape_like(prim.needle)
            pattern = {"contains": f"%{pattern}%", "startswith": f"{pattern}%",
                       "endswith": f"%{pattern}"}[prim.mode]
            return func.lower(expr).like(literal(pattern, String), escape="\\")
        raise TypeError(f"not a filter primitive: {prim!r}")

    def bind(self, target: Target, value: Any, expr: ColumnElement) -> ColumnElement:
        """A bound parameter for ``value``. Numbers and booleans get explicit types (an integer
        column compared with 2.5 must not bind 2.5 as an integer); dates, datetimes and text take
        the column's own type so its bind processing (UTC, ISO text) applies."""
        if target.kind in (INTEGER, DECIMAL):
            return literal(value, Float() if isinstance(value, float) else BigInteger())
        if target.kind == BOOLEAN:
            return literal(value, Boolean())
        return literal(value, expr.type)

    def is_array(self, expr: ColumnElement) -> ColumnElement:
        """TRUE when ``expr`` holds a JSON array, FALSE otherwise (never NULL)."""
        if self.dialect == "postgresql":
            kind = func.jsonb_typeof(cast(expr, JSONB))
        else:
            kind = func.json_type(expr)
        return func.coalesce(kind == "array", False)

    def has(self, expr: ColumnElement, element: str) -> ColumnElement:
        """The JSON array ``expr`` contains ``element``; NULL when ``expr`` holds no array, as a
        comparison with a missing value is unknown."""
        if self.dialect == "postgresql":
            doc = cast(expr, JSONB)
            found = doc.contains(literal([element], JSONB))
            return case((func.jsonb_typeof(doc) == "array", found), else_=null())
        items = func.json_each(expr).table_valued("value")
        found = exists(select(true()).select_from(items).where(items.c.value == literal(element, String)))
        return case((func.json_type(expr) == "array", found), else_=null())


def _escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards and the escape character itself taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
