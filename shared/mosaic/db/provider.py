"""The nameko dependency that gives each worker a tenant-scoped session."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from sqlalchemy.orm import Session

from mosaic.config import Settings, load_settings
from mosaic.context import RequestContext
from mosaic.db.engine import get_engine
from mosaic.db.tenancy import system_session, tenant_session


def settings_of(container) -> Settings:
    """The :class:`Settings` a container was started with (``config['MOSAIC_SETTINGS']``)."""
    settings = container.config.get("MOSAIC_SETTINGS")
    return settings if isinstance(settings, Settings) else load_settings()


class WorkerDb:
    """Per-worker handle: sessions open lazily, are closed (rolled back if uncommitted) after."""

    def __init__(self, engine, ctx: RequestContext):
        self.engine = engine
        self.ctx = ctx
        self._sessions: list[Session] = []

    @property
    def session(self) -> Session:
        """The tenant session of this worker's caller."""
        if not self._sessions or self._sessions[0].info.get("system"):
            s = tenant_session(self.engine, self.ctx.require_tenant())
            self._sessions.insert(0, s)
        return self._sessions[0]

    def system(self) -> Session:
        """A session that spans tenants (replay, health); callers say so explicitly."""
        s = system_session(self.engine)
        self._sessions.append(s)
        return s

    def close(self) -> None:
        for s in self._sessions:
            s.close()
        self._sessions.clear()


class Database(DependencyProvider):
    """``db = Database("contacts")``: the service's own database, green on PostgreSQL."""

    def __init__(self, service: str):
        self.service = service
        self.engine = None
        self._workers: dict = {}

    def setup(self):
        self.engine = get_engine(settings_of(self.container), self.service)

    def get_dependency(self, worker_ctx):
        handle = WorkerDb(self.engine, RequestContext.from_nameko(worker_ctx.data))
        self._workers[worker_ctx] = handle
        return handle

    def worker_teardown(self, worker_ctx):
        handle = self._workers.pop(worker_ctx, None)
        if handle is not None:
            handle.close()
