"""Baseline nameko services the benchmarks run in processes of their own.

    python -m bench.services ping     a trivial ``bench_ping.ping()`` (the bare RPC baseline)
    python -m bench.services sleeper  ``bench_sleeper.sleep(s)``: ``SELECT pg_sleep(s)`` through the
                                      platform's :class:`mosaic.db.provider.Database` engine
    python -m bench.services insert   ``bench_insert.insert(values)``: the ``create`` baseline's
                                      single-row ORM insert and commit, on that engine

Configuration comes from the environment: ``MOSAIC_AMQP_URI`` and ``MOSAIC_DATABASE_URL``.
``BENCH_NO_PSYCOGREEN=1`` starts the sleeper with psycopg2 blocking (no wait callback), which is the baseline
the green-database benchmark compares against.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # before kombu or psycopg2 open a socket

import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402

from nameko.rpc import rpc  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.create_contact import PlainContact  # noqa: E402
from mosaic.db.provider import Database  # noqa: E402

MAX_WORKERS = 32


class PingService:
    """Does nothing but answer: what an RPC costs before any platform code runs."""

    name = "bench_ping"

    @rpc
    def ping(self):
        """Answer at once."""
        return {"ok": True}


class SleeperService:
    """Slow database work through the platform engine (green, unless psycogreen is disabled)."""

    name = "bench_sleeper"

    db = Database("bench")

    @rpc
    def sleep(self, seconds=0.2):
        """Hold a PostgreSQL connection for ``seconds`` with ``pg_sleep``; returns the backend pid."""
        session = self.db.system()
        session.execute(text("SELECT pg_sleep(:s)"), {"s": float(seconds)})
        return session.execute(text("SELECT pg_backend_pid()")).scalar()


class InsertService:
    """The ``create`` baseline's write behind an RPC: one row, its own session and commit."""

    name = "bench_insert"

    db = Database("bench")

    @rpc
    def insert(self, values):
        """Insert one ``bench.plain_contacts`` row from ``values`` (the contact's usual columns,
        everything else as its JSONB); returns its id."""
        columns = {k: values.get(k) for k in ("first_name", "last_name", "email")}
        custom = {k: v for k, v in values.items() if k not in columns}
        row = PlainContact(id=str(uuid.uuid4()), tenant_id="bench", custom=custom, **columns)
        session = self.db.system()
        session.add(row)
        session.commit()
        return {"id": row.id}


SERVICES = {"ping": PingService, "sleeper": SleeperService, "insert": InsertService}


def config() -> dict:
    """The nameko config: JSON like the product, and enough workers for the concurrency used."""
    from mosaic.config import load_settings

    settings = load_settings(dict(os.environ) | {"MOSAIC_MODE": "distributed"})
    return {"AMQP_URI": settings.amqp_uri, "MOSAIC_SETTINGS": settings, "SERIALIZER": "json",
            "max_workers": MAX_WORKERS}


def main(argv: list[str]) -> int:
    """Run one baseline service until SIGTERM."""
    from nameko.runners import ServiceRunner

    if len(argv) != 1 or argv[0] not in SERVICES:
        print(__doc__, file=sys.stderr)
        return 2
    if os.environ.get("BENCH_NO_PSYCOGREEN") == "1":
        # psycopg2 is green through its wait callback, which both psycogreen and eventlet's own
        # monkey_patch() (psycopg=True by default) install. Remove it, and tell the engine factory
        # the patch is applied so it does not put it back: psycopg2 then blocks the whole hub.
        import psycopg2.extensions

        import mosaic.db.engine as engine_module

        psycopg2.extensions.set_wait_callback(None)
        engine_module._green_patched = True
    runner = ServiceRunner(config())
    runner.add_service(SERVICES[argv[0]])
    runner.start()

    def _stop(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    try:
        runner.wait()
    except (KeyboardInterrupt, SystemExit):
        runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
