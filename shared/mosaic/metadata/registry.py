"""The objects a service declares in code: its core objects and those its plugins add."""
from __future__ import annotations

import threading
import weakref
from typing import Iterable, Iterator

from mosaic.metadata.fields import NAME_RE, ObjectDef


class ObjectRegistry:
    """The in-code objects (core and plugin) of one service, by name and by URL path.

    A service builds one at import or start-up time; tenant metadata (custom fields and custom
    objects) is layered on top by :func:`mosaic.metadata.store.tenant_objects`.
    """

    def __init__(self, service: str, objects: Iterable[ObjectDef] = ()):
        self.service = service
        self._by_name: dict[str, ObjectDef] = {}
        self._by_path: dict[str, ObjectDef] = {}
        self._lock = threading.Lock()
        #: per-database, per-tenant cache of resolved objects; owned by ``mosaic.metadata.store``.
        #: Keyed weakly by Engine so a disposed test database never serves another's metadata.
        self.tenant_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        for obj in objects:
            self.register(obj)

    def register(self, obj: ObjectDef) -> ObjectDef:
        """Add ``obj``; refuses a second object with the same name or URL path.

        Raises ``ValueError``: a duplicate is a programming error in a service or plugin, found
        at start-up, not a caller's mistake.
        """
        if not NAME_RE.match(obj.name):
            raise ValueError(f"object name {obj.name!r} is not a valid name")
        if obj.service != self.service:
            raise ValueError(f"object {obj.name!r} belongs to service {obj.service!r}, "
                             f"not {self.service!r}")
        names = [f.name for f in obj.fields]
        if len(names) != len(set(names)):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"object {obj.name!r} declares fields twice: {', '.join(dupes)}")
        with self._lock:
            if obj.name in self._by_name:
                raise ValueError(f"object {obj.name!r} is already registered in {self.service}")
            if obj.path in self._by_path:
                raise ValueError(f"path {obj.path!r} is already used by "
                                 f"{self._by_path[obj.path].name!r}")
            self._by_name[obj.name] = obj
            self._by_path[obj.path] = obj
            # Resolved tenant objects embed the registry's objects: drop them.
            self.tenant_cache.clear()
        return obj

    def get(self, name: str) -> ObjectDef | None:
        """The object called ``name``, or None."""
        return self._by_name.get(name)

    def by_path(self, path: str) -> ObjectDef | None:
        """The object whose record API lives at ``/{path}``, or None."""
        return self._by_path.get(path)

    def all(self) -> list[ObjectDef]:
        """Every registered object, in registration order."""
        return list(self._by_name.values())

    def names(self) -> list[str]:
        """The names of every registered object."""
        return list(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[ObjectDef]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"ObjectRegistry({self.service!r}, {self.names()!r})"
