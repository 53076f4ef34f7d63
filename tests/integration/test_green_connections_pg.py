"""Green threads opening PostgreSQL connections at once, after sockets died under waiting green
threads (``mosaic.db.green``).

A green thread waiting on a socket that another one closes leaves its listener in the eventlet
hub; libpq's next socket takes the same descriptor number, and psycogreen's wait callback then met
"Second simultaneous read on fileno N" — late in long runs, where such dead sockets pile up, and
most when many green threads connect at once. Here the dead sockets are made on purpose, so the
fault shows on the first try rather than after an hour of tests.
"""
from __future__ import annotations

import socket

import eventlet
import pytest
from eventlet.hubs import IOClosed
from sqlalchemy import text

from mosaic.db.engine import make_engine
from tests.conftest import fresh_database

pytestmark = pytest.mark.postgres

GREEN_THREADS = 50
DEAD_SOCKETS = 8


@pytest.fixture(scope="module")
def url():
    return fresh_database("mosaic_it_green")


def leave_dead_listeners(n: int) -> list:
    """``n`` green threads blocked reading sockets that are then closed under them: their hub
    listeners stay behind on descriptors the kernel hands out again. Returns their threads."""
    pairs = [socket.socketpair() for _ in range(n)]

    def read(sock):
        try:
            return sock.recv(1)
        except (EOFError, IOClosed, OSError) as exc:
            return exc

    readers = [eventlet.spawn(read, a) for a, _b in pairs]
    eventlet.sleep(0)  # each reader is now parked on its socket
    for a, b in pairs:
        a.close()
        b.close()
    return readers


def test_many_green_threads_connect_at_once_where_dead_sockets_were(url):
    readers = leave_dead_listeners(DEAD_SOCKETS)
    engine = make_engine(url, "green", pool_size=GREEN_THREADS)  # fresh: every thread connects

    def use(i):
        with engine.connect() as conn:
            return conn.execute(text("SELECT :i FROM pg_sleep(0.01)"), {"i": i}).scalar()

    try:
        results = list(eventlet.GreenPool(GREEN_THREADS).imap(use, range(GREEN_THREADS)))
        assert results == list(range(GREEN_THREADS))
        assert engine.pool.checkedin() == GREEN_THREADS  # each thread had a connection of its own
    finally:
        engine.dispose()
    # the threads stuck on the dead sockets were woken with an error, not left hanging
    outcomes = [reader.wait() for reader in readers]
    assert all(isinstance(o, (EOFError, IOClosed, OSError)) for o in outcomes), outcomes


def test_a_connection_used_by_two_green_threads_still_fails_loudly(url):
    """The fix clears listeners only on a descriptor new to its connection: sharing one
    connection between green threads is a bug, and stays visible."""
    engine = make_engine(url, "green", pool_size=1)
    errors = []
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # connected: its descriptor is known
            raw = conn.connection.dbapi_connection

            def query():
                try:
                    with raw.cursor() as cur:
                        cur.execute("SELECT pg_sleep(0.2)")
                except Exception as exc:  # noqa: BLE001 - which error is the point of the test
                    errors.append(exc)

            threads = [eventlet.spawn(query) for _ in range(2)]
            for thread in threads:
                thread.wait()
            conn.invalidate()
    finally:
        engine.dispose()
    assert errors, "two green threads ran statements on one connection at once unnoticed"
