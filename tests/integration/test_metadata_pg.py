"""Metadata on the real PostgreSQL: expression and GIN indexes exist and the planner uses them;
JSONB-specific paths (purging a removed field) behave like their SQLite twins."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contextlib import contextmanager
from types import SimpleNamespace

from mosaic.automation.jobs import AutomationJob, run_due_jobs
from mosaic.db import Base, JSONType, TenantScoped, make_engine, schema_for, tenant_session
from mosaic.localdev import ensure_database, checkout_database
from mosaic.metadata import (METADATA_TABLES, SYSTEM_FIELDS, FieldDef, FieldType, ObjectDef,
                             ObjectRegistry, add_field, base_json_indexes, create_object,
                             ensure_field_index, metadata_version, remove_field, tenant_objects)

pytestmark = pytest.mark.postgres

PG_SERVER = os.environ.get("MOSAIC_TEST_A_PG_SERVER", "postgresql+psycopg2://postgres@127.0.0.1:5432")
DATABASE = checkout_database("mosaic_test_a")
SERVICE = "a"


class _PgBase(DeclarativeBase):
    pass


class PgWidget(TenantScoped, _PgBase):
    """A core table as a service declares one: core columns plus the ``custom`` JSONB column."""

    __tablename__ = "pg_widgets"
    __table_args__ = tuple(base_json_indexes("pg_widgets", "custom"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(255))
    custom: Mapped[dict] = mapped_column(JSONType, default=dict)


_records_md = MetaData()
RECORDS = Table("records", _records_md, Column("id", String(36), primary_key=True),
                Column("tenant_id", String(64), nullable=False),
                Column("object", String(64), nullable=False),
                Column("data", JSONType, nullable=False))
base_json_indexes(RECORDS, "data")


def make_registry() -> ObjectRegistry:
    """The service's registry with the ``widget`` core object."""
    return ObjectRegistry(SERVICE, [ObjectDef(
        name="widget", label="Widget", service=SERVICE, model=PgWidget,
        fields=SYSTEM_FIELDS + (FieldDef("name", FieldType.TEXT, storage="column"),))])


@pytest.fixture(scope="module")
def engine():
    ensure_database(DATABASE, PG_SERVER.replace("+psycopg2", ""))
    eng = make_engine(f"{PG_SERVER}/{DATABASE}", SERVICE, pool_size=2)
    with eng.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema_for(SERVICE)}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema_for(SERVICE)}"'))
    with eng.begin() as conn:
        Base.metadata.create_all(conn, tables=METADATA_TABLES + [AutomationJob.__table__])
        _PgBase.metadata.create_all(conn)
        _records_md.create_all(conn)
    yield eng
    eng.dispose()


@pytest.fixture
def clean(engine):
    """Empty tables before each test (indexes stay: they are what is under test)."""
    with engine.begin() as conn:
        for name in ("metadata_fields", "metadata_objects", "metadata_versions", "pg_widgets",
                     "records", "field_indexes", "automation_jobs"):
            conn.execute(text(f"TRUNCATE {name}"))
    return engine


def _build_queued(engine) -> int:
    """Run the queued field index builds as the service's job timer does."""
    @contextmanager
    def open_store(tenant):
        with tenant_session(engine, tenant) as session:
            yield SimpleNamespace(session=session, clock=None)
    return run_due_jobs(engine, open_store)


def _indexes(engine, table: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes "
                                 "WHERE schemaname = :s AND tablename = :t"),
                            {"s": schema_for(SERVICE), "t": table})
        return dict(rows.all())


def _plan(engine, sql: str, **params) -> str:
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}"), params))


def test_indexed_custom_field_gets_an_expression_index_the_planner_uses(clean):
    registry = make_registry()
    s = tenant_session(clean, "t")
    add_field(s, registry, "widget", {"name": "region", "type": "text", "indexed": True})
    s.commit()
    s.close()
    assert _build_queued(clean) == 1
    indexes = _indexes(clean, "pg_widgets")
    assert "btree (tenant_id, ((custom ->> 'region'::text)))" in indexes["ix_pg_widgets_cf_region"]
    assert "USING gin (custom jsonb_path_ops)" in indexes["ix_pg_widgets_custom_gin"]
    with clean.begin() as conn:
        conn.execute(insert(PgWidget.__table__), [
            {"id": f"w{i}", "tenant_id": f"t{i % 3}" if i % 7 else "t", "name": f"w{i}",
             "custom": {"region": f"r{i % 40}", "size": i}} for i in range(3000)])
        conn.execute(text("ANALYZE pg_widgets"))
    plan = _plan(clean, "SELECT id FROM pg_widgets WHERE custom ->> 'region' = :r "
                        "AND tenant_id = :t", r="x", t="t")
    assert "ix_pg_widgets_cf_region" in plan
    plan = _plan(clean, "SELECT id FROM pg_widgets WHERE custom @> CAST(:doc AS jsonb)",
                 doc='{"region": "x"}')
    assert "ix_pg_widgets_custom_gin" in plan


def test_custom_object_fields_index_the_records_table(clean):
    registry = make_registry()
    s = tenant_session(clean, "t")
    obj = create_object(s, registry, {"name": "project", "fields": [
        {"name": "name", "type": "text"}, {"name": "code", "type": "text", "indexed": True}]})
    s.commit()
    s.close()
    assert _build_queued(clean) == 1
    indexes = _indexes(clean, "records")
    assert "btree (tenant_id, object, ((data ->> 'code'::text)))" in indexes["ix_records_cf_code"]
    assert "jsonb_path_ops" in indexes["ix_records_data_gin"]
    with clean.begin() as conn:
        conn.execute(insert(RECORDS), [
            {"id": f"r{i}", "tenant_id": "t", "object": "project" if i % 2 else "other",
             "data": {"code": f"c{i}"}} for i in range(2000)])
        conn.execute(text("ANALYZE records"))
    plan = _plan(clean, "SELECT id FROM records WHERE tenant_id = :t AND object = :o "
                        "AND data ->> 'code' = :c", t="t", o="project", c="c7")
    assert "ix_records_cf_code" in plan
    # creating it again (another field change, another process) is harmless
    with clean.begin() as conn:
        assert ensure_field_index(conn, obj, obj.field("code")) == "ix_records_cf_code"


def test_ensure_field_index_inside_a_session_keeps_the_transaction(clean):
    registry = make_registry()
    s = tenant_session(clean, "t")
    add_field(s, registry, "widget", {"name": "tier", "type": "integer", "indexed": True})
    widget = tenant_objects(s, registry)["widget"]
    assert ensure_field_index(s.connection(), widget, widget.field("tier")) == \
        "ix_pg_widgets_cf_tier"
    s.commit()
    assert metadata_version(s) == 1
    s.close()


def test_remove_field_purges_jsonb_values_of_the_tenant_only(clean):
    registry = make_registry()
    for tenant in ("t", "u"):
        s = tenant_session(clean, tenant)
        add_field(s, registry, "widget", {"name": "region", "type": "text"})
        s.add(PgWidget(id=f"w-{tenant}", name="x", custom={"region": tenant, "keep": 1}))
        s.commit()
        s.close()
    s = tenant_session(clean, "t")
    remove_field(s, registry, "widget", "region")
    s.commit()
    s.close()
    with clean.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, custom FROM pg_widgets")).all())
    assert rows == {"w-t": {"keep": 1}, "w-u": {"region": "u", "keep": 1}}
