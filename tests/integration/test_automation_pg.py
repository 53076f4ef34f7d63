"""The automation job queue on the real PostgreSQL server: ON CONFLICT keeps "once per key" under
concurrency without aborting the caller's transaction, SKIP LOCKED keeps two runners from running
one job twice, and round-robin cursors hand out each position once."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone

import eventlet
import pytest
from sqlalchemy import select, text

from mosaic.automation import (AutomationJob, AutomationStep, compile_rule, enqueue, queue_actions,
                               register_handler, run_due_jobs, system_context)
from mosaic.automation.notifications import requested
from mosaic.context import RequestContext
from mosaic.db import Base, make_engine, system_session, tenant_session
from mosaic.db.migrate import load_models
from mosaic.metadata.schema_factory import clear_schema_cache
from mosaic.records.store import RecordStore
from mosaic.users import sync_users
from mosaic_contacts.objects import ACCOUNT, ACTIVITY, CONTACT
from tests.conftest import fresh_database, wait_for_lock_waiter

pytestmark = pytest.mark.postgres

NOW = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)
TENANT = "tenant-auto"
OBJECTS = {"contact": CONTACT, "account": ACCOUNT, "activity": ACTIVITY}
TABLES = ("contacts", "accounts", "activities", "records", "audit_entries", "outbox", "automation_jobs",
          "assignment_cursors", "tenant_users")


class Logic:
    """The tenant's rules, as the lead's TenantLogic gives them to the pipeline."""

    def __init__(self, *rules):
        self.by_object = {}
        for r in rules:
            self.by_object.setdefault(r.object, []).append(r)

    def rules(self, name):
        return self.by_object.get(name, [])

    def processes(self, name):
        return []

    def validation_rules(self, name):
        return []


@pytest.fixture(scope="module")
def engine():
    load_models()
    eng = make_engine(fresh_database("mosaic_it_automation"), "contacts")
    with eng.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS mosaic_contacts"))
    Base.metadata.create_all(eng, tables=[Base.metadata.tables[t] for t in TABLES])
    clear_schema_cache()
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def clean(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(TABLES)))


def make_store(session, logic=None, ctx=None):
    ctx = ctx or RequestContext(tenant_id=TENANT, user_id="u-admin", roles=("admin",), modules=("contacts",))
    return RecordStore(session, OBJECTS, ctx, module="contacts", metadata_version=7302,
                       steps=[AutomationStep()], logic=logic or Logic(), clock=lambda: NOW)


def opener(engine, logic=None):
    @contextmanager
    def open_store(tenant_id):
        with tenant_session(engine, tenant_id) as s:
            yield make_store(s, logic, system_context(tenant_id))
    return open_store


def statuses(engine):
    with system_session(engine) as s:
        return Counter(j.status for j in s.scalars(select(AutomationJob)))


def test_enqueue_on_conflict_keeps_the_transaction(engine):
    with tenant_session(engine, TENANT) as first:
        assert enqueue(first, "pg_noop", "k", object=None, record_id=None, payload={}, run_at=NOW)
        assert not enqueue(first, "pg_noop", "k", object=None, record_id=None, payload={}, run_at=NOW)
        # the duplicate did not abort the transaction: it can go on and commit
        assert enqueue(first, "pg_noop", "k2", object=None, record_id=None, payload={}, run_at=NOW)
        first.commit()
    assert statuses(engine) == {"pending": 2}


@pytest.mark.parametrize("outcome, second_is_new", [("commit", False), ("rollback", True)])
def test_a_concurrent_enqueue_of_the_key_waits_for_the_first_outcome(engine, outcome, second_is_new):
    """The second enqueue blocks on the first's uncommitted key and then follows its outcome:
    nothing new if it committed, the job after all if it rolled back. (Had the second not waited,
    it would answer before the first ends; had it decided alone, one of the outcomes would differ.)"""
    with tenant_session(engine, TENANT) as first, tenant_session(engine, TENANT) as second:
        assert enqueue(first, "pg_noop", "k", object=None, record_id=None, payload={}, run_at=NOW)
        waiting = eventlet.spawn(enqueue, second, "pg_noop", "k", object=None, record_id=None, payload={},
                                 run_at=NOW)
        wait_for_lock_waiter(engine, waiting, what="the concurrent enqueue")
        getattr(first, outcome)()
        assert waiting.wait() is second_is_new
        second.commit()
    assert statuses(engine) == {"pending": 1}


def test_two_runners_never_run_one_job_twice(engine):
    runs = Counter()

    def handler(store, job):
        runs[job.key] += 1
        store.create("contact", {"last_name": job.key})
        eventlet.sleep(0.001)  # let the other runner in between

    register_handler("pg_count", handler)
    with tenant_session(engine, TENANT) as s:
        for i in range(40):
            enqueue(s, "pg_count", f"job{i}", object=None, record_id=None, payload={}, run_at=NOW)
        s.commit()

    open_store = opener(engine)

    def runner():
        done = 0
        while True:
            n = run_due_jobs(engine, open_store, now=NOW, limit=3)
            if not n:
                return done
            done += n

    a, b = eventlet.spawn(runner), eventlet.spawn(runner)
    assert a.wait() + b.wait() == 40
    assert set(runs.values()) == {1} and len(runs) == 40
    assert statuses(engine) == {"done": 40}
    with tenant_session(engine, TENANT) as s:
        assert len(make_store(s).list("contact", limit=100)["items"]) == 40


def test_a_job_another_runner_holds_is_skipped_not_waited_for(engine):
    ran = []
    register_handler("pg_skip", lambda store, job: ran.append(job.key))
    with tenant_session(engine, TENANT) as s:
        for key in ("held", "free"):
            enqueue(s, "pg_skip", key, object=None, record_id=None, payload={}, run_at=NOW)
        s.commit()
    with system_session(engine) as holder:
        holder.scalars(select(AutomationJob).where(AutomationJob.key == "held").with_for_update()).one()
        assert run_due_jobs(engine, opener(engine), now=NOW) == 1  # returns instead of blocking
        holder.rollback()
    assert ran == ["free"]
    assert run_due_jobs(engine, opener(engine), now=NOW) == 1
    assert ran == ["free", "held"]


def test_rule_to_round_robin_and_notification_with_concurrent_runners(engine):
    rule = compile_rule({"name": "assign", "object": "contact", "trigger": {"type": "created"},
                         "actions": [{"type": "assign_owner", "strategy": "round_robin", "users": ["a", "b", "c"]},
                                     {"type": "notify", "to": "owner", "message": "{{last_name}} is yours"}]},
                        CONTACT, OBJECTS)
    logic = Logic(rule)
    with tenant_session(engine, TENANT) as s:
        sync_users(s, [{"id": u, "active": True} for u in ("a", "b", "c")])  # as the gateway syncs them
        store = make_store(s, logic)
        for i in range(9):
            store.create("contact", {"last_name": f"L{i}"})
        s.commit()
    open_store = opener(engine, logic)
    pool = [eventlet.spawn(run_due_jobs, engine, open_store, now=NOW, limit=1) for _ in range(9)]
    assert sum(g.wait() for g in pool) + run_due_jobs(engine, open_store, now=NOW) == 9
    with tenant_session(engine, TENANT) as s:
        owners = Counter(c["owner_id"] for c in make_store(s).list("contact", limit=100)["items"])
        assert owners == {"a": 3, "b": 3, "c": 3}  # each cursor position handed out once
        recipients = Counter(n["recipient"] for n in requested(s))
        assert recipients == {"user:a": 3, "user:b": 3, "user:c": 3}
        # queue_actions on PostgreSQL: a second queue of the same key is refused in-transaction
        c = make_store(s).list("contact", limit=1)["items"][0]
        actions = [{"type": "notify", "to": "owner", "message": "x"}]
        assert queue_actions(make_store(s), CONTACT, c["id"], actions, source="rule", key="dup")
        assert not queue_actions(make_store(s), CONTACT, c["id"], actions, source="rule", key="dup")
        s.commit()
