"""The transactional job queue on SQLite: once per key, claims, retries with backoff, leases."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mosaic.automation import AutomationJob, enqueue, register_handler, run_due_jobs
from mosaic.automation.jobs import BACKOFF, LEASE, MAX_ATTEMPTS, purge_finished
from mosaic.db import system_session, tenant_session
from automation_factories import NOW


@pytest.fixture
def calls():
    """Register handlers for the test kinds; ``calls`` lists (kind, key) of every run."""
    seen = []

    def ok(store, job):
        seen.append((job.kind, job.key))
        store.create("contact", {"last_name": f"from {job.key}"})

    def boom(store, job):
        seen.append((job.kind, job.key))
        store.create("contact", {"last_name": "rolled back"})
        raise RuntimeError("handler failed")

    register_handler("test_ok", ok)
    register_handler("test_boom", boom)
    return seen


def _jobs(engine):
    with system_session(engine) as s:
        return {j.key: j for j in s.scalars(select(AutomationJob))}


def _names(store):
    names = sorted(c["last_name"] for c in store.list("contact")["items"])
    store.session.rollback()  # SQLite has one connection: give it back to the runner
    return names


def test_a_key_is_queued_once_and_runs_once(engine, tenant, session, store, open_store, calls):
    assert enqueue(session, "test_ok", "k1", object="contact", record_id=None, payload={"n": 1}, run_at=NOW)
    assert not enqueue(session, "test_ok", "k1", object="contact", record_id=None, payload={"n": 2}, run_at=NOW)
    session.commit()
    assert not enqueue(session, "test_ok", "k1", object="contact", record_id=None, payload={}, run_at=NOW)
    session.commit()

    assert run_due_jobs(engine, open_store, now=NOW) == 1
    assert run_due_jobs(engine, open_store, now=NOW + timedelta(hours=1)) == 0
    assert calls == [("test_ok", "k1")]
    job = _jobs(engine)["k1"]
    assert (job.status, job.attempts, job.payload, job.tenant_id) == ("done", 1, {"n": 1}, tenant)
    assert job.finished_at == NOW
    # the key stays taken after the job is done: a late duplicate does not fire again
    assert not enqueue(session, "test_ok", "k1", object="contact", record_id=None, payload={}, run_at=NOW)
    assert _names(store) == ["from k1"]


def test_the_same_key_in_two_tenants_is_two_jobs(engine, session, open_store, calls):
    with tenant_session(engine, "auto-other") as other:
        assert enqueue(other, "test_ok", "shared", object="contact", record_id=None, payload={}, run_at=NOW)
        other.commit()
    assert enqueue(session, "test_ok", "shared", object="contact", record_id=None, payload={}, run_at=NOW)
    session.commit()
    assert run_due_jobs(engine, open_store, now=NOW) == 2


def test_jobs_wait_for_their_time(engine, session, open_store, calls):
    enqueue(session, "test_ok", "later", object=None, record_id=None, payload={}, run_at=NOW + timedelta(minutes=5))
    session.commit()
    assert run_due_jobs(engine, open_store, now=NOW) == 0
    assert run_due_jobs(engine, open_store, now=NOW + timedelta(minutes=5)) == 1


def test_a_failing_handler_is_rolled_back_and_retried_with_backoff_then_fails(engine, session, store, open_store,
                                                                             calls):
    enqueue(session, "test_boom", "b", object=None, record_id=None, payload={}, run_at=NOW)
    session.commit()
    now = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert run_due_jobs(engine, open_store, now=now) == 0
        job = _jobs(engine)["b"]
        assert job.attempts == attempt and "handler failed" in job.last_error
        if attempt < MAX_ATTEMPTS:
            assert job.status == "pending" and job.run_at == now + BACKOFF[attempt - 1]
            # not due before the backoff has passed
            assert run_due_jobs(engine, open_store, now=job.run_at - timedelta(seconds=1)) == 0
            now = job.run_at
        else:
            assert job.status == "failed" and job.finished_at == now
    assert len(calls) == MAX_ATTEMPTS
    assert run_due_jobs(engine, open_store, now=now + timedelta(days=1)) == 0
    assert _names(store) == []  # every attempt's writes were rolled back


def test_a_retry_that_succeeds_marks_the_job_done(engine, session, open_store):
    attempts = []

    def flaky(store, job):
        attempts.append(job.attempts)
        if len(attempts) == 1:
            raise ValueError("first time fails")

    register_handler("test_flaky", flaky)
    enqueue(session, "test_flaky", "f", object=None, record_id=None, payload={}, run_at=NOW)
    session.commit()
    assert run_due_jobs(engine, open_store, now=NOW) == 0
    assert run_due_jobs(engine, open_store, now=NOW + BACKOFF[0]) == 1
    job = _jobs(engine)["f"]
    assert (job.status, job.attempts, job.last_error, attempts) == ("done", 2, None, [1, 2])


def test_a_running_job_whose_lease_expired_is_claimed_again(engine, session, open_store, calls):
    enqueue(session, "test_ok", "crashed", object=None, record_id=None, payload={}, run_at=NOW)
    session.commit()
    with system_session(engine) as s:  # a runner claimed it, then died
        job = s.scalars(select(AutomationJob)).one()
        job.status, job.attempts, job.run_at = "running", 1, NOW + LEASE
        s.commit()
    assert run_due_jobs(engine, open_store, now=NOW + timedelta(seconds=30)) == 0  # lease still held
    assert run_due_jobs(engine, open_store, now=NOW + LEASE) == 1
    assert _jobs(engine)["crashed"].attempts == 2 and calls == [("test_ok", "crashed")]


def test_a_runner_that_lost_its_claim_commits_nothing(engine, session, store, open_store):
    def slow(store, job):
        # while this runs, its lease expires and another runner takes the job over
        with system_session(engine) as s:
            row = s.get(AutomationJob, job.id)
            row.attempts += 1
            s.commit()
        store.create("contact", {"last_name": "twice?"})

    register_handler("test_slow", slow)
    enqueue(session, "test_slow", "s", object=None, record_id=None, payload={}, run_at=NOW)
    session.commit()
    assert run_due_jobs(engine, open_store, now=NOW) == 0
    assert _names(store) == []
    assert _jobs(engine)["s"].status == "running"


def test_a_job_without_a_handler_is_retried_and_reported(engine, session, open_store):
    enqueue(session, "test_nobody", "n", object=None, record_id=None, payload={}, run_at=NOW)
    session.commit()
    assert run_due_jobs(engine, open_store, now=NOW) == 0
    job = _jobs(engine)["n"]
    assert job.status == "pending" and "no handler" in job.last_error


def test_limit_bounds_one_run(engine, session, open_store, calls):
    for i in range(5):
        enqueue(session, "test_ok", f"k{i}", object=None, record_id=None, payload={}, run_at=NOW)
    session.commit()
    assert run_due_jobs(engine, open_store, now=NOW, limit=2) == 2
    assert run_due_jobs(engine, open_store, now=NOW, limit=10) == 3
    assert [k for k, _ in sorted(calls)] == ["test_ok"] * 5


def test_purge_removes_only_old_finished_jobs(engine, session, open_store, calls):
    enqueue(session, "test_ok", "old", object=None, record_id=None, payload={}, run_at=NOW)
    enqueue(session, "test_ok", "new", object=None, record_id=None, payload={}, run_at=NOW + timedelta(days=1))
    enqueue(session, "test_ok", "pending", object=None, record_id=None, payload={}, run_at=NOW + timedelta(days=30))
    session.commit()
    run_due_jobs(engine, open_store, now=NOW)                    # "old" finishes at NOW
    run_due_jobs(engine, open_store, now=NOW + timedelta(days=9))  # "new" finishes 9 days later
    assert purge_finished(engine, NOW + timedelta(days=1)) == 1
    assert sorted(_jobs(engine)) == ["new", "pending"]
