"""psycopg2 made green under eventlet, safe against recycled file descriptors.

psycopg2 is green through a *wait callback*: instead of blocking in libpq, it asks the callback
to wait until the connection's socket is readable or writable, and the callback parks the green
thread on the eventlet hub (``trampoline``). psycogreen's callback, and eventlet's own, do only
that.

Why that is not enough. The hub keeps one listener per file descriptor and refuses a second
("Second simultaneous read on fileno N"). A listener outlives its socket when the socket is closed
while a green thread waits on it (a broker or Redis connection closed from another green thread,
a consumer stopped mid-read): the kernel drops the descriptor, the hub does not know. Eventlet
clears such stale listeners when a descriptor number comes back, but only for sockets *it*
creates (``notify_opened`` in ``eventlet.greenio``). libpq opens its sockets in C, behind the
hub's back, and takes the lowest free number: exactly the one just closed. So, late in a long
run and most often when many green threads connect at once, a new PostgreSQL connection's first
wait met the stale listener of a dead socket and raised ``RuntimeError``.

:func:`wait_callback` tells the hub each time a connection shows a descriptor it has not waited
on before (its first wait, or libpq reconnecting during the handshake): that descriptor was just
returned by the kernel, so any listener still registered for it belongs to a socket that no longer
exists. Such a listener is removed, and the green thread stuck on the dead socket is woken with
``IOClosed`` as eventlet does for its own sockets, but from a hub timer: the hub's own path for
that (``close_one``) lets the woken thread's error escape the hub and crash the process's main
green thread, a timer's error is logged. A descriptor a connection already uses is never
checked, so two green threads sharing one connection (a real bug) still fail loudly.

Written here rather than taken from psycogreen because psycogreen's callback (and eventlet's own,
installed by ``monkey_patch()``) has this fault; the rest of it is the same dozen lines. Dropping a
listener uses the hub's own bookkeeping (``_obsolete``, ``closed``), which eventlet has kept since
0.2x; ``tests/integration/test_green_connections_pg.py`` fails if it changes.
"""
from __future__ import annotations

import errno
import logging
import weakref

import psycopg2
from eventlet.hubs import IOClosed, get_hub, trampoline
from psycopg2 import extensions

log = logging.getLogger(__name__)

#: the descriptor each live connection last waited on (weak: a closed connection drops out)
_seen: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_installed = False


def wait_callback(conn, timeout=-1) -> None:  # noqa: ARG001 - psycopg2's callback signature
    """psycopg2's wait callback: poll ``conn``, parking this green thread on the hub meanwhile."""
    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        fd = conn.fileno()
        if _seen.get(conn) != fd:
            _seen[conn] = fd
            drop_stale_listeners(fd)
        if state == extensions.POLL_READ:
            trampoline(fd, read=True)
        elif state == extensions.POLL_WRITE:
            trampoline(fd, write=True)
        else:
            raise psycopg2.OperationalError(f"bad result from poll: {state!r}")


def drop_stale_listeners(fd: int) -> int:
    """Remove the hub's listeners on ``fd``, a descriptor the kernel just handed out, so they are a
    closed socket's; wake their green threads with ``IOClosed`` from a timer. How many."""
    hub = get_hub()
    if not any(fd in bucket for bucket in (*hub.listeners.values(), *hub.secondaries.values())):
        return 0
    before = len(hub.closed)
    hub._obsolete(fd)  # removes and defangs them, and queues them for close_one: take them back
    stale = hub.closed[before:]
    del hub.closed[before:]
    log.warning("file descriptor %d was reused by a new PostgreSQL connection while %d green "
                "thread(s) still waited on the closed socket it belonged to; they are woken with "
                "IOClosed", fd, len(stale))
    for listener in stale:
        hub.schedule_call_global(0, _wake, listener)
    return len(stale)


def _wake(listener) -> None:
    if not listener.greenlet.dead:
        listener.tb(IOClosed(errno.ENOTCONN, "Operation on closed file"))


def install() -> bool:
    """Make psycopg2 green with :func:`wait_callback` when the process runs under eventlet (socket
    monkey-patched); replaces psycogreen's or eventlet's own callback. True if installed."""
    global _installed
    if _installed:
        return True
    import eventlet.patcher

    if not eventlet.patcher.is_monkey_patched("socket"):
        return False
    extensions.set_wait_callback(wait_callback)
    _installed = True
    return True
