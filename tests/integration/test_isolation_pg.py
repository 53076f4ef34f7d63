"""Isolation and safety on the real PostgreSQL: Core statements scoped to the tenant, statement
timeouts per role turned into a typed error, required-field backfill on JSONB."""
from __future__ import annotations

import pytest
from sqlalchemy import Integer, String, func, insert, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mosaic.db import JSONType, TenantLeak, TenantScoped, make_engine, schema_for, tenant_session
from mosaic.db.engine import statement_role
from mosaic.db.tenancy import system_session
from mosaic.errors import ServiceUnavailable, from_remote
from mosaic.metadata import (METADATA_TABLES, SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef,
                             ObjectRegistry, add_field)
from mosaic.db import Base
from tests.conftest import fresh_database

pytestmark = pytest.mark.postgres
SERVICE = "iso"


class _IsoBase(DeclarativeBase):
    pass


class IsoThing(TenantScoped, _IsoBase):
    __tablename__ = "iso_things"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(255))
    custom: Mapped[dict | None] = mapped_column(JSONType, default=dict, nullable=True)


things = IsoThing.__table__
TIMEOUTS = {"request": 300, "job": 60_000, "import": 120_000, "migration": 0}


@pytest.fixture(scope="module")
def engine():
    url = fresh_database("mosaic_test_isolation")
    eng = make_engine(url.replace("postgresql://", "postgresql+psycopg2://"), SERVICE,
                      pool_size=2, statement_timeouts=TIMEOUTS)
    with eng.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_for(SERVICE)}"'))
    with eng.begin() as conn:
        Base.metadata.create_all(conn, tables=METADATA_TABLES)
        _IsoBase.metadata.create_all(conn)
    yield eng
    eng.dispose()


@pytest.fixture
def seeded(engine):
    with system_session(engine) as s:
        s.execute(text("TRUNCATE iso_things, metadata_fields, metadata_versions"))
        s.execute(insert(things), [
            {"id": "a1", "tenant_id": "a", "name": "a1", "custom": {}},
            {"id": "a2", "tenant_id": "a", "name": "a2", "custom": None},
            {"id": "a3", "tenant_id": "a", "name": "a3", "custom": {"tier": "gold"}},
            {"id": "b1", "tenant_id": "b", "name": "b1", "custom": {}}])
        s.commit()
    return engine


def test_core_bulk_statements_stay_in_the_tenant(seeded):
    with tenant_session(seeded, "a") as s:
        assert s.scalar(select(func.count()).select_from(things)) == 3
        s.execute(update(things).values(name="renamed"))
        s.execute(insert(things), [{"id": "a4", "name": "new"}])
        with pytest.raises(TenantLeak):
            s.execute(insert(things), [{"id": "x", "name": "x", "tenant_id": "b"}])
        s.commit()
    with system_session(seeded) as s:
        rows = dict(s.execute(select(things.c.id, things.c.name)).all())
    assert rows == {"a1": "renamed", "a2": "renamed", "a3": "renamed", "a4": "new", "b1": "b1"}
    with system_session(seeded) as s:
        assert s.scalar(select(things.c.tenant_id).where(things.c.id == "a4")) == "a"


def _timeout(engine) -> str:
    with tenant_session(engine, "a") as s:
        return s.scalar(select(func.current_setting("statement_timeout")))


def test_each_role_runs_under_its_own_statement_timeout(seeded):
    assert _timeout(seeded) == "300ms"
    with statement_role("job"):
        assert _timeout(seeded) == "1min"
    with statement_role("import"):
        assert _timeout(seeded) == "2min"
    with statement_role("migration"):
        assert _timeout(seeded) == "0"
    assert _timeout(seeded) == "300ms"  # SET LOCAL ended with its transaction


def test_a_statement_over_its_timeout_is_a_typed_503(seeded):
    with tenant_session(seeded, "a") as s:
        with pytest.raises(ServiceUnavailable) as exc:  # a type the gateway knows across RPC
            s.execute(select(func.pg_sleep(5)))
        problem = exc.value.to_problem()
        assert problem["status"] == 503 and problem["reason"] == "statement_timeout"
        assert problem["role"] == "request" and problem["timeout"] == 0.3
        # what the gateway rebuilds from the RPC error: the same 503, not a 500
        remote = from_remote(type(exc.value).__name__, str(exc.value))
        assert remote.to_problem() == problem
        s.rollback()
        assert s.scalar(select(func.count()).select_from(things)) == 3  # the session goes on


def _registry() -> ObjectRegistry:
    return ObjectRegistry(SERVICE, [ObjectDef(
        name="thing", label="Thing", service=SERVICE, model=IsoThing,
        fields=SYSTEM_FIELDS + (FieldDef("name", FieldType.TEXT, storage="column"),))])


def test_required_field_backfills_jsonb_of_the_tenant_only(seeded):
    with tenant_session(seeded, "a") as s:
        add_field(s, _registry(), "thing", {"name": "tier", "type": "text", "required": True,
                                            "default": "basic"})
        s.commit()
    with system_session(seeded) as s:
        custom = dict(s.execute(select(things.c.id, things.c.custom)).all())
    assert custom == {"a1": {"tier": "basic"}, "a2": {"tier": "basic"}, "a3": {"tier": "gold"},
                      "b1": {}}
