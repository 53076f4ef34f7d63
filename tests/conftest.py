"""Test-wide set-up: eventlet first, then the real servers the integration tests need.

A test that needs PostgreSQL or RabbitMQ fails loudly when the server is missing; it is never
skipped, so a green run means the real components were exercised.
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket, threading or kombu

from mosaic.db import green  # noqa: E402

green.install()  # every PostgreSQL connection of the run, fresh_database's too (mosaic.db.green)

import os  # noqa: E402
import socket  # noqa: E402

import pytest  # noqa: E402

from mosaic import broker, localdev  # noqa: E402

broker.install()

PG_BASE = os.environ.get("MOSAIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    if not _reachable("127.0.0.1", 5432):
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432; this test needs the real server "
                    "(.ci/run starts it when it is installed)", pytrace=False)


def require_rabbitmq() -> None:
    if not _reachable("127.0.0.1", 5672):
        pytest.fail("RabbitMQ is not reachable on 127.0.0.1:5672; this test needs the real broker "
                    "(.ci/run starts it when it is installed)", pytrace=False)


def fresh_database(name: str) -> str:
    """Drop and create database ``name``; returns its URL."""
    require_postgres()
    return localdev.fresh_database(localdev.checkout_database(name), PG_BASE)


def fresh_vhost(prefix: str = "mosaic_test") -> str:
    """A RabbitMQ vhost of our own, so test services never answer anyone else's RPC."""
    require_rabbitmq()
    try:
        return localdev.fresh_vhost(prefix)
    except RuntimeError as exc:
        pytest.fail(f"could not prepare a RabbitMQ vhost: {exc}", pytrace=False)


drop_vhost = localdev.drop_vhost


def wait_for_lock_waiter(engine, task=None, *, what: str = "the second writer") -> None:
    """Until some session of ``engine``'s database waits on a lock (a blocked writer), polling for
    up to 30 s. Each poll reads ``pg_stat_activity`` in a transaction of its own: PostgreSQL takes
    that view's picture once per transaction, so polling inside one would see the first answer for
    ever. ``task`` (a green thread) must still be running: had it finished, it did not wait."""
    from sqlalchemy import text

    query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND wait_event_type = 'Lock'")
    with engine.connect() as conn:
        for _ in range(600):
            assert task is None or not task.dead, f"{what} finished without waiting on the lock"
            waiting = conn.execute(query).scalar()
            conn.rollback()
            if waiting:
                return
            eventlet.sleep(0.05)
    raise AssertionError(f"{what} never waited on the lock")


@pytest.fixture
def more_modules(monkeypatch):
    """Four more installed services (specs only: for tests that call no service), so tenants can
    enable several modules as a deployment with more services installed would."""
    from mosaic import services

    found = dict(services.installed())
    for name in ("sales", "servicedesk", "marketing", "analytics"):
        found.setdefault(name, services.ServiceSpec(name=name, package="mosaic_gateway"))
    monkeypatch.setattr(services, "_services", found)
    return tuple(found)


@pytest.fixture
def memory_broker():
    """A clean in-process broker."""
    broker.reset()
    yield "memory://"
    broker.reset()
