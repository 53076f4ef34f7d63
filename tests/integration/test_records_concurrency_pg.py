"""The record engine under concurrent writers on the real PostgreSQL: the loser of a race gets a
typed answer — 412 when it named the version it read (If-Match), 409 otherwise — never an
internal error, for updates and deletes alike; and a new tenant's first concurrent requests all
note its plugins without tripping over each other.

The deterministic tests make the race happen on purpose: writer A changes the row and holds its
lock, writer B reads the same version and blocks on the lock (seen in ``pg_stat_activity``), then
A commits. The swarm tests let many green threads (one session each) run at once and check what
must hold whatever the interleaving.
"""
from __future__ import annotations

import eventlet
import pytest
from sqlalchemy import select

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db import get_engine, system_session, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate
from mosaic.errors import Conflict, MosaicError, NotFound, PreconditionFailed
from mosaic.logic.models import TenantPlugins
from mosaic.metadata.store import tenant_objects_versioned
from mosaic.records.provider import TenantPluginsCache
from mosaic.records.store import RecordStore
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.objects import build_registry
from tests.conftest import fresh_database, wait_for_lock_waiter

pytestmark = pytest.mark.postgres

REGISTRY = build_registry()
TENANT = "race"
WRITERS = 10


@pytest.fixture(scope="module")
def engine():
    settings = load_settings({"MOSAIC_MODE": "distributed",
                              "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_races")})
    migrate(settings, "contacts")
    yield get_engine(settings, "contacts")
    dispose_engines()


def make_store(session) -> RecordStore:
    ctx = RequestContext(tenant_id=TENANT, user_id="u1", roles=("admin",), modules=("contacts",))
    objects, version = tenant_objects_versioned(session, REGISTRY)
    return RecordStore(session, objects, ctx, module="contacts", metadata_version=version,
                       behaviours=build_behaviours())


def new_contact(engine, **values) -> dict:
    with tenant_session(engine, TENANT) as s:
        record = make_store(s).create("contact", {"last_name": "Race", **values})
        s.commit()
    return record


def attempt(engine, fn):
    """Run ``fn(store)`` in a session of its own and commit: "ok" or the error it raised."""
    with tenant_session(engine, TENANT) as s:
        try:
            fn(make_store(s))
            s.commit()
            return "ok"
        except MosaicError as exc:
            s.rollback()
            return exc


def race(engine, first, second):
    """``first`` writes and holds the row lock; ``second`` runs meanwhile, from the same version;
    ``first`` commits. Returns what ``second`` ended with."""
    with tenant_session(engine, TENANT) as s:
        first(make_store(s))
        loser = eventlet.spawn(attempt, engine, second)
        wait_for_lock_waiter(engine, loser)
        s.commit()
    return loser.wait()


@pytest.mark.parametrize("if_match, expected", [(1, PreconditionFailed), (None, Conflict)])
def test_the_loser_of_an_update_race_gets_412_or_409(engine, if_match, expected):
    rid = new_contact(engine)["id"]
    outcome = race(engine, lambda st: st.update("contact", rid, {"title": "A"}, expected_version=if_match),
                   lambda st: st.update("contact", rid, {"title": "B"}, expected_version=if_match))
    assert isinstance(outcome, expected), outcome
    assert type(outcome) is expected  # exactly the public type: it crosses RPC by its name
    with tenant_session(engine, TENANT) as s:
        assert make_store(s).get("contact", rid)["title"] == "A"


@pytest.mark.parametrize("if_match, expected", [(1, PreconditionFailed), (None, Conflict)])
def test_the_loser_of_a_delete_race_gets_412_or_409(engine, if_match, expected):
    rid = new_contact(engine)["id"]
    outcome = race(engine, lambda st: st.delete("contact", rid, expected_version=if_match),
                   lambda st: st.delete("contact", rid, expected_version=if_match))
    assert type(outcome) is expected, outcome


def test_an_update_racing_a_delete_gets_409(engine):
    rid = new_contact(engine)["id"]
    outcome = race(engine, lambda st: st.delete("contact", rid),
                   lambda st: st.update("contact", rid, {"title": "late"}))
    assert type(outcome) is Conflict, outcome


def swarm(engine, fn, n: int = WRITERS) -> list:
    # No connection is opened beforehand: the threads connect at once too (mosaic.db.green).
    pool = eventlet.GreenPool(n)
    return list(pool.imap(lambda _: attempt(engine, fn), range(n)))


def test_a_swarm_of_patches_with_one_if_match_has_one_winner_and_412s(engine):
    rid = new_contact(engine)["id"]
    outcomes = swarm(engine, lambda st: st.update("contact", rid, {"title": "swarm"}, expected_version=1))
    assert outcomes.count("ok") == 1, outcomes
    assert all(type(o) is PreconditionFailed for o in outcomes if o != "ok"), outcomes
    with tenant_session(engine, TENANT) as s:
        assert make_store(s).get("contact", rid)["version"] == 2


def test_a_swarm_of_patches_without_if_match_loses_no_write_silently(engine):
    rid = new_contact(engine)["id"]
    outcomes = swarm(engine, lambda st: st.update("contact", rid, {"title": f"t{id(st)}"}))
    wins = outcomes.count("ok")
    assert wins >= 1 and all(type(o) is Conflict for o in outcomes if o != "ok"), outcomes
    with tenant_session(engine, TENANT) as s:
        assert make_store(s).get("contact", rid)["version"] == 1 + wins  # each win, one version


def test_a_swarm_of_deletes_has_one_winner(engine):
    rid = new_contact(engine)["id"]
    outcomes = swarm(engine, lambda st: st.delete("contact", rid))
    assert outcomes.count("ok") == 1, outcomes
    assert all(type(o) in (Conflict, NotFound) for o in outcomes if o != "ok"), outcomes


def test_a_new_tenants_plugins_are_noted_while_another_writer_inserts_them(engine):
    """The old check-then-insert failed with a duplicate key here."""
    tenant = "fresh-tenant-1"
    with system_session(engine) as s:
        s.add(TenantPlugins(tenant_id=tenant, plugins=["a"]))
        s.flush()  # holds the key, uncommitted
        noting = eventlet.spawn(TenantPluginsCache().note, engine, tenant, ("b",))
        wait_for_lock_waiter(engine, noting, what="the second note")
        s.commit()
    noting.wait()  # raises if the note failed
    with system_session(engine) as s:
        assert s.scalar(select(TenantPlugins.plugins).where(TenantPlugins.tenant_id == tenant)) == ["b"]


def test_a_new_tenants_first_concurrent_requests_all_note_it(engine):
    tenant = "fresh-tenant-2"
    pool = eventlet.GreenPool(WRITERS)
    caches = [TenantPluginsCache() for _ in range(WRITERS)]  # one per worker process
    list(pool.imap(lambda c: c.note(engine, tenant, ("p2", "p1")), caches))
    with system_session(engine) as s:
        assert s.scalar(select(TenantPlugins.plugins).where(TenantPlugins.tenant_id == tenant)) == ["p1", "p2"]
