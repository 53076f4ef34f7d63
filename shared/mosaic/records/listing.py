"""Record lists: filter, sort (a field, or a part of a money field), keyset pages, field
selection and, on request, the number of matching records.

Mixed into :class:`~mosaic.records.store.RecordStore`; the export pages of a service use the same
query, order and cursors (:meth:`RecordLists.list_query`, :meth:`RecordLists.page_after`,
:meth:`RecordLists.cursor_after`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from mosaic.errors import BadRequest, ValidationFailed
from mosaic.filters import compile_sql, parse
from mosaic.filters.parser import MONEY_PARTS
from mosaic.metadata.cache import LRUCache
from mosaic.metadata.fields import FieldDef, FieldType, ObjectDef
from mosaic.metadata.schema_factory import to_json_value
from mosaic.records import paging
from mosaic.records.models import Record
from mosaic.records.reading import read_plan

_FILTERS_KEY = ("__parsed_filters__",)  # kept in ObjectDef._index beside field names (strings)
#: types no list sorts by as a whole (a money field sorts by a part: ``budget.amount``)
UNSORTABLE = {FieldType.MONEY, FieldType.MULTI_PICKLIST, FieldType.LONG_TEXT}
#: ``count=true`` counts exactly up to this many matching records; beyond it PostgreSQL answers
#: the planner's estimate (``total_is_estimate``), so a count never scans a huge table.
COUNT_EXACT_LIMIT = 10_000


@dataclass(frozen=True)
class ListQuery:
    """A list's statement (filter applied) and its sort: the field, the part of it (money), the
    SQL expression sorted on, and whether that can be NULL."""

    stmt: Any
    sort: paging.Sort
    field: FieldDef
    part: str | None
    expr: Any
    nullable: bool

    def value_of(self, value: Any) -> Any:
        """The sort value of a record whose ``field`` has the python value ``value``."""
        if self.part is not None:
            return value.get(self.part) if isinstance(value, dict) else None
        return value


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <select>`` with the select's parameters bound as usual."""

    inherit_cache = False

    def __init__(self, statement):
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element, compiler, **kw):
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


class RecordLists:
    """The list half of the record engine (``session``, ``dialect``, ``max_page``, ``_model``,
    ``_json_col``, ``_expr``, ``allow`` and ``_check_fields`` come from the store)."""

    count_exact_limit = COUNT_EXACT_LIMIT

    def list(self, obj_name: str, *, filter: str | None = None, sort: str | None = None,
             cursor: str | None = None, limit: int = 50, fields: list[str] | None = None,
             now: datetime | None = None, count: bool = False) -> dict:
        """A page of records matching ``filter``, in ``sort`` order, after ``cursor``; with
        ``count``, also ``total`` (and ``total_is_estimate``) of every matching record."""
        obj = self.obj(obj_name)
        self.allow(obj, "read")
        self._check_fields(obj, fields)
        plan = read_plan(obj, self._model(obj), self._json_col(obj))
        q = self.list_query(obj, filter, sort, now, columns=plan.columns)
        limit = paging.page_limit(limit, self.max_page)
        stmt = self.page_after(obj, q, cursor)
        rows = self.session.execute(stmt.order_by(*self.list_order(obj, q)).limit(limit + 1)).all()
        wanted = None if not fields else set(fields) | {"id", "version"}
        items = [plan.api(r, wanted) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = self.cursor_after(q, plan.python_value(last, q.field),
                                            plan.python_value(last, obj.field("id")))
        page = {"items": items, "next_cursor": next_cursor}
        if count:
            page["total"], page["total_is_estimate"] = self.count(obj, filter, now)
        return page

    # -- the pieces an export shares ------------------------------------------------------------
    def list_query(self, obj: ObjectDef, filter: str | None, sort: str | None, now: datetime | None,
                   columns: list | None = None) -> ListQuery:
        """The filtered statement of a list of ``obj`` and its parsed ``sort``."""
        stmt = self._filtered(obj, filter, now, select(*columns) if columns else select(self._model(obj)))
        fields = {f.name: f for f in obj.fields}
        whole = fields.get((sort or "").strip().lstrip("+-"))
        if whole is not None and whole.type is FieldType.MONEY:
            parts = " or ".join(f"{whole.name}.{p}" for p in MONEY_PARTS)
            raise BadRequest(f"a money field sorts by a part: {parts}", errors={"sort": [f"sort by {parts}"]})
        srt = paging.parse_sort(sort, self._sortable(obj, fields))
        name, _, part = srt.field.partition(".")
        fd = fields[name]
        nullable = self._nullable(obj, fd) if not part else True
        return ListQuery(stmt, srt, fd, part or None, self._expr(obj, fd, part or None), nullable)

    def page_after(self, obj: ObjectDef, q: ListQuery, cursor: str | None):
        """``q``'s statement limited to the rows after ``cursor`` (a 400 for a foreign cursor)."""
        if not cursor:
            return q.stmt
        value, last_id = paging.decode_cursor(cursor, q.sort)
        if value is not None and q.part is None and not q.field.is_column:
            value = to_json_value(q.field, value)
        return q.stmt.where(paging.after(q.expr, self._model(obj).id, q.sort, value, last_id, q.nullable))

    def list_order(self, obj: ObjectDef, q: ListQuery) -> list:
        """ORDER BY of ``q`` (NULLs last, the id breaking ties)."""
        return paging.order_by(q.expr, self._model(obj).id, q.sort, q.nullable)

    @staticmethod
    def cursor_after(q: ListQuery, value: Any, record_id: str) -> str:
        """The cursor after the record with python value ``value`` of the sort field."""
        return paging.encode_cursor(q.sort, q.value_of(value), record_id)

    # -- counting -------------------------------------------------------------------------------
    def count(self, obj: ObjectDef, filter: str | None, now: datetime | None = None) -> tuple[int, bool]:
        """How many records of ``obj`` match ``filter``: ``(total, is_estimate)``. Exact up to
        :attr:`count_exact_limit`; beyond it, on PostgreSQL, the planner's estimate."""
        model = self._model(obj)
        # The tenant is named here as well as by the session's scoping: the estimate below runs
        # on the connection, where no session event adds it.
        inner = self._filtered(obj, filter, now, select(model.id).where(model.tenant_id == self._tenant()))
        if self.dialect != "postgresql":
            return self.session.scalar(select(func.count()).select_from(inner.subquery())), False
        capped = select(func.count()).select_from(inner.limit(self.count_exact_limit + 1).subquery())
        exact = self.session.scalar(capped)
        if exact <= self.count_exact_limit:
            return exact, False
        plan = self.session.connection().execute(_Explain(inner)).scalar()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        estimate = int(plan[0]["Plan"]["Plan Rows"])
        return max(estimate, exact), True

    # -- helpers --------------------------------------------------------------------------------
    def _tenant(self) -> str:
        return self.session.info["tenant_id"]

    def _filtered(self, obj: ObjectDef, filter: str | None, now: datetime | None, stmt):
        if obj.model is None:
            stmt = stmt.where(Record.object == obj.name)
        if filter:
            flt = self._parsed(obj, filter, {f.name: f for f in obj.fields})
            when = now or datetime.now(timezone.utc)
            resolve: Callable = lambda fd, sub: self._expr(obj, fd, sub)  # noqa: E731
            stmt = stmt.where(compile_sql(flt, resolve, when, self.dialect))
        return stmt

    @staticmethod
    def _sortable(obj: ObjectDef, fields: dict[str, FieldDef]) -> set[str]:
        names = {n for n, f in fields.items() if f.type not in UNSORTABLE
                 and not (f.type is FieldType.FORMULA and f.formula_type is None)}
        names |= {f"{n}.{part}" for n, f in fields.items()
                  if f.type is FieldType.MONEY and not f.is_column for part in MONEY_PARTS}
        return names

    @staticmethod
    def _parsed(obj: ObjectDef, text: str, fields: dict):
        """The parsed filter, cached with the (immutable) object definition: a list page asks
        the same few filters again and again."""
        cache = obj._index.get(_FILTERS_KEY)
        if cache is None:
            cache = obj._index[_FILTERS_KEY] = LRUCache(256)
        flt = cache.get(text)
        if flt is None:
            flt = parse(text, fields)
            cache.put(text, flt)
        return flt

    def _nullable(self, obj: ObjectDef, fd: FieldDef) -> bool:
        """Whether the sort field's values can be NULL (JSON-stored ones always can)."""
        if not fd.is_column:
            return True
        return bool(getattr(self._model(obj), fd.attr).property.columns[0].nullable)

    def _check_fields(self, obj: ObjectDef, fields: list[str] | None) -> None:
        unknown = [f for f in fields or () if obj.field(f) is None]
        if unknown:
            raise ValidationFailed("unknown fields requested", errors={"fields": [f"unknown field {f!r}" for f in unknown]})

