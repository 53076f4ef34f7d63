"""An in-process token-bucket rate limiter.

Each key (a tenant, an API key) has a bucket holding up to ``limit`` tokens, refilled at
``limit / 60`` tokens a second; a request takes one token. Bursts up to the full minute's quota
are allowed, and the sustained rate never exceeds the limit.

The limiter is **per gateway process**: with N gateway replicas a tenant may reach N times its
limit. That is the usual trade for not putting a network round trip in front of every request;
a shared limiter (Redis) can replace this class behind the same ``hit`` signature.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

#: buckets untouched this long are full again and can be forgotten (keeps memory bounded).
IDLE_SECONDS = 60.0
_SWEEP_EVERY = 1024


class RateLimiter:
    """Thread-safe (and greenlet-safe: the critical section never yields) token buckets."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()
        self._hits = 0

    def hit(self, key: str, limit_per_minute: int) -> tuple[bool, float]:
        """Take one token from ``key``'s bucket. Returns ``(allowed, retry_after)``: when refused,
        ``retry_after`` is the seconds until a token is back. A limit of 0 (or less) is unlimited."""
        if limit_per_minute <= 0:
            return True, 0.0
        rate = limit_per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(limit_per_minute), now))
            tokens = min(float(limit_per_minute), tokens + (now - last) * rate)
            self._hits += 1
            if self._hits % _SWEEP_EVERY == 0:
                self._sweep(now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            return False, (1.0 - tokens) / rate

    def reset(self, key: str | None = None) -> None:
        """Forget one key's bucket, or all of them."""
        with self._lock:
            if key is None:
                self._buckets.clear()
            else:
                self._buckets.pop(key, None)

    def _sweep(self, now: float) -> None:
        stale = [k for k, (_, last) in self._buckets.items() if now - last > IDLE_SECONDS]
        for k in stale:
            del self._buckets[k]


_default = RateLimiter()


def hit(key: str, limit_per_minute: int) -> tuple[bool, float]:
    """:meth:`RateLimiter.hit` on this process's default limiter."""
    return _default.hit(key, limit_per_minute)
