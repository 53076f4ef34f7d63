"""Tenant scoping of Core statements (the ORM's are scoped by ``with_loader_criteria``).

A *tenant table* is any table with a ``tenant_id`` column (the tables of ``TenantScoped``
models, and light ``table()`` clauses naming theirs). On a connection of a tenant session every
statement is rewritten or refused before it reaches the database, whether it came through
``session.execute`` or ``session.connection().execute``:

* every SELECT (top level, subquery, CTE, union member, EXISTS) gets ``t.tenant_id = :tenant``
  for each tenant table or alias it reads: in the WHERE clause, or in the ON clause of the join
  that brings it in (so an outer join still keeps its unmatched rows). A FULL join to a tenant
  table, or an outer join without an ON clause, cannot be scoped that way and is refused;
* every UPDATE and DELETE is limited the same way, target and UPDATE ... FROM tables alike, and
  may not move a row to another tenant;
* every INSERT is stamped with the tenant, or refused when it names another one: single rows,
  executemany parameter lists, multi-row VALUES, and INSERT ... FROM SELECT, whose ``tenant_id``
  must be the tenant itself or a (scoped) tenant table's ``tenant_id``;
* textual SQL (``text()``, driver strings) is refused: it cannot be scoped.

Statements built by the ORM from mapped entities carry annotated tables; those are left to the
ORM's loader criteria, so a plain ORM query is not walked twice.
"""
from __future__ import annotations

import re
import weakref
from typing import Any

from sqlalchemy import String, and_, literal
from sqlalchemy.sql import visitors
from sqlalchemy.util import immutabledict
from sqlalchemy.sql.dml import Delete, Insert, Update, UpdateBase
from sqlalchemy.sql.elements import BindParameter, ClauseElement, Label, TextClause
from sqlalchemy.sql.selectable import (Alias, AliasedReturnsRows, CompoundSelect, FromGrouping, Join,
                                       Select, TableClause, TextualSelect)


class TenantLeak(RuntimeError):
    """Raised when code tries to read or write across tenants through a tenant session."""


TENANT_COLUMN = "tenant_id"
#: transaction control a driver emits on a connection (SQLite's explicit BEGIN): not tenant data
_TRANSACTION_SQL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


def _is_tenant_table(fc: Any, orm: bool) -> bool:
    """Whether ``fc`` is a tenant table (or an alias of one) this pass must scope. In an ORM
    statement, tables annotated by mapped entities are the loader criteria's."""
    if isinstance(fc, Alias) and not isinstance(fc.element, TableClause):
        return False
    base = fc.element if isinstance(fc, Alias) else fc
    if not isinstance(base, TableClause) or TENANT_COLUMN not in base.c:
        return False
    return not (orm and (fc._annotations or base._annotations))


def _key(fc: Any) -> Any:
    """Identity of a FROM element in one statement: cloning may copy an alias more than once
    (its columns and the join naming it), but its name and table stay."""
    return ("alias", fc.name, id(fc.element)) if isinstance(fc, Alias) else id(fc)


def _criterion(fc: Any, tenant: str) -> ClauseElement:
    return fc.c[TENANT_COLUMN] == literal(tenant, String)


def _is_orm(stmt: Any) -> bool:
    return stmt._propagate_attrs.get("compile_state_plugin") == "orm"


#: statement_shape answers by statement structure (SQLAlchemy's cache key, which it computes for
#: every execution anyway): the tree walk is paid once per statement shape, not per execution
_NEEDS_SCOPING: dict = {}
_NEEDS_SCOPING_SIZE = 4096
#: what makes a statement more than one level deep: its scoping must walk (and clone) the tree
_NESTED = (Select, CompoundSelect, UpdateBase, Join, AliasedReturnsRows, FromGrouping, TextClause,
           TextualSelect)


def statement_shape(stmt: ClauseElement) -> tuple[bool, bool]:
    """``(needs, flat)``, remembered per statement shape: whether :func:`_needs_scoping`, and
    whether ``stmt`` is *flat* (no subquery, join object, alias, CTE or text anywhere below it),
    so that scoping it only adds criteria to the statement itself."""
    key = stmt._generate_cache_key()
    if key is None:
        return _needs_scoping(stmt), _is_flat(stmt)
    hit = _NEEDS_SCOPING.get(key.key)
    if hit is None:
        if len(_NEEDS_SCOPING) >= _NEEDS_SCOPING_SIZE:
            _NEEDS_SCOPING.clear()
        hit = _NEEDS_SCOPING[key.key] = (_needs_scoping(stmt), _is_flat(stmt))
    return hit


def needs_scoping(stmt: ClauseElement) -> bool:
    """:func:`_needs_scoping`, remembered per statement shape."""
    return statement_shape(stmt)[0]


def _is_flat(stmt: ClauseElement) -> bool:
    return not any(elem is not stmt and isinstance(elem, _NESTED) for elem in visitors.iterate(stmt))


def _needs_scoping(stmt: ClauseElement) -> bool:
    """Cheap pre-check: does ``stmt`` read or write a tenant table this module scopes, or hold
    textual SQL? (Only the FROM lists of its statements count: a mapped entity's alias holds
    its plain table inside, and that one is the ORM's.)"""
    for elem in visitors.iterate(stmt):
        if isinstance(elem, (TextClause, TextualSelect)):
            return True
        if isinstance(elem, Select):
            if _Scoper._core_tenant_froms(elem):
                return True
        elif isinstance(elem, UpdateBase) and _is_tenant_table(elem.table, _is_orm(elem)):
            return True
    return False


class _Scoper:
    """One statement's rewrite for one tenant (see the module docstring)."""

    def __init__(self, tenant: str):
        self.tenant = tenant

    def visit_select(self, select: Select) -> None:
        orm = _is_orm(select)
        for fc in select._from_obj:
            if isinstance(fc, (TextClause, TextualSelect)):
                raise TenantLeak("a textual FROM cannot be tenant-scoped")
        joined: set[int] = set()
        setup = []
        for target, onclause, from_, flags in select._setup_joins:
            if _is_tenant_table(target, orm):
                if flags.get("full"):
                    raise TenantLeak("a FULL JOIN to a tenant table cannot be tenant-scoped")
                if onclause is not None:
                    onclause = and_(onclause, _criterion(target, self.tenant))
                    joined.add(_key(target))
                elif flags.get("isouter"):
                    raise TenantLeak("an outer join to a tenant table needs an explicit ON clause "
                                     "in a tenant session")
            setup.append((target, onclause, from_, flags))
        select._setup_joins = tuple(setup)
        for fc in select._from_obj:
            self._mark_join_rights(fc, joined)
        where = []
        for fc in self._core_tenant_froms(select):
            if _key(fc) not in joined:
                joined.add(_key(fc))
                where.append(_criterion(fc, self.tenant))
        if where:
            select._where_criteria += tuple(where)

    @staticmethod
    def _core_tenant_froms(select: Select) -> list:
        """The tenant tables ``select`` reads directly that are not a mapped entity's."""
        froms = _Scoper._froms(select)
        if not _is_orm(select):
            return [fc for fc in froms if _is_tenant_table(fc, False)]
        # An entity's columns in a WHERE clause point at its plain table or alias: the ORM's too.
        owned = set()
        for fc in froms:
            if fc._annotations:
                plain = fc._deannotate()
                owned.update((id(plain), id(getattr(plain, "element", plain))))
        return [fc for fc in froms if _is_tenant_table(fc, True) and id(fc) not in owned]

    @staticmethod
    def _froms(select: Select) -> list:
        """Every FROM element ``select`` reads directly (nested selects scope themselves)."""
        out: list = []
        parts = list(select._raw_columns) + list(select._where_criteria) + list(
            select._having_criteria)
        for part in parts:
            out.extend(part._from_objects)
        for target, _on, from_, _flags in select._setup_joins:
            out.append(target)
            if from_ is not None:
                out.append(from_)
        stack = list(select._from_obj)
        while stack:
            fc = stack.pop()
            if isinstance(fc, Join):
                stack.extend((fc.left, fc.right))
            else:
                out.append(fc)
        return out

    def _mark_join_rights(self, fc: Any, joined: set[int]) -> None:
        """Explicit ``a.join(b)`` objects: scope each tenant table on a join's right side in
        that join's ON clause."""
        if not isinstance(fc, Join):
            return
        self._mark_join_rights(fc.left, joined)
        self._mark_join_rights(fc.right, joined)
        right = fc.right
        while isinstance(right, Join):  # a.join(b.join(c)): b is what this join brings in
            right = right.left
        if _is_tenant_table(right, False) and _key(right) not in joined:
            if fc.full:
                raise TenantLeak("a FULL JOIN to a tenant table cannot be tenant-scoped")
            fc.onclause = and_(fc.onclause, _criterion(right, self.tenant))
            joined.add(_key(right))

    def visit_compound_select(self, _compound: CompoundSelect) -> None:
        pass  # its selects are visited one by one

    def refuse_text(self, _elem: Any) -> None:
        raise TenantLeak("textual SQL cannot be tenant-scoped; use a SQLAlchemy expression")

    def visitors(self) -> dict:
        return {"select": self.visit_select, "textclause": self.refuse_text,
                "textual_select": self.refuse_text}


def _value_of(value: Any) -> Any:
    return value.value if isinstance(value, BindParameter) else value


def _check_values(values: dict, tenant: str, what: str) -> bool:
    """Whether ``values`` (column or name -> value) names the tenant; refuses another one."""
    for key, value in values.items():
        if getattr(key, "key", key) == TENANT_COLUMN:
            if _value_of(value) != tenant:
                raise TenantLeak(f"{what} names another tenant")
            return True
    return False


def _check_rows(rows: list[dict], tenant: str, stamp: bool) -> list[dict]:
    out = []
    for row in rows:
        if row.get(TENANT_COLUMN, tenant) != tenant:
            raise TenantLeak("the statement's parameters name another tenant")
        if stamp and TENANT_COLUMN not in row:
            row = {**row, TENANT_COLUMN: tenant}
        out.append(row)
    return out


def _check_from_select(stmt: Insert, tenant: str) -> None:
    names = [getattr(n, "key", n) for n in stmt._select_names or ()]
    if TENANT_COLUMN not in names:
        raise TenantLeak("INSERT ... FROM SELECT into a tenant table must select its tenant_id")
    at = names.index(TENANT_COLUMN)
    select = stmt.select
    selects = select.selects if isinstance(select, CompoundSelect) else [select]
    for sel in selects:
        col = list(sel.selected_columns)[at]
        while isinstance(col, Label):
            col = col.element
        if isinstance(col, BindParameter) and col.value == tenant:
            continue
        table = getattr(col, "table", None)
        if getattr(col, "name", None) == TENANT_COLUMN and table is not None \
                and _is_tenant_table(table, False):
            continue  # that table is scoped to the tenant by the select's own criteria
        raise TenantLeak("INSERT ... FROM SELECT must take tenant_id from the tenant itself "
                         "or from a tenant table")


def check_driver_sql(statement: str) -> None:
    """Refuse driver-level SQL (``exec_driver_sql``) on a tenant connection, but let the
    driver's own transaction control through."""
    if not _TRANSACTION_SQL.match(statement):
        raise TenantLeak("driver-level SQL cannot be tenant-scoped; use a SQLAlchemy expression")


#: SELECTs already scoped, by statement object then tenant: a statement a module builds once and
#: runs on every request (a duplicate check's candidates) is walked once per tenant, not per
#: execution. Weak keys: a statement built per call leaves with its last reference.
_SCOPED_SELECTS: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()
#: tenants remembered per statement before its entry starts again
_SCOPED_TENANTS = 256


def scope_statement(stmt: Any, multiparams: list, params: dict, tenant: str
                    ) -> tuple[Any, list, dict]:
    """``stmt`` and its parameters, scoped to ``tenant`` (or :class:`TenantLeak`)."""
    if isinstance(stmt, (Select, CompoundSelect)):
        # A SELECT's scoping depends on the statement and the tenant only (its parameters are
        # not checked): remembered. SQLAlchemy statements are immutable once built.
        by_tenant = _SCOPED_SELECTS.get(stmt)
        scoped = by_tenant.get(tenant) if by_tenant is not None else None
        if scoped is None:
            scoped = _scope(stmt, multiparams, params, tenant)[0]
            if by_tenant is None or len(by_tenant) >= _SCOPED_TENANTS:
                by_tenant = _SCOPED_SELECTS[stmt] = {}
            by_tenant[tenant] = scoped
        return scoped, multiparams, params
    return _scope(stmt, multiparams, params, tenant)


def _scope(stmt: Any, multiparams: list, params: dict, tenant: str) -> tuple[Any, list, dict]:
    if not isinstance(stmt, (Select, CompoundSelect, UpdateBase, TextClause, TextualSelect)):
        return stmt, multiparams, params  # DDL, function calls, ...
    if isinstance(stmt, (TextClause, TextualSelect)):
        raise TenantLeak("textual SQL cannot be tenant-scoped; use a SQLAlchemy expression")
    needs, flat = statement_shape(stmt)
    if not needs:
        return stmt, multiparams, params
    if isinstance(stmt, Insert) and stmt.select is None and not stmt._multi_values \
            and _is_tenant_table(stmt.table, _is_orm(stmt)) \
            and all(isinstance(v, BindParameter) or not isinstance(v, ClauseElement)
                    for v in (stmt._values or {}).values()):
        # Nothing nested to scope (the common flush and executemany case): check the rows only,
        # on a shallow copy should the VALUES need the tenant.
        return _scope_insert(stmt._generate(), multiparams, params, tenant)
    scoper = _Scoper(tenant)
    if flat:
        # One level (a single-table UPDATE or DELETE, a SELECT without subqueries, join objects
        # or aliases): the criteria go on a shallow copy; nothing below it is shared and changed.
        stmt = stmt._generate()
        if isinstance(stmt, Select):
            scoper.visit_select(stmt)
    else:
        # ORM loader options cannot be cloned (and need not be: they are the ORM's own scoping).
        options = set()
        for elem in visitors.iterate(stmt):
            options.update(getattr(elem, "_with_options", ()))
        stmt = visitors.cloned_traverse(stmt, {"stop_on": options}, scoper.visitors())
    if isinstance(stmt, UpdateBase) and _is_tenant_table(stmt.table, _is_orm(stmt)):
        if isinstance(stmt, Insert):
            return _scope_insert(stmt, multiparams, params, tenant)
        multiparams = _check_rows(multiparams, tenant, stamp=False)
        if params:
            params = _check_rows([params], tenant, stamp=False)[0]
        if isinstance(stmt, Update):
            _check_values(dict(stmt._values or {}), tenant, "UPDATE")
        crit = [_criterion(stmt.table, tenant)]
        seen = {_key(stmt.table)}
        for part in stmt._where_criteria:
            for fc in part._from_objects:  # UPDATE ... FROM / DELETE ... USING
                if _key(fc) not in seen and _is_tenant_table(fc, _is_orm(stmt)):
                    seen.add(_key(fc))
                    crit.append(_criterion(fc, tenant))
        stmt._where_criteria += tuple(crit)
    return stmt, multiparams, params


def _scope_insert(stmt: Insert, multiparams: list, params: dict, tenant: str
                  ) -> tuple[Any, list, dict]:
    if stmt.select is not None:
        _check_from_select(stmt, tenant)
        return stmt, multiparams, params
    for rows in stmt._multi_values:
        for row in rows:
            if not isinstance(row, dict) or not _check_values(row, tenant, "INSERT"):
                raise TenantLeak("a multi-row INSERT into a tenant table must name the tenant in "
                                 "every row")
    if stmt._multi_values:
        return stmt, multiparams, params
    named = _check_values(dict(stmt._values or {}), tenant, "INSERT")
    if multiparams:
        return stmt, _check_rows(multiparams, tenant, stamp=not named), params
    if params:
        return stmt, multiparams, _check_rows([params], tenant, stamp=not named)[0]
    if not named:
        stmt._values = immutabledict({**(stmt._values or {}),
                                      stmt.table.c[TENANT_COLUMN]: literal(tenant, String)})
    return stmt, multiparams, params
