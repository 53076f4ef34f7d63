"""Engines: green PostgreSQL (mosaic.db.green) with a schema per service, or SQLite files.

On PostgreSQL every statement runs under a timeout chosen by the *role* of the work it does
(:data:`STATEMENT_ROLES`): requests get the short one as a connection default (no extra round
trip), background jobs and imports set theirs per transaction (``SET LOCAL``) when their code
runs inside :func:`statement_role`. A statement that runs out of time is cancelled by the server
and raised as :class:`mosaic.errors.ServiceUnavailable` (503 problem+json, ``reason``
``statement_timeout``), not as a server error: a type every caller across RPC knows.

A database the service cannot reach is a :class:`~mosaic.errors.ServiceUnavailable` too
(``reason`` ``database_unavailable``, with ``retry_after``): a connection that cannot be opened
(server down, a closed port, "too many clients", a database refusing connections) or one lost
under a statement. Only the connection's failures: a statement the server refuses stays the error
it is. The transaction the failure interrupted is gone with its connection, so nothing of the
write is half-applied, and SQLAlchemy drops the pool's other connections to that server, so the
service heals by itself when the server is back.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from mosaic.config import Settings
from mosaic.db.reads import in_transaction
from mosaic.errors import ServiceUnavailable

#: request: RPC and HTTP work; job: automation jobs, timers, deliveries; import: CSV imports;
#: migration: schema changes (never timed out: an index build on a big table takes its time).
STATEMENT_ROLES = ("request", "job", "import", "migration")
_role: ContextVar[str] = ContextVar("mosaic_statement_role", default="request")
#: PostgreSQL's query_canceled: statement_timeout (or an operator's pg_cancel_backend)
_QUERY_CANCELED = "57014"
#: seconds a caller is told to wait (``Retry-After``) when the database cannot be reached
DB_RETRY_AFTER = 2

log = logging.getLogger(__name__)


@contextmanager
def statement_role(role: str) -> Iterator[None]:
    """Run the block's database transactions under ``role``'s statement timeout (per green
    thread: a context variable)."""
    if role not in STATEMENT_ROLES:
        raise ValueError(f"unknown statement role {role!r}; one of {STATEMENT_ROLES}")
    token = _role.set(role)
    try:
        yield
    finally:
        _role.reset(token)


def current_role() -> str:
    """The statement role of the calling green thread (``request`` unless set)."""
    return _role.get()


def timeouts_of(settings: Settings) -> dict[str, int]:
    """Milliseconds per statement role from the settings (0: no timeout)."""
    return {"request": int(settings.db_request_timeout * 1000),
            "job": int(settings.db_job_timeout * 1000),
            "import": int(settings.db_import_timeout * 1000),
            "migration": 0}

_engines: dict[tuple[str, str], Engine] = {}
_lock = threading.Lock()
_green_patched = False


def schema_for(service: str) -> str:
    """The PostgreSQL schema a service's tables live in."""
    return f"mosaic_{service}"


def _make_green() -> None:
    """Under eventlet, make psycopg2 yield to the hub while it waits on the server; otherwise a
    query would stall every worker of the process. The wait callback is ours, not psycogreen's:
    see :mod:`mosaic.db.green` for the recycled-descriptor fault it also avoids."""
    global _green_patched
    if _green_patched:
        return
    from mosaic.db import green

    _green_patched = green.install()


def make_engine(url: str, service: str, *, pool_size: int = 20, echo: bool = False,
                statement_timeouts: Mapping[str, int] | None = None) -> Engine:
    """A new engine for ``service``'s database at ``url``; on PostgreSQL with
    ``statement_timeouts`` (milliseconds per role, see :func:`timeouts_of`) enforced."""
    if url.startswith("sqlite"):
        # Embedded mode: one connection per service file. Greenlets queue for it cooperatively
        # (the pool's lock is green under eventlet) instead of blocking the hub on SQLITE_BUSY.
        engine = create_engine(url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60,
                               connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below drive transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            # SQLite's lower() folds ASCII only; PostgreSQL folds Unicode. The filter language
            # promises the same answer on both, so use Python's folding here.
            dbapi_conn.create_function("lower", 1, lambda s: s.lower() if isinstance(s, str) else s,
                                       deterministic=True)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN")

        return engine

    _make_green()
    url = url.replace("postgresql://", "postgresql+psycopg2://", 1) if url.startswith("postgresql://") else url
    schema = schema_for(service)
    # The pool is as large as a service's worker count, so a busy service reuses connections
    # instead of opening and closing overflow ones (a PostgreSQL backend per request).
    # No pre-ping: it is a round trip on every checkout. A connection the server dropped fails
    # one statement, and SQLAlchemy then invalidates the whole pool; recycling bounds their age.
    options = f"-csearch_path={schema},public"
    if statement_timeouts:
        options += f" -cstatement_timeout={int(statement_timeouts.get('request', 0))}"
    engine = create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size // 2, pool_recycle=1800,
        connect_args={"options": options},
    )
    _typed_unreachable(engine)
    if statement_timeouts:
        _enforce_timeouts(engine, dict(statement_timeouts))
    return engine


def _typed_unreachable(engine: Engine) -> None:
    """Connection failures raise :class:`ServiceUnavailable` (see the module docstring)."""

    @event.listens_for(engine, "handle_error")
    def _unreachable(context):
        # connection None: the error came while opening one (SQLAlchemy's no-connection path);
        # is_disconnect: the dialect recognised a connection lost under a statement.
        if context.connection is not None and not context.is_disconnect:
            return
        if context.is_pre_ping:
            return  # the pool handles its own probe (not used today)
        opening = context.connection is None
        log.warning("database %s: %s", "unreachable" if opening else "connection lost",
                    str(context.original_exception).strip())
        if opening:
            detail = "The service's database cannot be reached right now; nothing was changed. Try again shortly."
        else:
            detail = ("The connection to the service's database was lost; what the request had not "
                      "committed was discarded. Try again (a write with the same Idempotency-Key).")
        raise ServiceUnavailable(detail, reason="database_unavailable",
                                 retry_after=DB_RETRY_AFTER) from context.sqlalchemy_exception


def _enforce_timeouts(engine: Engine, timeouts: dict[str, int]) -> None:
    request = int(timeouts.get("request", 0))

    @event.listens_for(engine, "begin")
    def _role_timeout(conn):
        ms = int(timeouts.get(_role.get(), request))
        if ms != request and conn._execution_options.get("isolation_level") != "AUTOCOMMIT":
            # SET LOCAL ends with the transaction: the pooled connection keeps the request
            # default. Straight on the DBAPI cursor: psycopg2 opens the transaction with it
            # (in_transaction: no SQLAlchemy event sees this statement, see mosaic.db.reads).
            in_transaction(conn)
            with conn.connection.dbapi_connection.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {ms}")

    @event.listens_for(engine, "handle_error")
    def _typed_timeout(context):
        if getattr(context.original_exception, "pgcode", None) == _QUERY_CANCELED:
            role = _role.get()
            limit = int(timeouts.get(role, request)) / 1000
            raise ServiceUnavailable(
                f"A database statement ran longer than {limit:g} s ({role} timeout) and was "
                "cancelled; try again, or narrow the request.", reason="statement_timeout",
                role=role, timeout=limit,
            ) from context.sqlalchemy_exception


def get_engine(settings: Settings, service: str) -> Engine:
    """The process-wide engine of ``service`` for these settings (created once)."""
    url = settings.database_url_for(service)
    timeouts = timeouts_of(settings)
    key = (url, service, tuple(sorted(timeouts.items())))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            from mosaic.telemetry import instrument_engine

            engine = _engines[key] = make_engine(url, service, statement_timeouts=timeouts)
            instrument_engine(engine)  # a span per statement, in the caller's trace
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, shutdown)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
