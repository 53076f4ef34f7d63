"""The duplicate rule is checked before the insert and holds under concurrency: two creates of
the same contact racing each other on PostgreSQL never both pass (the second waits for the first
on a transaction lock of the exact rule's keys, then sees it)."""
from __future__ import annotations

import eventlet
import pytest
from eventlet.event import Event

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db import get_engine, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate
from mosaic.errors import Conflict
from mosaic.metadata.store import tenant_objects_versioned
from mosaic.records.store import RecordStore
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.models import Contact
from mosaic_contacts.objects import build_registry
from tests.conftest import fresh_database

pytestmark = pytest.mark.postgres
REGISTRY = build_registry()


@pytest.fixture(scope="module")
def engine():
    settings = load_settings({"MOSAIC_MODE": "distributed",
                              "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_dedup_race")})
    migrate(settings, "contacts")
    yield get_engine(settings, "contacts")
    dispose_engines()


def store_of(session, tenant: str) -> RecordStore:
    ctx = RequestContext(tenant_id=tenant, user_id="u", roles=("admin",), modules=("contacts",))
    objects, version = tenant_objects_versioned(session, REGISTRY)
    return RecordStore(session, objects, ctx, module="contacts", metadata_version=version,
                       behaviours=build_behaviours())


def count(engine, tenant: str, email: str) -> int:
    with tenant_session(engine, tenant) as s:
        return len(s.query(Contact).filter(Contact.email == email).all())


def test_the_second_of_two_racing_creates_is_a_conflict(engine):
    inserted, outcomes = Event(), {}

    def first():
        with tenant_session(engine, "race") as s:
            store_of(s, "race").create_checked("contact", {"last_name": "Ada", "email": "ada@race.test"})
            inserted.send()
            eventlet.sleep(0.5)  # the transaction stays open while the second create runs
            s.commit()
            outcomes["first"] = "created"

    def second():
        inserted.wait()
        with tenant_session(engine, "race") as s:
            try:
                store_of(s, "race").create_checked("contact", {"last_name": "Ada", "email": "ADA@race.test "})
                s.commit()
                outcomes["second"] = "created"
            except Conflict as exc:
                outcomes["second"] = ("conflict", [d["reason"] for d in exc.extra["duplicates"]])

    threads = [eventlet.spawn(first), eventlet.spawn(second)]
    for t in threads:
        t.wait()
    assert outcomes == {"first": "created", "second": ("conflict", ["email"])}
    assert count(engine, "race", "ada@race.test") == 1


def test_allow_creates_the_duplicate_and_names_it(engine):
    with tenant_session(engine, "allow") as s:
        store = store_of(s, "allow")
        made = store.create_checked("contact", {"last_name": "Bo", "phone": "+44 20 7946 0000"})
        s.commit()
        again = store.create_checked("contact", {"last_name": "Bo", "phone": "0044 20 7946 0000"},
                                     dedup_policy="allow")
        s.commit()
    assert [d["id"] for d in again["duplicates"] if d["reason"] == "phone"] == [made["record"]["id"]]


def test_other_tenants_records_are_no_duplicates(engine):
    for tenant in ("t1", "t2"):
        with tenant_session(engine, tenant) as s:
            result = store_of(s, tenant).create_checked("contact", {"last_name": "Cy", "email": "cy@x.test"})
            s.commit()
            assert result["duplicates"] == []
