"""The nameko dependency a record-hosting service declares once: its database, its objects
(core and tenant-defined) and a :class:`~mosaic.records.store.RecordStore` per worker."""
from __future__ import annotations

from typing import Callable

from mosaic.db.provider import Database, WorkerDb, settings_of
from mosaic.metadata.registry import ObjectRegistry
from mosaic.metadata.store import tenant_objects, tenant_objects_versioned

#: how long a worker trusts its process's cached metadata without asking the database (seconds);
#: another process's field or object change shows up at most this much later.
METADATA_MAX_AGE = 1.0
from mosaic.records.store import Behaviour, RecordStore


class WorkerRecords(WorkerDb):
    """A worker's database handle plus the tenant's objects and a record store."""

    def __init__(self, engine, ctx, registry: ObjectRegistry, behaviours: dict[str, Behaviour],
                 module: str, settings):
        super().__init__(engine, ctx)
        self.registry = registry
        self.behaviours = behaviours
        self.module = module
        self.settings = settings
        self._store: RecordStore | None = None

    def objects(self):
        """The tenant's objects: core ones with its custom fields, and its custom objects."""
        return tenant_objects(self.session, self.registry)

    def store(self) -> RecordStore:
        """The record store of this worker's tenant (built once per worker)."""
        if self._store is None:
            session = self.session
            objects, version = tenant_objects_versioned(session, self.registry, max_age=METADATA_MAX_AGE)
            self._store = RecordStore(session, objects, self.ctx, module=self.module, metadata_version=version,
                                      max_page=self.settings.max_page, behaviours=self.behaviours)
        return self._store


class Records(Database):
    """``data = Records("contacts", build_registry, behaviours)`` in a service class."""

    def __init__(self, service: str, registry_factory: Callable[[], ObjectRegistry],
                 behaviours_factory: Callable[[], dict[str, Behaviour]] | None = None,
                 module: str | None = None):
        super().__init__(service)
        self.registry = registry_factory()
        self.behaviours = behaviours_factory() if behaviours_factory else {}
        self.module = module or service

    def get_dependency(self, worker_ctx):
        from mosaic.context import RequestContext

        handle = WorkerRecords(self.engine, RequestContext.from_nameko(worker_ctx.data), self.registry,
                               self.behaviours, self.module, settings_of(self.container))
        self._workers[worker_ctx] = handle
        return handle
