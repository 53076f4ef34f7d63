"""Tenant scoping, enforced by the session itself.

A session made by :func:`tenant_session` carries its tenant in ``session.info``. Every ORM
SELECT, UPDATE and DELETE it runs gets ``tenant_id = :tenant`` added for every tenant-scoped
entity it touches (``with_loader_criteria``, aliases and relationship loads included); every
ORM INSERT and every flushed object is stamped with, or checked against, the tenant. Core
statements on tenant tables (``select(T.__table__)``, ``insert(table)`` with executemany rows,
INSERT ... FROM SELECT, UPDATE ... FROM) are scoped or refused on the session's *connection*
(:mod:`mosaic.db.core_scope`), so ``session.connection().execute(...)`` is covered too. Textual
SQL is refused in a tenant session: it cannot be scoped. Code that truly needs to cross tenants
(migrations, the relay) uses :func:`system_session`, which is explicit at the call site.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, with_loader_criteria
from sqlalchemy.sql.elements import TextClause

from mosaic.db.base import TenantScoped
from mosaic.db.batch import BATCH_OPTION, TENANT_OPTION
from mosaic.db.core_scope import TenantLeak, check_driver_sql, scope_statement

__all__ = ["TenantLeak", "system_session", "tenant_session", "unscoped"]



def tenant_session(engine: Engine, tenant_id: str, **kwargs) -> Session:
    """A session that can only see and change rows of ``tenant_id``."""
    if not tenant_id:
        raise TenantLeak("a tenant session needs a tenant id")
    session = Session(engine, expire_on_commit=False, **kwargs)
    session.info["tenant_id"] = tenant_id
    return session


def system_session(engine: Engine, **kwargs) -> Session:
    """A session with no tenant scope, for platform work that spans tenants (relay, migrations)."""
    session = Session(engine, expire_on_commit=False, **kwargs)
    session.info["system"] = True
    return session


def _tenant_of(session: Session) -> str | None:
    tenant = session.info.get("tenant_id")
    if tenant is None and not session.info.get("system"):
        raise TenantLeak("session is neither a tenant session nor a system session")
    return tenant


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    tenant = _tenant_of(state.session)
    if tenant is None:
        return
    if isinstance(state.statement, TextClause):
        raise TenantLeak("textual SQL cannot be tenant-scoped; use a SQLAlchemy expression")
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tenant, include_aliases=True)
        )
    elif state.is_insert:
        entity = state.bind_mapper.class_ if state.bind_mapper is not None else None
        if entity is not None and issubclass(entity, TenantScoped):
            rows = state.parameters if isinstance(state.parameters, list) else [state.parameters or {}]
            for row in rows:
                if row.get("tenant_id", tenant) != tenant:
                    raise TenantLeak("insert names another tenant")
                row["tenant_id"] = tenant


@event.listens_for(Session, "before_flush")
def _stamp_objects(session: Session, _flush_context, _instances) -> None:
    tenant = _tenant_of(session)
    if tenant is None:
        return
    for obj in session.new:
        if isinstance(obj, TenantScoped):
            if obj.tenant_id is None:
                obj.tenant_id = tenant
            elif obj.tenant_id != tenant:
                raise TenantLeak("object belongs to another tenant")
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, TenantScoped) and obj.tenant_id != tenant:
            raise TenantLeak("object belongs to another tenant")


@contextmanager
def unscoped(session: Session) -> Iterator[Connection]:
    """The connection of ``session`` with tenant scoping lifted for the block: for SQL that
    cannot be scoped and reads no tenant data (EXPLAIN in a test, ANALYZE). Explicit at the call
    site, like :func:`system_session`."""
    conn = session.connection()
    tenant = conn._execution_options.get(TENANT_OPTION)
    conn.execution_options(**{TENANT_OPTION: None})
    try:
        yield conn
    finally:
        conn.execution_options(**{TENANT_OPTION: tenant})


@event.listens_for(Session, "after_begin")
def _mark_connection(session: Session, _transaction: SessionTransaction,
                     connection: Connection) -> None:
    # Set for system sessions too (to None): a connection a test binds to several sessions must
    # not keep the scope of the previous one.
    connection.execution_options(**{TENANT_OPTION: _tenant_of(session)})


@event.listens_for(Engine, "before_execute", retval=True)
def _scope_core(conn: Connection, clauseelement, multiparams, params, _execution_options):
    tenant = conn._execution_options.get(TENANT_OPTION)
    if tenant is None:
        return clauseelement, multiparams, params
    return scope_statement(clauseelement, multiparams, params, tenant)


@event.listens_for(Engine, "before_cursor_execute")
def _refuse_driver_sql(conn: Connection, _cursor, statement, _parameters, context, _executemany):
    # exec_driver_sql bypasses before_execute; its context has no compiled statement.
    if context is not None and context.compiled is None \
            and conn._execution_options.get(TENANT_OPTION) is not None \
            and not context.execution_options.get(BATCH_OPTION):
        check_driver_sql(statement)
