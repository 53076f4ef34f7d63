"""The process engine on the real PostgreSQL: the listing flow from creation through a timer
(claimed with SKIP LOCKED), an approval and a final stage; the one-pending-approval index; and
tenants not seeing each other's history or approvals."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

import mosaic.automation.execute  # noqa: F401 - registers the "actions" job handler
import mosaic.automation.notifications  # noqa: F401 - its table
import mosaic.processes.engine  # noqa: F401 - registers the "process_timer" job handler
from mosaic.automation.jobs import run_due_jobs
from mosaic.db import Base, make_engine, schema_for, tenant_session
from mosaic.errors import Conflict, NotFound
from mosaic.events.outbox import OutboxEvent
from mosaic.localdev import ensure_database, checkout_database
from mosaic.metadata.schema_factory import clear_schema_cache
from mosaic.processes.approvals import approvals, approve, history
from mosaic.processes.engine import transition
from mosaic.processes.models import ProcessApproval
from mosaic.processes.testing import (PROPERTY, WEDNESDAY as START, StaticLogic, compile_all, listing, make_store,
                                      property_object, store_opener)

pytestmark = pytest.mark.postgres

PG_SERVER = os.environ.get("MOSAIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
DATABASE = checkout_database("mosaic_test_processes")
SERVICE = "processes_it"


@pytest.fixture(scope="module")
def engine():
    from tests.conftest import require_postgres

    require_postgres()
    ensure_database(DATABASE, PG_SERVER)
    eng = make_engine(f"{PG_SERVER}/{DATABASE}", SERVICE, pool_size=4)
    with eng.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema_for(SERVICE)}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema_for(SERVICE)}"'))
    with eng.begin() as conn:
        Base.metadata.create_all(conn)
    clear_schema_cache()
    yield eng
    eng.dispose()



@pytest.fixture
def world(engine):
    objects = {PROPERTY: property_object()}
    return engine, objects, StaticLogic(compile_all(objects, listing()))


def test_the_listing_flow(world):
    engine, objects, logic = world
    clock = lambda: START  # noqa: E731
    with tenant_session(engine, "pg1") as s:
        rep = make_store(s, objects, logic, user="rep", roles=("sales",), clock=clock)
        rec = rep.create(PROPERTY, {"title": "Loft", "positive_viewings": 1})
        assert rec["status"] == "available"
        assert transition(rep, PROPERTY, rec["id"], to="reserved")["record"]["rating"] == "hot"
        s.commit()

    # day 8: the reservation expired; the timer moves the record back, once
    opener = store_opener(engine, objects, logic)
    assert run_due_jobs(engine, opener, now=START + timedelta(days=8)) == 1
    assert run_due_jobs(engine, opener, now=START + timedelta(days=8, seconds=1)) == 1  # notify
    assert run_due_jobs(engine, opener, now=START + timedelta(days=20)) == 0

    with tenant_session(engine, "pg1") as s:
        rep = make_store(s, objects, logic, user="rep", roles=("sales",), clock=clock)
        assert rep.get(PROPERTY, rec["id"])["status"] == "available"
        transition(rep, PROPERTY, rec["id"], to="reserved")
        pending = transition(rep, PROPERTY, rec["id"], to="under_contract", comment="offer")
        assert pending["status"] == "pending_approval"
        with pytest.raises(Conflict):
            transition(rep, PROPERTY, rec["id"], to="under_contract")
        s.commit()

    with tenant_session(engine, "pg1") as s:
        boss = make_store(s, objects, logic, user="boss", roles=("manager",), clock=clock)
        assert [a["record_id"] for a in approvals(boss)["items"]] == [rec["id"]]
        assert approve(boss, PROPERTY, rec["id"])["record"]["status"] == "under_contract"
        assert transition(boss, PROPERTY, rec["id"], to="sold")["record"]["status"] == "sold"
        s.commit()

    with tenant_session(engine, "pg1") as s:
        rep = make_store(s, objects, logic, user="rep", roles=("sales",))
        moves = [(h["from"], h["to"], h["actor"]) for h in history(rep, PROPERTY, rec["id"])["items"]]
        assert moves == [("under_contract", "sold", "user:boss"), ("reserved", "under_contract", "user:boss"),
                         ("available", "reserved", "user:rep"), ("reserved", "available", "system"),
                         ("available", "reserved", "user:rep"), (None, "available", "user:rep")]
        entered = [e.payload["data"]["to"] for e in s.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "process.stage_entered",
                                      OutboxEvent.record_id == rec["id"]).order_by(OutboxEvent.seq))]
        assert entered == ["available", "reserved", "available", "reserved", "under_contract", "sold"]

    with tenant_session(engine, "pg2") as s:
        other = make_store(s, objects, logic, user="boss", roles=("admin",))
        with pytest.raises(NotFound):
            history(other, PROPERTY, rec["id"])
        assert approvals(other, status="approved")["items"] == []


def test_the_database_holds_one_pending_approval_per_record_and_process(engine):
    row = dict(object=PROPERTY, record_id="r1", process="listing", transition="contract",
               from_stage="reserved", to_stage="under_contract", requested_by="user:u1")
    with tenant_session(engine, "pg3") as s:
        s.add(ProcessApproval(**row, status="rejected"))
        s.add(ProcessApproval(**row, status="pending"))
        s.commit()
        s.add(ProcessApproval(**row, status="pending"))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
    with tenant_session(engine, "pg4") as s:  # another tenant's record with the same id
        s.add(ProcessApproval(**row, status="pending"))
        s.commit()
