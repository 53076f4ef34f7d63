"""mosaic.metadata.cache: the bounded LRU behind the metadata caches."""
from __future__ import annotations

import pytest
from mosaic.metadata.cache import LRUCache


def test_least_recently_used_entry_is_evicted():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_get_or_build_builds_once():
    cache = LRUCache(4)
    built = []
    for _ in range(3):
        assert cache.get_or_build("k", lambda: built.append(1) or "v") == "v"
    assert built == [1]
    cache.clear()
    assert cache.get("k", "missing") == "missing"


def test_maxsize_must_be_positive():
    with pytest.raises(ValueError):
        LRUCache(0)
