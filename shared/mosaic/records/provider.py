"""The nameko dependency a record-hosting service declares once: its database, its objects
(core, plugin and tenant-defined), the tenant's low-code logic, and a
:class:`~mosaic.records.store.RecordStore` per worker — or per background job
(:meth:`Records.open_store`)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Callable, Iterator

from sqlalchemy import Text, cast, select
from sqlalchemy.dialects import postgresql, sqlite

from mosaic.context import RequestContext
from mosaic.db import utcnow
from mosaic.db.provider import Database, WorkerDb, settings_of
from mosaic.db.tenancy import system_session, tenant_session
from mosaic.logic.models import TenantPlugins
from mosaic.logic.steps import default_steps, job_handlers
from mosaic.logic.tenant import tenant_logic
from mosaic.metadata.registry import ObjectRegistry
from mosaic.metadata.store import tenant_objects_versioned
from mosaic.calls import ServiceCalls
from mosaic.plugins import get_host
from mosaic.records.references import RemoteRecords
from mosaic.records.store import Behaviour, RecordStore

#: how long a worker trusts its process's cached metadata without asking the database (seconds);
#: another process's field or object change shows up at most this much later.
METADATA_MAX_AGE = 1.0
#: how long a service trusts what it read of a tenant's plugins (timers, event handlers), seconds
PLUGINS_MAX_AGE = 5.0


def tenant_plugins_of(engine, tenant_id: str) -> tuple[str, ...]:
    """The tenant's enabled plugins as this service last heard them (``tenant_plugins``)."""
    with system_session(engine) as session:
        plugins = session.scalar(select(TenantPlugins.plugins).where(TenantPlugins.tenant_id == tenant_id))
    return tuple(plugins or ())


def _upsert_plugins(dialect: str, tenant_id: str, plugins: list[str]):
    """INSERT the tenant's plugins, or UPDATE them where another writer got there first (and
    only if they differ, so a note that changes nothing writes nothing)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(TenantPlugins).values(tenant_id=tenant_id, plugins=plugins, updated_at=utcnow())
    table = TenantPlugins.__table__
    return stmt.on_conflict_do_update(
        index_elements=[table.c.tenant_id],
        set_={"plugins": stmt.excluded.plugins, "updated_at": stmt.excluded.updated_at},
        where=cast(table.c.plugins, Text) != cast(stmt.excluded.plugins, Text))


class TenantPluginsCache:
    """Which plugins each tenant runs, as this service last heard (``tenant_plugins``): requests
    carry it in their context and keep the table current; timers and event handlers read it."""

    def __init__(self):
        self._known: dict[tuple[int, str], tuple[str, ...]] = {}
        self._read: dict[tuple[int, str], tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def note(self, engine, tenant_id: str, plugins: tuple[str, ...]) -> None:
        """Record ``plugins`` for the tenant if they changed (own short transaction)."""
        key = (id(engine), tenant_id)
        wanted = tuple(sorted(plugins))
        if self._known.get(key) == wanted:
            return
        with system_session(engine) as session:
            # One statement, not a read then an insert: a new tenant's first requests arrive
            # together, on several workers and replicas, and every one of them notes it.
            session.execute(_upsert_plugins(engine.dialect.name, tenant_id, list(wanted)))
            session.commit()
        with self._lock:
            self._known[key] = wanted
            self._read[key] = (time.monotonic(), wanted)

    def get(self, engine, tenant_id: str) -> tuple[str, ...]:
        """The tenant's plugins as stored (empty if this service never heard of the tenant).
        Read at most every :data:`PLUGINS_MAX_AGE` seconds per tenant: every event handled
        asks, and another replica may have taken the change."""
        key = (id(engine), tenant_id)
        hit = self._read.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < PLUGINS_MAX_AGE:
            return hit[1]
        value = tenant_plugins_of(engine, tenant_id)
        with self._lock:
            self._read[key] = (now, value)
        return value


def build_store(session, registry: ObjectRegistry, ctx: RequestContext, *, module: str,
                behaviours: dict[str, Behaviour], max_page: int = 500,
                clock: Callable[[], datetime] | None = None, max_age: float = METADATA_MAX_AGE,
                steps=None, dedup_threshold: int = 90) -> RecordStore:
    """A record store for ``ctx``'s tenant on ``session``: the objects it sees (its plugins'
    included), its compiled logic, and the write pipeline."""
    host = get_host()
    enabled = host.enabled(ctx.plugins)
    objects, version = tenant_objects_versioned(session, registry, max_age=max_age, plugins=enabled)
    logic = tenant_logic(session, registry, objects, version, host, enabled)
    return RecordStore(session, objects, ctx, module=module, metadata_version=version, max_page=max_page,
                       behaviours=behaviours, steps=default_steps() if steps is None else steps,
                       logic=logic, clock=clock, dedup_threshold=dedup_threshold)


class WorkerRecords(WorkerDb):
    """A worker's database handle plus the tenant's objects and a record store."""

    def __init__(self, engine, ctx, registry: ObjectRegistry, behaviours: dict[str, Behaviour],
                 module: str, settings, provider: "Records"):
        super().__init__(engine, ctx)
        self.registry = registry
        self.behaviours = behaviours
        self.module = module
        self.settings = settings
        self.provider = provider
        self._store: RecordStore | None = None

    def objects(self):
        """The tenant's objects: core and its plugins' ones with its custom fields, and its
        custom objects."""
        return self.store().objects

    def store(self) -> RecordStore:
        """The record store of this worker's tenant (built once per worker)."""
        if self._store is None:
            tenant = self.ctx.require_tenant()
            self.provider.tenant_plugins.note(self.engine, tenant, self.ctx.plugins)
            self._store = build_store(self.session, self.registry, self.ctx, module=self.module,
                                      behaviours=self.behaviours, max_page=self.settings.max_page,
                                      steps=self.provider.steps,
                                      dedup_threshold=self.settings.dedup_threshold)
            self._store.remote = self.provider.remote
        return self._store


class Records(Database):
    """``data = Records("contacts", build_registry, behaviours)`` in a service class."""

    #: the reply queue of the RPCs by which writes check other services' records
    rpc_reply_listener = ServiceCalls.rpc_reply_listener

    def __init__(self, service: str, registry_factory: Callable[[], ObjectRegistry],
                 behaviours_factory: Callable[[], dict[str, Behaviour]] | None = None,
                 module: str | None = None):
        super().__init__(service)
        self.registry = registry_factory()
        self.behaviours = behaviours_factory() if behaviours_factory else {}
        self.module = module or service
        self.tenant_plugins = TenantPluginsCache()
        #: the write pipeline and the job kinds its steps queue, built when the container starts
        self.steps: tuple = ()
        self.job_handlers: dict = {}
        #: checks of records other services host (:mod:`mosaic.records.references`)
        self.remote: RemoteRecords | None = None

    def setup(self):
        """Open the engine, and build the write pipeline and its job handlers once for the
        container: a replica that has served no request yet runs every kind of job."""
        super().setup()
        self.steps = default_steps()
        self.job_handlers = job_handlers(self.steps)
        self.remote = RemoteRecords(self.container, self.rpc_reply_listener, self.service,
                                    getattr(settings_of(self.container), "rpc_timeout", 30.0))

    def get_dependency(self, worker_ctx):
        handle = WorkerRecords(self.engine, RequestContext.of_worker(worker_ctx), self.registry,
                               self.behaviours, self.module, settings_of(self.container), self)
        self._workers[worker_ctx] = handle
        return handle

    def store_on(self, session, tenant_id: str, plugins: tuple[str, ...] | None = None,
                 now: datetime | None = None) -> RecordStore:
        """A record store of ``tenant_id`` on ``session`` acting as the platform (timers, jobs,
        event handlers), with the tenant's plugins as last heard unless given."""
        if plugins is None:
            plugins = self.tenant_plugins.get(self.engine, tenant_id)
        ctx = RequestContext(tenant_id=tenant_id, roles=("system",), modules=(self.module,), plugins=plugins)
        store = build_store(session, self.registry, ctx, module=self.module, behaviours=self.behaviours,
                            clock=(lambda: now) if now else None, steps=self.steps or None)
        store.remote = self.remote
        return store

    @contextmanager
    def open_store(self, tenant_id: str, now: datetime | None = None) -> Iterator[RecordStore]:
        """:meth:`store_on` a fresh tenant session of its own; the caller commits."""
        session = tenant_session(self.engine, tenant_id)
        try:
            yield self.store_on(session, tenant_id, now=now)
        finally:
            session.close()
