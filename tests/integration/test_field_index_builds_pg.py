"""Custom field indexes on the real PostgreSQL are built in the background, CONCURRENTLY, by the
job queue; the field shows the build's state; failures are reported and retried; replicas
never build one index twice at once; the number of indexes is capped."""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from sqlalchemy import Integer, String, func, insert, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mosaic.automation.jobs import AutomationJob, run_due_jobs
from mosaic.db import Base, JSONType, TenantScoped, make_engine, schema_for, tenant_session
from mosaic.db.tenancy import system_session
from mosaic.errors import ValidationFailed
from mosaic.metadata import (METADATA_TABLES, SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef,
                             ObjectRegistry, add_field, change_field, tenant_objects)
from mosaic.metadata import index_builds
from mosaic.metadata.index_builds import FieldIndex, build_field_index
from tests.conftest import fresh_database

pytestmark = pytest.mark.postgres
SERVICE = "ixb"
INDEX = "ix_ixb_gizmos_cf_code"


class _GizmoBase(DeclarativeBase):
    pass


class Gizmo(TenantScoped, _GizmoBase):
    __tablename__ = "ixb_gizmos"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(255))
    custom: Mapped[dict] = mapped_column(JSONType, default=dict)


REGISTRY = ObjectRegistry(SERVICE, [ObjectDef(
    name="gizmo", label="Gizmo", service=SERVICE, model=Gizmo,
    fields=SYSTEM_FIELDS + (FieldDef("name", FieldType.TEXT, storage="column"),))])


@pytest.fixture(scope="module")
def engine():
    url = fresh_database("mosaic_test_index_builds")
    eng = make_engine(url.replace("postgresql://", "postgresql+psycopg2://"), SERVICE, pool_size=3)
    with eng.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for(SERVICE)}"'))
    with eng.begin() as conn:
        Base.metadata.create_all(conn, tables=METADATA_TABLES + [AutomationJob.__table__])
        _GizmoBase.metadata.create_all(conn)
    yield eng
    eng.dispose()


@pytest.fixture
def clean(engine):
    with engine.begin() as conn:
        conn.execute(text(f'DROP INDEX IF EXISTS "{INDEX}"'))
        conn.execute(text("TRUNCATE metadata_fields, metadata_versions, field_indexes, "
                          "automation_jobs, ixb_gizmos"))
    return engine


def run_jobs(engine) -> int:
    """The service's job timer, as ``run_jobs`` calls it."""
    @contextmanager
    def open_store(tenant):
        with tenant_session(engine, tenant) as session:
            yield SimpleNamespace(session=session, clock=None)
    return run_due_jobs(engine, open_store)


def field_dict(engine, tenant="t", name="code") -> dict:
    with tenant_session(engine, tenant) as s:
        return tenant_objects(s, REGISTRY)["gizmo"].field(name).to_dict()


def index_valid(engine) -> bool | None:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
                                "ON c.oid = i.indexrelid WHERE c.relname = :n"), {"n": INDEX})


def add_code(engine, tenant="t"):
    with tenant_session(engine, tenant) as s:
        add_field(s, REGISTRY, "gizmo", {"name": "code", "type": "text", "indexed": True})
        s.commit()


def test_the_request_queues_the_build_and_the_field_shows_its_progress(clean):
    add_code(clean, "t")
    assert field_dict(clean)["index_status"] == "pending"
    assert index_valid(clean) is None  # nothing built inside the request
    add_code(clean, "u")  # another tenant, same field name: the same shared index, queued once
    assert run_jobs(clean) == 1
    assert index_valid(clean) is True
    for tenant in ("t", "u"):
        assert field_dict(clean, tenant)["index_status"] == "ready"
        assert field_dict(clean, tenant)["index_error"] is None
    with system_session(clean) as s:
        assert s.scalar(select(FieldIndex.attempts).where(FieldIndex.name == INDEX)) == 1


def test_a_failed_build_is_reported_and_a_later_attempt_recovers(clean):
    with system_session(clean) as s:  # a value a btree cannot hold, stored before the index
        s.execute(insert(Gizmo.__table__).values(id="big", tenant_id="t", name="big",
                                                 custom={"code": secrets.token_urlsafe(9000)}))
        s.commit()
    add_code(clean)
    run_jobs(clean)
    state = field_dict(clean)
    assert state["index_status"] == "failed"
    assert "index row" in state["index_error"]
    assert index_valid(clean) is not True
    with system_session(clean) as s:
        s.execute(update(Gizmo.__table__).values(custom={"code": "short"}))
        s.execute(update(AutomationJob).values(run_at=func.now()))  # its retry comes due now
        s.commit()
    run_jobs(clean)
    assert field_dict(clean)["index_status"] == "ready"
    assert index_valid(clean) is True  # the INVALID leftover was dropped and built again


def test_a_replica_building_the_index_makes_the_others_step_aside(clean):
    add_code(clean)
    with clean.connect() as other:
        other.execute(select(func.pg_advisory_lock(func.hashtext(INDEX))))
        with clean.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            assert build_field_index(conn, INDEX) == "building"
        assert index_valid(clean) is None
        other.execute(select(func.pg_advisory_unlock(func.hashtext(INDEX))))
        other.commit()
    with clean.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        assert build_field_index(conn, INDEX) == "ready"
    assert index_valid(clean) is True


def test_changing_a_field_to_indexed_queues_its_build(clean):
    with tenant_session(clean, "t") as s:
        add_field(s, REGISTRY, "gizmo", {"name": "code", "type": "text"})
        s.commit()
    assert field_dict(clean)["index_status"] is None
    with tenant_session(clean, "t") as s:
        change_field(s, REGISTRY, "gizmo", "code", {"indexed": True})
        s.commit()
    assert field_dict(clean)["index_status"] == "pending"
    run_jobs(clean)
    assert field_dict(clean)["index_status"] == "ready"


def test_a_table_carries_a_bounded_number_of_field_indexes(clean, monkeypatch):
    monkeypatch.setattr(index_builds, "MAX_TABLE_INDEXES", 1)
    add_code(clean, "t")
    with tenant_session(clean, "u") as s:
        add_field(s, REGISTRY, "gizmo", {"name": "code", "type": "text", "indexed": True})  # shared
        with pytest.raises(ValidationFailed) as exc:
            add_field(s, REGISTRY, "gizmo", {"name": "other", "type": "text", "indexed": True})
    assert exc.value.status == 422 and "indexed" in exc.value.errors
