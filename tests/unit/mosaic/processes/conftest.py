"""Fixtures for the process tests: a SQLite database with every table, the example property
object and listing process, and stores of tenant t1 with a clock the test controls."""
from __future__ import annotations

import pytest

import mosaic.automation.execute  # noqa: F401 - registers the "actions" job handler
import mosaic.automation.notifications  # noqa: F401 - its table
import mosaic.processes.engine  # noqa: F401 - registers the "process_timer" job handler
from mosaic.db import Base, make_engine, tenant_session
from mosaic.metadata.schema_factory import clear_schema_cache
from mosaic.processes.testing import Clock, StaticLogic, compile_all, listing, make_store, property_object


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'processes.db'}", "contacts")
    Base.metadata.create_all(eng)
    clear_schema_cache()
    yield eng
    eng.dispose()
    clear_schema_cache()


@pytest.fixture
def objects():
    obj = property_object()
    return {obj.name: obj}


@pytest.fixture
def logic(objects):
    return StaticLogic(compile_all(objects, listing()))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def session(engine):
    with tenant_session(engine, "t1") as s:
        yield s


@pytest.fixture
def store_as(session, objects, logic, clock):
    """``store_as(user, *roles)``: a store of tenant t1 for that caller (same session)."""
    def factory(user: str | None = "u1", *roles: str):
        return make_store(session, objects, logic, user=user, roles=roles or ("admin",), clock=clock)
    return factory


@pytest.fixture
def store(store_as):
    return store_as("u1", "admin")

