"""write_once() on SQLite (the embedded mode): a repeated request id is answered with the first
outcome, typed refusals are stored, crashes are not, secrets are stored blanked, old rows purge."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Integer, String, create_engine, func, select
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.context import RequestContext
from mosaic.db import Base, TenantScoped, system_session, utcnow
from mosaic.db.provider import WorkerDb
from mosaic.errors import Conflict, ServiceUnavailable, ValidationFailed
from mosaic.request_log import RequestLog, purge, write_once


class Thing(TenantScoped, Base):
    __tablename__ = "test_request_log_things"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'once.db'}")
    Base.metadata.create_all(engine, tables=[Thing.__table__, RequestLog.__table__])
    yield engine
    engine.dispose()


class Service:
    """Stands in for a nameko service instance: ``data`` is the worker's database handle."""

    def __init__(self, engine, request_id, tenant="t1"):
        self.data = WorkerDb(engine, RequestContext(tenant_id=tenant, request_id=request_id))
        self.runs = 0

    @write_once
    def create(self, name, price=None):
        self.runs += 1
        if name == "taken":
            raise Conflict("taken", duplicates=["x"])
        if name == "flaky":
            raise ServiceUnavailable("down")
        if name == "boom":
            raise RuntimeError("boom")
        thing = Thing(name=name)
        self.data.session.add(thing)
        self.data.session.flush()
        return {"id": thing.id, "name": name, "price": price}

    @write_once(redact=("secret",))
    def subscribe(self, url):
        self.runs += 1
        return {"url": url, "secret": f"whsec-{self.runs}"}


def call(engine, request_id, method, *args, tenant="t1", **kwargs):
    service = Service(engine, request_id, tenant)
    try:
        return getattr(service, method)(*args, **kwargs), service.runs
    finally:
        service.data.close()


def things(engine) -> int:
    with system_session(engine) as s:
        return s.scalar(select(func.count()).select_from(Thing))


def test_a_repeat_gets_the_first_result_as_it_travelled(engine):
    first, runs = call(engine, "r1", "create", "a", price=Decimal("9.50"))
    again, again_runs = call(engine, "r1", "create", "a", price=Decimal("9.50"))
    assert (runs, again_runs) == (1, 0) and things(engine) == 1
    assert again["id"] == first["id"] and again["name"] == "a"
    other_tenant, runs = call(engine, "r1", "create", "a", price=Decimal("9.50"), tenant="t2")
    assert runs == 1 and other_tenant["id"] != first["id"]


def test_no_request_id_runs_every_time(engine):
    call(engine, None, "create", "a")
    call(engine, None, "create", "a")
    assert things(engine) == 2


def test_a_typed_refusal_is_stored_and_raised_again(engine):
    with pytest.raises(Conflict):
        call(engine, "r2", "create", "taken")
    service = Service(engine, "r2")
    with pytest.raises(Conflict) as again:
        service.create("taken")
    assert service.runs == 0 and again.value.extra == {"duplicates": ["x"]}


@pytest.mark.parametrize("name, error", [("flaky", ServiceUnavailable), ("boom", RuntimeError)])
def test_a_failure_stores_nothing_and_the_repeat_runs(engine, name, error):
    with pytest.raises(error):
        call(engine, "r3", "create", name)
    with system_session(engine) as s:
        assert s.scalar(select(func.count()).select_from(RequestLog)) == 0
    with pytest.raises(error):
        _result, runs = call(engine, "r3", "create", name)


def test_the_same_id_for_another_write_is_refused(engine):
    call(engine, "r4", "create", "a")
    with pytest.raises(ValidationFailed):
        call(engine, "r4", "create", "b")
    with pytest.raises(ValidationFailed):
        call(engine, "r4", "subscribe", "http://x")
    assert things(engine) == 1


def test_secrets_are_stored_blanked(engine):
    first, _ = call(engine, "r5", "subscribe", "http://x")
    again, runs = call(engine, "r5", "subscribe", "http://x")
    assert first["secret"] == "whsec-1" and runs == 0
    assert again["secret"] is None and "shown once" in again["redacted"]["secret"]
    with system_session(engine) as s:
        assert "whsec-1" not in str(s.scalar(select(RequestLog.result)))


def test_purge_drops_rows_past_retention(engine):
    call(engine, "old", "create", "a")
    call(engine, "new", "create", "b")
    with system_session(engine) as s:
        s.get(RequestLog, ("t1", "old")).created_at = utcnow() - timedelta(days=3)
        s.commit()
    assert purge(engine, utcnow() - timedelta(days=2)) == 1
    _again, runs = call(engine, "new", "create", "b")
    assert runs == 0
