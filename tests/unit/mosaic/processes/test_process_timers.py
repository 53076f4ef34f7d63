"""Stage timers with a clock the test moves: business-day arithmetic, a timer that releases a
reservation exactly once, and timers of an entry the record has since left staying quiet."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from mosaic.automation.jobs import AutomationJob, run_due_jobs
from mosaic.automation.notifications import requested
from mosaic.db import tenant_session
from mosaic.processes.calendar import add_business_days, due_at
from mosaic.processes.engine import transition
from mosaic.processes.models import ProcessTransition
from mosaic.processes.testing import WEDNESDAY as START, PROPERTY, StaticLogic, compile_all, listing, make_store, store_opener


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_business_days_skip_weekends():
    friday = utc(2024, 5, 10, 16, 30)
    assert add_business_days(friday, 1) == utc(2024, 5, 13, 16, 30)  # Monday, same time
    assert add_business_days(friday, 5) == utc(2024, 5, 17, 16, 30)
    assert add_business_days(friday, 6) == utc(2024, 5, 20, 16, 30)  # across two weekends
    assert add_business_days(utc(2024, 5, 8, 9), 3) == utc(2024, 5, 13, 9)  # Wed + 3 = Mon
    assert add_business_days(utc(2024, 5, 11, 10), 1) == utc(2024, 5, 14, 10)  # Sat counts from Mon
    assert add_business_days(friday, 0) == friday
    with pytest.raises(ValueError):
        add_business_days(friday, -1)


def test_due_at_units():
    assert due_at(START, {"days": 7}) == START + timedelta(days=7)
    assert due_at(START, {"hours": 4}) == START + timedelta(hours=4)
    assert due_at(START, {"business_days": 3}) == utc(2024, 5, 13, 9)


def run_jobs(engine, objects, logic, now) -> int:
    return run_due_jobs(engine, store_opener(engine, objects, logic), now=now)


def reserve(engine, objects, logic, clock) -> str:
    with tenant_session(engine, "t1") as s:
        store = make_store(s, objects, logic, clock=clock)
        rec = store.create(PROPERTY, {"title": "Flat 9"})
        transition(store, PROPERTY, rec["id"], to="reserved")
        s.commit()
    return rec["id"]


def state(engine, record_id) -> tuple[str, list[tuple]]:
    with tenant_session(engine, "t1") as s:
        from mosaic.records.models import Record

        row = s.scalars(select(Record).where(Record.id == record_id)).one()
        moves = [(e.from_stage, e.to_stage, e.actor) for e in s.scalars(
            select(ProcessTransition).where(ProcessTransition.record_id == record_id)
            .order_by(ProcessTransition.at))]
        return row.data.get("status"), moves


def test_a_timer_releases_the_reservation_once(engine, objects, logic, clock):
    rec = reserve(engine, objects, logic, clock)
    assert run_jobs(engine, objects, logic, START + timedelta(days=6)) == 0
    assert state(engine, rec)[0] == "reserved"
    assert run_jobs(engine, objects, logic, START + timedelta(days=7, seconds=1)) == 1
    status, moves = state(engine, rec)
    assert status == "available"
    assert moves[-1] == ("reserved", "available", "system")
    # the notification was queued as an automation job; it runs on the next round
    assert run_jobs(engine, objects, logic, START + timedelta(days=7, seconds=2)) == 1
    assert run_jobs(engine, objects, logic, START + timedelta(days=30)) == 0
    assert len(state(engine, rec)[1]) == 3  # created, reserved, released: no second release
    with tenant_session(engine, "t1") as s:
        notes = requested(s)
        assert [(n["recipient"], n["message"]) for n in notes] == [("user:u1", "Flat 9 was released")]


def test_a_record_that_left_the_stage_is_not_moved_by_its_old_timer(engine, objects, logic, clock):
    rec = reserve(engine, objects, logic, clock)
    clock.now = START + timedelta(days=3)
    with tenant_session(engine, "t1") as s:
        store = make_store(s, objects, logic, clock=clock)
        transition(store, PROPERTY, rec, to="available")
        transition(store, PROPERTY, rec, to="reserved")  # re-entered: a new timer, due on day 10
        s.commit()
    assert run_jobs(engine, objects, logic, START + timedelta(days=8)) == 1  # the old timer: a no-op
    assert state(engine, rec)[0] == "reserved"
    assert run_jobs(engine, objects, logic, START + timedelta(days=10, seconds=1)) == 1
    assert state(engine, rec)[0] == "available"
    with tenant_session(engine, "t1") as s:
        timers = list(s.scalars(select(AutomationJob).where(AutomationJob.kind == "process_timer")))
        assert sorted(j.status for j in timers) == ["done", "done"]


def test_a_timer_of_a_deactivated_process_does_nothing(engine, objects, logic, clock):
    rec = reserve(engine, objects, logic, clock)
    assert run_jobs(engine, objects, StaticLogic(), START + timedelta(days=8)) == 1
    assert state(engine, rec)[0] == "reserved"


def test_a_timer_may_set_fields(engine, objects, clock):
    d = listing()
    d["stages"][1]["timers"] = [{"name": "cool_down", "after": {"business_days": 2},
                                 "actions": [{"type": "set_field", "field": "rating", "value": "warm"}]}]
    logic = StaticLogic(compile_all(objects, d))
    rec = reserve(engine, objects, logic, clock)
    assert run_jobs(engine, objects, logic, utc(2024, 5, 10, 9)) == 1  # Wed 09:00 + 2 business days
    with tenant_session(engine, "t1") as s:
        store = make_store(s, objects, logic)
        got = store.get(PROPERTY, rec)
    assert (got["status"], got["rating"]) == ("reserved", "warm")
