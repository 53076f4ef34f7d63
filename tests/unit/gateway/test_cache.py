"""The gateway's TTL cache: concurrent misses share one load; a failed load is not kept."""
from __future__ import annotations

import eventlet
import pytest
from eventlet.event import Event

from mosaic_gateway.cache import TTLCache


def _race(cache: TTLCache, callers: int, load) -> list:
    """``callers`` green threads asking for one key at once; their answers."""
    threads = [eventlet.spawn(cache.get_or_load, "k", load) for _ in range(callers)]
    for _ in range(callers + 2):
        eventlet.sleep(0)  # every caller runs until it waits: the first in load, the others on it
    return threads


def test_concurrent_misses_share_one_load():
    cache, release, loads = TTLCache(5.0), Event(), []

    def load():
        loads.append(1)
        release.wait()
        return {"objects": 3}

    threads = _race(cache, 8, load)
    release.send(True)
    assert [t.wait() for t in threads] == [{"objects": 3}] * 8
    assert len(loads) == 1
    assert cache.get_or_load("k", lambda: pytest.fail("served from the cache")) == {"objects": 3}


def test_a_failed_load_is_not_kept_and_the_next_caller_loads_again():
    cache, release = TTLCache(5.0), Event()

    def failing():
        release.wait()
        raise RuntimeError("database away")

    threads = _race(cache, 3, failing)
    release.send(True)
    for t in threads:
        with pytest.raises(RuntimeError):
            t.wait()
    assert cache.get_or_load("k", lambda: "fresh") == "fresh"
    assert not cache._loading  # no gate left behind


def test_without_sharing_or_with_no_ttl_every_miss_loads():
    loads = []
    cache = TTLCache(5.0)
    for _ in range(2):
        cache.invalidate("k")
        cache.get_or_load("k", lambda: loads.append(1) or "v", shared=False)
    off = TTLCache(0)
    for _ in range(2):
        off.get_or_load("k", lambda: loads.append(1) or "v")
    assert len(loads) == 4


def test_invalidate_where_forgets_matching_keys_only():
    cache = TTLCache(5.0)
    for key in [("t1", "a"), ("t1", "b"), ("t2", "a")]:
        cache.set(key, 1)
    cache.invalidate_where(lambda key: key[0] == "t1")
    assert cache.get(("t1", "a")) is None and cache.get(("t1", "b")) is None and cache.get(("t2", "a")) == 1


def test_an_entry_is_served_until_it_expires_then_dropped():
    now = [100.0]
    cache = TTLCache(2.0, clock=lambda: now[0])
    cache.set("k", "v")
    now[0] = 101.9
    assert cache.get("k") == "v"
    now[0] = 102.0
    assert cache.get("k", "gone") == "gone"
    assert "k" not in cache._data  # an expired entry does not linger
    cache.set("k", "fresh")
    assert cache.get("k") == "fresh"
