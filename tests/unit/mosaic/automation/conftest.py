"""Fixtures for the automation tests: the contacts objects on a SQLite file, a RecordStore with
the AutomationStep and a small stand-in for the tenant's logic, and an ``open_store`` like the
one the service timer gets."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from automation_factories import TENANTS, Clock, FakeLogic, build_store

from mosaic.automation import system_context
from mosaic.db import Base, make_engine, tenant_session
from mosaic.users import sync_users

#: the users of every test's tenant, as the gateway's sync makes them known to a service
USERS = ("u-admin", "u1", "u2", "u3", "u7", "u8", "u9", "u-ber", "u-muc", "u-rest")



@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'automation.db'}", "contacts")
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def tenant():
    # A tenant of its own per test: record schemas are cached per (tenant, object, version).
    return f"auto-{next(TENANTS)}"


@pytest.fixture(autouse=True)
def known_users(engine, tenant):
    with tenant_session(engine, tenant) as s:
        sync_users(s, [{"id": u, "active": True} for u in USERS])
        s.commit()
    return USERS


@pytest.fixture
def logic():
    return FakeLogic()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def session(engine, tenant):
    with tenant_session(engine, tenant) as s:
        yield s


@pytest.fixture
def store(session, logic, clock):
    return build_store(session, logic, clock)


@pytest.fixture
def open_store(engine, logic):
    """``open_store(tenant_id)``: a system-context store on a fresh tenant session."""

    @contextmanager
    def opener(tenant_id):
        with tenant_session(engine, tenant_id) as s:
            yield build_store(s, logic, ctx=system_context(tenant_id))

    return opener
