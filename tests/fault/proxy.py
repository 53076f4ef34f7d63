"""A TCP proxy on 127.0.0.1 that a test can take down and bring back, to fake a broker outage.

Every process under test connects to the proxy instead of RabbitMQ. :meth:`TcpProxy.cut` closes
every proxied connection (both ends, so the broker sees its clients go and requeues their unacked
messages) and closes the listening socket, so new connections are refused (``ECONNREFUSED``, as
with a broker that is down); :meth:`TcpProxy.restore` listens again on the same port. The machine's
RabbitMQ itself is never touched.

It runs in green threads of the test process (the test suite is monkey-patched by eventlet), so
it needs no thread of its own and stops with :meth:`TcpProxy.close`.
"""
from __future__ import annotations

import logging
import socket
import threading

log = logging.getLogger(__name__)

CHUNK = 65536


class TcpProxy:
    """``TcpProxy(("127.0.0.1", 5672)).start()`` → ``.port``; ``cut()``, ``restore()``, ``close()``."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1", port: int = 0):
        self.upstream = upstream
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.accepted = 0  # connections proxied so far (tests check the processes really use it)

    # -- control -------------------------------------------------------------------------------

    def start(self) -> "TcpProxy":
        """Listen (on a free port the first time, on the same port after a cut)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        self._spawn(self._accept_loop, listener)
        return self

    def cut(self) -> int:
        """Drop every proxied connection and refuse new ones; returns how many were dropped."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, set()
        # Only shut the sockets down here: that wakes the green threads blocked on them, and each
        # closes its own. Closing under a waiting green thread would leave it registered with
        # the hub on a descriptor number the next socket or pipe reuses.
        if listener is not None:
            _shutdown(listener)
        for client, server in pairs:
            _shutdown(client)
            _shutdown(server)
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(5)
        return len(pairs)

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self._listener is None and not self._closed:
            self.start()

    def close(self) -> None:
        """Stop for good."""
        self._closed = True
        self.cut()

    @property
    def live(self) -> int:
        """Connections currently proxied."""
        with self._lock:
            return len(self._pairs)

    # -- plumbing ------------------------------------------------------------------------------

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _addr = listener.accept()
            except OSError:
                _close(listener)
                return  # cut() or close() shut the listener down
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError as exc:
                log.warning("proxy: upstream %s unreachable: %r", self.upstream, exc)
                _close(client)
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, server)
            with self._lock:
                if self._listener is not listener:  # cut while we were connecting upstream
                    _close(client)
                    _close(server)
                    return
                self._pairs.add(pair)
                self.accepted += 1
            self._spawn(self._pipe, client, server, pair)
            self._spawn(self._pipe, server, client, pair)

    def _pipe(self, src: socket.socket, dst: socket.socket, pair) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, EOFError):  # the other side, or cut(), closed it (eventlet says EOFError)
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            # Wake the opposite pipe (it reads ``dst``) and close only our own socket: each socket
            # is read by one pipe, which closes it once nothing waits on it.
            _shutdown(dst)
            _close(src)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close(sock: socket.socket) -> None:
    _shutdown(sock)
    try:
        sock.close()
    except OSError:
        pass
