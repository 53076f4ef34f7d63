"""Test-wide set-up: eventlet first, then the real servers the integration tests need.

A test that needs PostgreSQL or RabbitMQ fails loudly when the server is missing; it is never
skipped, so a green run means the real components were exercised.
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket, threading or kombu

import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402

from mosaic import broker  # noqa: E402

broker.install()

PG_BASE = os.environ.get("MOSAIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
AMQP_BASE = os.environ.get("MOSAIC_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")


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
    import psycopg2

    require_postgres()
    conn = psycopg2.connect(f"{PG_BASE}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return f"{PG_BASE}/{name}"


def fresh_vhost(prefix: str = "mosaic_test") -> str:
    """A RabbitMQ vhost of our own, so test services never answer anyone else's RPC."""
    require_rabbitmq()
    vhost = f"{prefix}_{uuid.uuid4().hex[:8]}"
    for cmd in (["rabbitmqctl", "add_vhost", vhost],
                ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            pytest.fail(f"could not prepare RabbitMQ vhost: {' '.join(cmd)}: {done.stderr.strip()}", pytrace=False)
    return vhost


def drop_vhost(vhost: str) -> None:
    subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)


@pytest.fixture
def memory_broker():
    """A clean in-process broker."""
    broker.reset()
    yield "memory://"
    broker.reset()
