"""The local PostgreSQL and RabbitMQ servers, as tests, benchmarks and developer scripts use them:
databases and vhosts of their own, free ports, and stopping the processes they started.

One implementation, so a test fixture, a benchmark and ``scripts/new_migration.py`` create and
drop databases the same way. Everything here talks to 127.0.0.1 only.
"""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import uuid
from pathlib import Path

#: the local server, without a database name (tests: MOSAIC_TEST_PG overrides)
PG_SERVER = os.environ.get("MOSAIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def _admin(server: str):
    import psycopg2

    conn = psycopg2.connect(f"{server}/postgres")
    conn.autocommit = True
    return conn


def checkout_database(name: str) -> str:
    """``name`` made this checkout's own (``<name>_<suffix>``), so the suites of several checkouts
    can share one PostgreSQL server. The suffix is ``MOSAIC_TEST_DB_SUFFIX`` if set (empty: no
    suffix), else a short hash of the checkout's path."""
    suffix = os.environ.get("MOSAIC_TEST_DB_SUFFIX")
    if suffix is None:
        suffix = hashlib.sha1(str(Path(__file__).resolve().parents[2]).encode()).hexdigest()[:6]
    return f"{name}_{suffix}" if suffix else name


def ensure_database(name: str, server: str = PG_SERVER, create_sql: str | None = None) -> str:
    """Create database ``name`` if it does not exist yet; its URL. ``create_sql`` replaces the
    plain ``CREATE DATABASE`` (a collation, a template)."""
    conn = _admin(server)
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(create_sql or f'CREATE DATABASE "{name}"')
    conn.close()
    return f"{server}/{name}"


def drop_database(name: str, server: str = PG_SERVER) -> None:
    """Drop database ``name`` (ending its sessions first) if it exists."""
    conn = _admin(server)
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


def fresh_database(name: str, server: str = PG_SERVER) -> str:
    """Drop and create database ``name``; its URL."""
    drop_database(name, server)
    return ensure_database(name, server)


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")


def fresh_vhost(prefix: str) -> str:
    """A RabbitMQ vhost of the caller's own (``<prefix>_<random>``), so services it starts never
    answer anyone else's RPC; guest may use it."""
    vhost = f"{prefix}_{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return vhost


def drop_vhost(vhost: str) -> None:
    """Delete a vhost, its queues and exchanges (no error if it is gone)."""
    subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)


def free_port() -> int:
    """A TCP port nobody listens on right now, on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_processes(procs, timeout: float = 15) -> None:
    """SIGTERM every process still running, then wait; SIGKILL whichever outlives ``timeout``."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
