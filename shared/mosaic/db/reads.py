"""Reads open no transaction: a transaction begins with its first statement that needs one.

psycopg2 opens a transaction (a ``BEGIN`` round trip) before a connection's first statement, and
SQLAlchemy ends it (``ROLLBACK`` or ``COMMIT``, another round trip) when the session closes. For a
read RPC — one SELECT — that is three round trips where one does the work. In PostgreSQL's READ
COMMITTED, the isolation every service uses, each statement takes its own snapshot whether or
not it runs inside a transaction block, so a plain SELECT run outside one sees exactly what it
would have seen inside.

So a connection starts each SQLAlchemy transaction in the driver's autocommit mode, and leaves
it (psycopg2 then sends ``BEGIN``) before the first statement that is not a plain SELECT: any
write, DDL, ``SAVEPOINT``, ``SELECT … FOR UPDATE``, a statement carrying queued statements
(:mod:`mosaic.db.batch`: inserts, advisory locks) or driver-level SQL. Once left, the
transaction runs and ends as before. A transaction of plain SELECTs ends with nothing to send.
Work outside SQLAlchemy's statements (a COPY, ``SET LOCAL``) calls :func:`in_transaction` first.

Connections asked for an isolation level of their own (``AUTOCOMMIT`` for an index build) are
left alone. PostgreSQL (psycopg2) only.
"""
from __future__ import annotations

from psycopg2 import extensions
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.selectable import Select


def _driver(conn: Connection):
    pooled = conn._dbapi_connection
    return None if pooled is None else pooled.driver_connection


def in_transaction(conn: Connection) -> None:
    """Make sure the connection's work from here on runs in a transaction block."""
    dbapi = _driver(conn)
    if dbapi is not None and getattr(dbapi, "autocommit", False) and conn.dialect.name == "postgresql" \
            and conn._execution_options.get("isolation_level") is None:
        dbapi.autocommit = False


def _plain_select(statement: str, context) -> bool:
    compiled = getattr(context, "compiled", None)
    if compiled is None or statement != context.statement:  # driver SQL, or queued statements
        return False
    stmt = compiled.statement
    return isinstance(stmt, Select) and stmt._for_update_arg is None


@event.listens_for(Engine, "begin")
def _begin_lazily(conn: Connection) -> None:
    if conn.dialect.name != "postgresql" or conn._execution_options.get("isolation_level") is not None:
        return
    dbapi = _driver(conn)
    if dbapi is not None and not dbapi.autocommit \
            and dbapi.get_transaction_status() == extensions.TRANSACTION_STATUS_IDLE:
        dbapi.autocommit = True


@event.listens_for(Engine, "before_cursor_execute")
def _begin_when_needed(conn: Connection, cursor, statement, _parameters, context, _executemany) -> None:
    dbapi = cursor.connection
    if getattr(dbapi, "autocommit", False) and conn.dialect.name == "postgresql" \
            and conn.in_transaction() and conn._execution_options.get("isolation_level") is None \
            and not _plain_select(statement, context):
        dbapi.autocommit = False
