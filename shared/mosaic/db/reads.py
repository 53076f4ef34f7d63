"""Transactions begin with their first statement that needs one, in its round trip.

psycopg2 opens a transaction with a ``BEGIN`` round trip of its own before a connection's first
statement, and ends it with another (``COMMIT``, or ``ROLLBACK`` when SQLAlchemy closes the
session). For a read RPC — one SELECT — that is three round trips where one does the work; for a
create, two of its four.

So the driver stays in autocommit mode and the transaction block is ours:

- a *plain SELECT* runs outside any block. In READ COMMITTED, the isolation every service uses,
  each statement takes its own snapshot whether or not it runs inside a block, so it sees exactly
  what it would have seen inside one;
- the first statement that needs a block (any write, DDL, ``SAVEPOINT``, ``SELECT … FOR UPDATE``,
  a statement carrying queued statements of :mod:`mosaic.db.batch`, driver-level SQL) goes out
  as ``BEGIN;`` and the statement, in one round trip; later statements run inside the block;
- the commit sends ``COMMIT`` with the queued statements still waiting (one round trip), and only
  if a block was begun; a rollback sends ``ROLLBACK`` only then. A transaction of plain SELECTs
  ends with nothing to send;
- work no SQLAlchemy event sees (a COPY, ``SET LOCAL``) calls :func:`in_transaction` first;
- whatever happens, a connection never goes back to the pool, nor starts a transaction, inside a
  block: libpq's own transaction status is checked, and a block left open is rolled back.

Connections asked for an isolation level of their own (``AUTOCOMMIT`` for an index build) are
left to the driver, as are other databases.
"""
from __future__ import annotations

import logging

from psycopg2 import extensions
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool
from sqlalchemy.sql.selectable import Select

log = logging.getLogger(__name__)


class FailedTransaction(RuntimeError):
    """A commit asked of a transaction whose block a failed statement aborted."""


#: execution option of SQL that handles its own BEGIN and COMMIT (mosaic.db.batch's)
OWN_BLOCK_OPTION = "mosaic_own_block"
_IDLE = extensions.TRANSACTION_STATUS_IDLE


def _driver(conn: Connection):
    pooled = conn._dbapi_connection
    return None if pooled is None else pooled.driver_connection


def _ours(conn: Connection, dbapi) -> bool:
    """Whether the connection's transaction block is ours to begin and end (see the docstring)."""
    return (isinstance(dbapi, extensions.connection) and dbapi.autocommit
            and conn._execution_options.get("isolation_level") is None)


def ours(conn: Connection) -> bool:
    """Whether ``conn``'s transaction block is ours to begin and end."""
    return _ours(conn, _driver(conn))


def begin_sql(conn: Connection, context=None) -> str:
    """``"BEGIN;\n"`` to send in front of a statement that needs the transaction block, if the
    block is ours and not begun (nor about to be, by this execution: ``context``); ``""``
    otherwise."""
    if context is not None and getattr(context, "_mosaic_begins", False):
        return ""
    dbapi = _driver(conn)
    if _ours(conn, dbapi) and conn.in_transaction() and dbapi.get_transaction_status() == _IDLE:
        if context is not None:
            context._mosaic_begins = True
        return "BEGIN;\n"
    return ""


def end_sql(conn: Connection) -> str:
    """``"COMMIT"`` if the connection's block is ours and begun, else ``""``. A block a failed
    statement left aborted is refused: PostgreSQL would answer its COMMIT with a silent
    rollback."""
    dbapi = _driver(conn)
    if not _ours(conn, dbapi):
        return ""
    status = dbapi.get_transaction_status()
    if status == extensions.TRANSACTION_STATUS_INERROR:
        raise FailedTransaction("a statement of this transaction failed; nothing of it can be committed")
    return "" if status == _IDLE else "COMMIT"


def in_transaction(conn: Connection) -> None:
    """Begin the block now, if it is ours and not begun (before driver-level work; also from
    the ``begin`` event, where SQLAlchemy's transaction is not yet marked begun)."""
    dbapi = _driver(conn)
    if _ours(conn, dbapi) and dbapi.get_transaction_status() == _IDLE:
        with dbapi.cursor() as cur:
            cur.execute("BEGIN")


def _rollback_block(dbapi) -> None:
    """Roll back a block of ours that is open; a connection that cannot is closed, so that the
    pool drops it rather than hand it out inside a failed block."""
    if not isinstance(dbapi, extensions.connection) or not dbapi.autocommit or dbapi.closed \
            or dbapi.get_transaction_status() == _IDLE:
        return
    try:
        with dbapi.cursor() as cur:
            cur.execute("ROLLBACK")
    except Exception as exc:  # noqa: BLE001 - a connection in doubt is not reused
        log.warning("could not roll back a transaction block, closing its connection: %r", exc)
        dbapi.close()


def _plain_select(statement: str, context) -> bool:
    compiled = getattr(context, "compiled", None)
    if compiled is None or statement != context.statement:  # driver SQL, or queued statements
        return False
    stmt = compiled.statement
    return isinstance(stmt, Select) and stmt._for_update_arg is None


@event.listens_for(Engine, "begin")
def _start(conn: Connection) -> None:
    if conn.dialect.name != "postgresql" or conn._execution_options.get("isolation_level") is not None:
        return
    dbapi = _driver(conn)
    if dbapi is None:
        return
    _rollback_block(dbapi)  # never start inside a block someone left open
    if not dbapi.autocommit and dbapi.get_transaction_status() == _IDLE:
        dbapi.autocommit = True


@event.listens_for(Engine, "before_cursor_execute", retval=True)
def _begin_when_needed(conn: Connection, cursor, statement, parameters, context, executemany):
    if not getattr(cursor.connection, "autocommit", False) or _plain_select(statement, context) \
            or (context is not None and context.execution_options.get(OWN_BLOCK_OPTION)):
        return statement, parameters
    begin = begin_sql(conn, context)
    if not begin:
        return statement, parameters
    if executemany:  # the statement runs once per parameter set: begin on its own
        in_transaction(conn)
        return statement, parameters
    return begin + statement, parameters


@event.listens_for(Engine, "rollback")
def _rollback(conn: Connection) -> None:
    dbapi = _driver(conn)
    if dbapi is not None and _ours(conn, dbapi):
        _rollback_block(dbapi)


@event.listens_for(Pool, "reset")
def _reset(dbapi_connection, _record, _reset_state) -> None:
    _rollback_block(getattr(dbapi_connection, "driver_connection", dbapi_connection))
