"""A small thread-safe LRU mapping for the in-process metadata caches.

``functools.lru_cache`` does not fit: the caches here are keyed by values the caller computes
(tenant, metadata version, object fingerprint) and must be cleared or bounded explicitly.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, TypeVar

V = TypeVar("V")


class LRUCache(Generic[V]):
    """A mapping that keeps at most ``maxsize`` entries, dropping the least recently used."""

    def __init__(self, maxsize: int = 256):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        # Under eventlet the threading lock is monkey-patched into a green lock, so greenlets
        # queue cooperatively; without eventlet it is a plain mutex.
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> V | Any:
        """The value for ``key`` (marking it recently used), or ``default``."""
        with self._lock:
            try:
                self._data.move_to_end(key)
            except KeyError:
                return default
            return self._data[key]

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key``, evicting the oldest entry when full."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        """Forget ``key`` (no error if absent)."""
        with self._lock:
            self._data.pop(key, None)

    def get_or_build(self, key: Hashable, build: Callable[[], V]) -> V:
        """The cached value for ``key``, building and storing it on a miss.

        ``build`` runs outside the lock: two callers may build the same value concurrently,
        which is harmless (values are pure functions of the key) and never blocks a reader.
        """
        sentinel = object()
        value = self.get(key, sentinel)
        if value is sentinel:
            value = build()
            self.put(key, value)
        return value

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data
