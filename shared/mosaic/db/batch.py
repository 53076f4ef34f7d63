"""Write-behind for a transaction's bookkeeping rows: they ride along with its next statement.

A record write carries rows nobody reads back in the same transaction: the audit entry, the
outbox event, the lifecycle row, the request log's result. Sent one by one, each costs a round
trip to PostgreSQL and a full pass through SQLAlchemy's execution machinery (compile, cache key,
events, result set), which measured at about four times the driver's own cost. :func:`defer`
queues such a statement on the transaction's connection instead, its SQL compiled once per shape
and its values already converted by the columns' types. The queue leaves with the *next*
statement the connection runs, prepended to it in the same round trip (psycopg2 sends the string
as one simple-query message; PostgreSQL runs the statements in order and answers the last one's
result, so the caller sees its own statement's rows and row count), or on its own just before
the transaction commits or opens a savepoint.

What stays true:

- order: queued statements run before any later statement of the transaction, in the order they
  were queued (the outbox's ``seq`` follows the write order; a lookup sees the rows);
- atomicity: they commit with the transaction or not at all; a rollback (or a rollback to a
  savepoint opened after them) drops them; a failing one fails the transaction at the statement
  it rode with, or at the commit, never silently;
- tenancy: a queued statement names the tenant of the session's connection in its values
  (``tenant_id``), checked here as :mod:`mosaic.db.core_scope` checks a Core INSERT;
- other databases (SQLite in the embedded mode, where a statement costs no round trip) run the
  statement at once through SQLAlchemy, as before.

Only for statements whose result the caller does not need (no RETURNING, no row count).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, bindparam, event, insert, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from mosaic.db.core_scope import TenantLeak
from mosaic.db.reads import OWN_BLOCK_OPTION, begin_sql, end_sql, in_transaction, ours

#: ``conn.info`` key of the queue: the DBAPI connection's, so every ``Connection`` over it shares it
PENDING = "mosaic.pending"
#: ``conn.info`` key of the conflicts the transaction's sent INSERTs asked to be told of
SENT = "mosaic.sent"
#: ``session.info`` key of the connection of the session's transaction (see _connection)
_CONNECTION = "mosaic.connection"
#: PostgreSQL's unique_violation
_UNIQUE_VIOLATION = "23505"
#: execution option of a queue sent on its own (lets it past the refusal of driver-level SQL)
BATCH_OPTION = "mosaic_batch"
#: the execution option carrying a tenant session's tenant (set by mosaic.db.tenancy)
TENANT_OPTION = "mosaic_tenant"

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class _Shape:
    """One statement compiled for the driver: its SQL with ``%(@name)s`` placeholders (renamed
    per position in a batch) and the type conversion of each parameter."""

    template: str
    processors: tuple[tuple[str, Any], ...]

    def params(self, values: dict) -> dict:
        out = dict(values)
        for name, process in self.processors:
            value = out.get(name)
            if value is not None and type(value) is not Serialized:
                out[name] = process(value)
        return out


class Serialized(str):
    """A JSON column's value already in its JSON text: queued as is, not encoded again."""


def _decoded(values: dict) -> dict:
    """``values`` with :class:`Serialized` texts decoded, for a statement run through SQLAlchemy."""
    if not any(type(v) is Serialized for v in values.values()):
        return values
    return {k: json.loads(v) if type(v) is Serialized else v for k, v in values.items()}


_shapes: dict[tuple, _Shape] = {}


def _shape(key: tuple, stmt, dialect, names: list[str]) -> _Shape:
    shape = _shapes.get(key)
    if shape is None:
        compiled = stmt.compile(dialect=dialect, column_keys=names)
        processors = tuple((name, proc) for name, proc in compiled._bind_processors.items() if proc is not None)
        template = _PLACEHOLDER.sub(lambda m: f"%(@{m.group(1)})s", compiled.string)
        shape = _shapes[key] = _Shape(template, processors)
    return shape


def _connection(session: Session) -> Connection:
    """``session.connection()``, remembered for the session's current (innermost) transaction: a
    write queues several rows, and the session's lookup of its connection costs more than
    queueing one. Another transaction (a savepoint begun, whose SAVEPOINT the lookup emits), or a
    connection given back (commit, rollback, close), asks the session again."""
    transaction = session._transaction
    cached = session.info.get(_CONNECTION)
    if cached is not None and cached[0] is transaction and transaction is not None:
        conn = cached[1]
        if not (conn.closed or conn.invalidated) and conn.in_transaction():
            return conn
    conn = session.connection()
    session.info[_CONNECTION] = (session._transaction, conn)
    return conn


def _checked_tenant(conn: Connection, values: dict) -> dict:
    """``values`` stamped with the connection's tenant, or TenantLeak if they name another."""
    tenant = conn._execution_options.get(TENANT_OPTION)
    if tenant is None:
        return values
    named = values.get("tenant_id", tenant)
    if named != tenant:
        raise TenantLeak("a queued statement names another tenant")
    return values if "tenant_id" in values else {**values, "tenant_id": tenant}


def _info(conn: Connection) -> dict | None:
    """The info dict of the connection's DBAPI connection, None once it is invalidated (a lost
    connection: ``Connection.info`` would raise until the transaction is rolled back)."""
    pooled = conn._dbapi_connection
    return None if pooled is None else pooled.info


def _pending(conn: Connection) -> list | None:
    info = _info(conn)
    return None if info is None else info.get(PENDING)


def _queue(conn: Connection, shape: _Shape, params: dict, conflict: tuple[str, Any] | None = None) -> None:
    info = conn.info  # raises on an invalidated connection, as executing the statement would
    pending = info.get(PENDING)
    if pending is None:
        pending = info[PENDING] = []
    pending.append((shape, params, conflict))


class QueuedConflict(BaseException):
    """A queued INSERT met a row with its primary key, and its caller asked to be told
    (``defer_insert(..., conflict_tag=...)``): raised in place of the database's unique violation
    by the statement that carried it. A ``BaseException``, like ``GreenletExit``: code between
    the statement and the caller that asked (a step's ``except Exception``) must not swallow it,
    as the transaction is already failed."""

    def __init__(self, tag: Any):
        super().__init__(tag)
        self.tag = tag


def defer_insert(session: Session, table: Table, values: dict, *, conflict_tag: Any = None) -> None:
    """INSERT one row of ``table`` (``values`` by column name) with the transaction's next
    statement (see the module docstring). With ``conflict_tag``, a row already holding its
    primary key (committed, or committed meanwhile by a concurrent transaction the INSERT waited
    for) raises :class:`QueuedConflict` with that tag, wherever the INSERT went out."""
    conn = _connection(session)
    values = _checked_tenant(conn, values) if "tenant_id" in table.c else values
    if conn.dialect.name != "postgresql":
        try:
            conn.execute(insert(table), _decoded(values))
        except IntegrityError:
            if conflict_tag is None:
                raise
            raise QueuedConflict(conflict_tag) from None
        return
    names = tuple(sorted(values))
    key = ("insert", table, names)
    # the statement is built only for a shape not compiled yet: a write queues several rows
    shape = _shapes.get(key) or _shape(key, insert(table), conn.dialect, list(names))
    # the constraint's name as the metadata names it, or as PostgreSQL names an unnamed one
    conflict = None if conflict_tag is None else (table.primary_key.name or f"{table.name}_pkey", conflict_tag)
    _queue(conn, shape, shape.params(values), conflict)


def defer_update(session: Session, table: Table, key: dict, values: dict) -> None:
    """UPDATE the row of ``table`` whose columns equal ``key`` (its primary key, ``tenant_id``
    included for a tenant table) to ``values``, with the transaction's next statement."""
    conn = _connection(session)
    if "tenant_id" in table.c:
        key = _checked_tenant(conn, key)
    if conn.dialect.name != "postgresql":
        conn.execute(update(table).where(*(table.c[k] == v for k, v in key.items())).values(**_decoded(values)))
        return
    key_names, value_names = sorted(key), sorted(values)
    shape_key = ("update", table, tuple(key_names), tuple(value_names))
    shape = _shapes.get(shape_key)
    if shape is None:
        stmt = (update(table).where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in key_names)))
                .values({table.c[v]: bindparam(f"v_{v}", type_=table.c[v].type) for v in value_names}))
        shape = _shape(shape_key, stmt, conn.dialect, [])
    params = {f"k_{k}": v for k, v in key.items()}
    params.update({f"v_{v}": values[v] for v in value_names})
    _queue(conn, shape, shape.params(params))


#: a transaction-scoped advisory lock on a text key (64-bit hash), as a queued statement
_LOCK = _Shape("SELECT pg_advisory_xact_lock(hashtextextended(%(@key)s, 0))", ())


def defer_locks(session: Session, keys) -> None:
    """Take a transaction-scoped lock on each of ``keys`` (sorted: two writers never deadlock)
    with the transaction's next statement, which then runs once the locks are held: in READ
    COMMITTED each statement of the round trip takes its snapshot when it starts, so that
    statement sees what the lock's previous holder committed. PostgreSQL only; other databases
    serialise writers already."""
    conn = _connection(session)
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        _queue(conn, _LOCK, {"key": key})


def _take(conn: Connection) -> tuple[str, dict] | None:
    """The queued statements as one SQL string and its parameters, emptying the queue."""
    pending = _pending(conn)
    if not pending:
        return None
    info = _info(conn)
    info[PENDING] = []
    conflicts = [c for _shape_, _values, c in pending if c is not None]
    if conflicts:  # to tell their unique violation apart (see _queued_conflict)
        info[SENT] = info.get(SENT, []) + conflicts
    parts, params = [], {}
    for i, (shape, values, _conflict) in enumerate(pending):
        prefix = f"mosaic.{i}."  # a dot: never in the names SQLAlchemy gives binds
        parts.append(shape.template.replace("%(@", "%(" + prefix))
        for name, value in values.items():
            params[prefix + name] = value
    return ";\n".join(parts), params


#: execution options of a queue sent on its own: past the refusal of driver SQL, and beginning
#: (and at the commit, ending) its transaction block itself (mosaic.db.reads)
_SEND_OPTIONS = {BATCH_OPTION: True, OWN_BLOCK_OPTION: True}


def flush(conn: Connection) -> None:
    """Run the connection's queued statements now, in one round trip."""
    batch = _take(conn)
    if batch is not None:
        conn.exec_driver_sql(begin_sql(conn) + batch[0], batch[1], execution_options=_SEND_OPTIONS)


def flush_session(session: Session) -> None:
    """:func:`flush` for the session's connection, and its transaction begun (before
    driver-level work such as COPY, which no event sees)."""
    if session.in_transaction():
        conn = session.connection()
        flush(conn)
        in_transaction(conn)  # what follows runs in the transaction (mosaic.db.reads)


def discard(conn: Connection) -> None:
    """Drop the queue (its transaction, or savepoint, rolled back)."""
    info = _info(conn)
    if info is not None and (info.get(PENDING) or info.get(SENT)):
        info[PENDING] = []
        info.pop(SENT, None)


# -- when the queue leaves --------------------------------------------------------------------

@event.listens_for(Engine, "before_execute")
def _before_execute(conn: Connection, clauseelement, multiparams, params, execution_options):
    # Many parameter sets (executemany, insertmanyvalues) or driver SQL cannot carry the queue in
    # front of them: send it first, on its own.
    if _pending(conn) and (len(multiparams) > 1 or isinstance(clauseelement, str)) \
            and not execution_options.get(BATCH_OPTION):
        flush(conn)


@event.listens_for(Engine, "before_cursor_execute", retval=True)
def _ride_along(conn: Connection, _cursor, statement, parameters, context, executemany):
    if executemany or not isinstance(parameters, dict) or context is None or context.no_parameters:
        return statement, parameters
    batch = _take(conn)
    if batch is None:
        return statement, parameters
    sql, merged = batch
    merged.update(parameters)
    # queued writes and locks need the transaction block (mosaic.db.reads): it begins here
    return f"{begin_sql(conn, context)}{sql};\n{statement}", merged


@event.listens_for(Engine, "commit")
def _before_commit(conn: Connection) -> None:
    # The queue and, when the transaction block is ours (mosaic.db.reads), its COMMIT: one round
    # trip; the driver's own commit is then a no-op.
    batch = _take(conn)
    commit = end_sql(conn) or ("COMMIT" if batch is not None and ours(conn) else "")
    if batch is not None:
        sql = begin_sql(conn) + batch[0] + (f";\n{commit}" if commit else "")
        conn.exec_driver_sql(sql, batch[1], execution_options=_SEND_OPTIONS)
    elif commit:
        conn.exec_driver_sql(commit, execution_options={**_SEND_OPTIONS, "no_parameters": True})
    _info(conn).pop(SENT, None)


@event.listens_for(Engine, "handle_error")
def _queued_conflict(context) -> None:
    """A unique violation of a sent INSERT that asked for it becomes :class:`QueuedConflict`."""
    orig = context.original_exception
    if getattr(orig, "pgcode", None) != _UNIQUE_VIOLATION or context.connection is None:
        return
    info = _info(context.connection)
    constraint = getattr(getattr(orig, "diag", None), "constraint_name", None)
    for name, tag in (info or {}).get(SENT, ()):
        if name == constraint:
            raise QueuedConflict(tag) from context.sqlalchemy_exception


@event.listens_for(Engine, "savepoint")
def _before_savepoint(conn: Connection, _name) -> None:
    flush(conn)  # what comes before the savepoint must outlive a rollback to it


@event.listens_for(Engine, "rollback")
def _on_rollback(conn: Connection) -> None:
    discard(conn)


@event.listens_for(Engine, "rollback_savepoint")
def _on_rollback_savepoint(conn: Connection, _name, _context) -> None:
    discard(conn)


@event.listens_for(Pool, "reset")
def _on_reset(_dbapi_connection, record, _reset_state) -> None:
    if record.info.get(PENDING):  # a transaction ended without SQLAlchemy's rollback (invalidated)
        record.info[PENDING] = []
