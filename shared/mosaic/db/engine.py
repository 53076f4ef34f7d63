"""Engines: green PostgreSQL (psycogreen) with a schema per service, or SQLite files."""
from __future__ import annotations

import threading

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from mosaic.config import Settings

_engines: dict[tuple[str, str], Engine] = {}
_lock = threading.Lock()
_green_patched = False


def schema_for(service: str) -> str:
    """The PostgreSQL schema a service's tables live in."""
    return f"mosaic_{service}"


def _make_green() -> None:
    """Under eventlet, make psycopg2 yield to the hub while it waits on the server; otherwise a
    query would stall every worker of the process."""
    global _green_patched
    if _green_patched:
        return
    try:
        import eventlet.patcher
    except ImportError:  # pragma: no cover - eventlet is a dependency
        return
    if eventlet.patcher.is_monkey_patched("socket"):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
        _green_patched = True


def make_engine(url: str, service: str, *, pool_size: int = 20, echo: bool = False) -> Engine:
    """A new engine for ``service``'s database at ``url``."""
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
    return create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size // 2, pool_recycle=1800,
        connect_args={"options": f"-csearch_path={schema},public"},
    )


def get_engine(settings: Settings, service: str) -> Engine:
    """The process-wide engine of ``service`` for these settings (created once)."""
    url = settings.database_url_for(service)
    key = (url, service)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            from mosaic.telemetry import instrument_engine

            engine = _engines[key] = make_engine(url, service)
            instrument_engine(engine)  # a span per statement, in the caller's trace
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, shutdown)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
