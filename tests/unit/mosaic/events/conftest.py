"""Fixtures for the events unit tests: a SQLite database per test, envelope and row factories."""
from __future__ import annotations

import pytest
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mosaic.db import Base, TenantScoped, make_engine, system_session, utcnow
from mosaic.events import OutboxEvent, ProcessedEvent, emit, make_envelope


class _TestBase(DeclarativeBase):
    """Kept apart from mosaic.db.Base so this test table never leaks into other tests' schemas."""


class Tally(TenantScoped, _TestBase):
    """What a test handler writes: one row per (tenant, record) counting applications."""

    __tablename__ = "test_c_tally"

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


@pytest.fixture
def engine(tmp_path):
    """A fresh SQLite file with the outbox, processed_events and tally tables."""
    eng = make_engine(f"sqlite:///{tmp_path / 'events.db'}", "c")
    Base.metadata.create_all(eng, tables=[OutboxEvent.__table__, ProcessedEvent.__table__])
    _TestBase.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def make_env():
    """Envelope factory: ``make_env(**overrides)``."""

    def factory(**overrides) -> dict:
        args = {"type": "contact.created", "tenant_id": "t1", "actor": "user:u1", "object": "contact",
                "record_id": "r1", "data": {"name": "Ada"}, "version": 1}
        extra = {k: overrides.pop(k) for k in ("id", "occurred_at") if k in overrides}
        args.update(overrides)
        return {**make_envelope(**args), **extra}

    return factory


@pytest.fixture
def add_events(engine, make_env):
    """``add_events(n, published=False, **overrides)``: commit n outbox rows, return envelopes."""

    def factory(n: int = 1, published: bool = False, traceparent: str | None = None, **overrides):
        envelopes = [make_env(**{"record_id": f"r{i}", **overrides}) for i in range(n)]
        with system_session(engine) as session:
            for env in envelopes:
                row = emit(session, env, traceparent=traceparent)
                if published:
                    row.published_at = utcnow()
            session.commit()
        return envelopes

    return factory


def _increment(session, envelope) -> None:
    row = session.get(Tally, envelope["record_id"])
    if row is None:
        session.add(Tally(record_id=envelope["record_id"], count=1))
    else:
        row.count += 1


@pytest.fixture
def increment():
    """A handler: count one application of the event for its record (through the given session)."""
    return _increment


@pytest.fixture
def tally_model():
    """The model the ``increment`` handler writes."""
    return Tally


@pytest.fixture
def tallies(engine):
    """``tallies()``: {(tenant_id, record_id): count} as committed."""

    def read() -> dict:
        with system_session(engine) as session:
            return {(t.tenant_id, t.record_id): t.count for t in session.scalars(select(Tally))}

    return read
