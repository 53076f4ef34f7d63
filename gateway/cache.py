"""A small in-process cache whose entries expire, for what the gateway re-reads often: the
auth state (tenants, users, API keys, field permissions), verified tokens, the object directory."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

#: what :meth:`TTLCache.get` answers for a key it does not hold, when asked to tell it from None
MISSING = object()


class TTLCache:
    """A tiny thread-safe cache whose entries expire after ``ttl`` seconds."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._loading: dict[Any, threading.Lock] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        """The live value of ``key``, else ``default``.

        A hit takes no lock: a request reads five entries, and under eventlet the lock is a
        green one, costing more than the read. An entry is an immutable (expiry, value) pair that
        ``dict.get`` reads whole, so a reader sees the old entry or the new, never half of one."""
        hit = self._data.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        if hit is not None:
            with self._lock:
                current = self._data.get(key)
                if current is not None and current[0] <= self._clock():  # not replaced meanwhile
                    del self._data[key]
        return default

    def set(self, key: Any, value: Any) -> None:
        """Keep ``value`` for ``ttl`` seconds (not at all when ttl is 0)."""
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._data) > 10_000:  # bound memory: drop what has expired
                now = self._clock()
                self._data = {k: v for k, v in self._data.items() if v[0] > now}
            self._data[key] = (self._clock() + self.ttl, value)

    def invalidate(self, key: Any) -> None:
        """Forget ``key`` so the next read goes to the database."""
        with self._lock:
            self._data.pop(key, None)

    def get_or_load(self, key: Any, load: Callable[[], Any], *, shared: bool = True) -> Any:
        """The live value of ``key``, else ``load()``'s, kept. With ``shared``, concurrent misses
        of one key wait for a single load instead of each loading: when an entry expires under
        32 concurrent requests, one query runs, not 32. A caller that holds a database connection
        must not wait for a load that may need one (SQLite has one): it passes ``shared=False``."""
        value = self.get(key, MISSING)
        if value is not MISSING:
            return value
        if not shared:
            value = load()
            self.set(key, value)
            return value
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        try:
            with gate:
                value = self.get(key, MISSING)  # loaded while this caller waited
                if value is MISSING:
                    value = load()
                    self.set(key, value)
        finally:
            with self._lock:
                if self._loading.get(key) is gate and not gate.locked():
                    del self._loading[key]
        return value

    def invalidate_where(self, predicate: Callable[[Any], bool]) -> None:
        """Forget every key ``predicate`` holds for."""
        with self._lock:
            for key in [k for k in self._data if predicate(k)]:
                del self._data[key]
