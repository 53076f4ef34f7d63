"""Fixtures for the metadata tests: a SQLite database file with the metadata tables, a stand-in
core model and a generic records table (see metadata_factories), factories with overrides."""
from __future__ import annotations

import pytest
from metadata_factories import FactoryBase, make_widget_object, records_metadata
from mosaic.db import Base, make_engine, tenant_session
from mosaic.metadata import METADATA_TABLES, ObjectDef, ObjectRegistry
from mosaic.metadata.schema_factory import clear_schema_cache


@pytest.fixture
def make_registry():
    """``make_registry(*objects)``: a ``svc`` registry holding the widget object (default)."""
    def factory(*objects: ObjectDef, service: str = "svc") -> ObjectRegistry:
        return ObjectRegistry(service, objects or (make_widget_object(),))
    return factory


@pytest.fixture
def registry(make_registry):
    return make_registry()


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'meta.db'}"


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url, "svc")
    Base.metadata.create_all(eng, tables=METADATA_TABLES)
    FactoryBase.metadata.create_all(eng)
    records_metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def make_session(engine):
    """``make_session(tenant="t1")``: a tenant session, closed after the test."""
    sessions = []

    def factory(tenant: str = "t1", bind=None):
        s = tenant_session(bind or engine, tenant)
        sessions.append(s)
        return s
    yield factory
    for s in sessions:
        s.close()


@pytest.fixture
def session(make_session):
    return make_session("t1")


@pytest.fixture(autouse=True)
def _fresh_schema_cache():
    clear_schema_cache()
    yield
    clear_schema_cache()


@pytest.fixture
def field_def():
    """``field_def(**overrides)``: an API field definition (text ``region`` by default)."""
    def factory(**overrides):
        return {"name": "region", "type": "text", **overrides}
    return factory
