"""Rate limits per key (a tenant, an API key): ``hit(key, limit_per_minute) -> (allowed,
retry_after)``.

Two limiters behind that one signature, chosen by :func:`make_limiter`:

* :class:`RedisRateLimiter` when ``MOSAIC_REDIS_URL`` is set: the counters live in Redis, so N
  gateway replicas share one budget (a sliding window per minute, the ``limits`` library's
  ``SlidingWindowCounterRateLimiter``, one Redis round trip per check).
* :class:`RateLimiter` otherwise: an in-process token bucket. Each key has a bucket holding up to
  ``limit`` tokens, refilled at ``limit / 60`` tokens a second; a request takes one token. It is
  **per gateway process** (N replicas allow N times the limit), which is right for the embedded
  mode and a single gateway.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    from mosaic.config import Settings

log = logging.getLogger(__name__)

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


class RedisRateLimiter:
    """Counters in Redis shared by every gateway process using the same ``url`` and ``prefix``.

    When Redis cannot be reached the request is let through (and a warning logged, at most once
    a minute): a rate limit protects the services, an outage of it must not take the API down.
    """

    def __init__(self, url: str, prefix: str = "mosaic:ratelimit", clock: Callable[[], float] = time.time):
        from limits import strategies
        from limits.storage import RedisStorage

        # wrap_exceptions: every Redis failure arrives as limits' StorageError, caught below.
        self._storage = RedisStorage(url, key_prefix=prefix, wrap_exceptions=True, socket_timeout=2,
                                     socket_connect_timeout=2)
        self._window = strategies.SlidingWindowCounterRateLimiter(self._storage)
        self._items: dict[int, object] = {}
        self._clock = clock
        self._warned = 0.0

    def _item(self, limit_per_minute: int):
        item = self._items.get(limit_per_minute)
        if item is None:
            from limits import RateLimitItemPerMinute

            item = self._items[limit_per_minute] = RateLimitItemPerMinute(limit_per_minute)
        return item

    def hit(self, key: str, limit_per_minute: int) -> tuple[bool, float]:
        """Count one request of ``key``. Returns ``(allowed, retry_after)`` like
        :meth:`RateLimiter.hit`; a limit of 0 (or less) is unlimited."""
        from limits.errors import StorageError

        if limit_per_minute <= 0:
            return True, 0.0
        item = self._item(limit_per_minute)
        try:
            if self._window.hit(item, key):
                return True, 0.0
            stats = self._window.get_window_stats(item, key)
        except StorageError as exc:
            now = self._clock()
            if now - self._warned > 60:
                self._warned = now
                log.warning("rate limits not enforced: Redis unreachable (%s)", exc)
            return True, 0.0
        return False, max(0.0, stats.reset_time - self._clock())

    def reset(self, key: str | None = None) -> None:
        """Forget one key's counters (at the limits this limiter has seen), or all of them."""
        if key is None:
            self._storage.reset()
            return
        for item in self._items.values():
            self._window.clear(item, key)


def make_limiter(settings: "Settings"):
    """The gateway's limiter: shared in Redis when ``MOSAIC_REDIS_URL`` is set, else in process."""
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url)
    return RateLimiter()


_default = RateLimiter()


def hit(key: str, limit_per_minute: int) -> tuple[bool, float]:
    """:meth:`RateLimiter.hit` on this process's default limiter."""
    return _default.hit(key, limit_per_minute)
