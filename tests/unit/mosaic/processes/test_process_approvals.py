"""Transitions that need an approval, the approvers' inbox, and a record's stage history."""
from __future__ import annotations

import pytest

from mosaic.errors import Conflict, Forbidden, NotFound, ValidationFailed
from mosaic.processes.approvals import approvals, approve, history, reject
from mosaic.processes.engine import transition
from mosaic.processes.testing import PROPERTY, StaticLogic, compile_all, listing, make_store


@pytest.fixture
def reserved(store):
    """A reserved property with a positive viewing: ready to go under contract."""
    rec = store.create(PROPERTY, {"title": "Flat", "positive_viewings": 1})
    transition(store, PROPERTY, rec["id"], to="reserved")
    return rec["id"]


def test_an_approval_transition_waits_and_only_one_may_wait(store, reserved):
    result = transition(store, PROPERTY, reserved, to="under_contract", comment="offer signed")
    assert result["status"] == "pending_approval"
    assert result["record"]["status"] == "reserved"
    a = result["approval"]
    assert (a["from"], a["to"], a["transition"], a["status"]) == ("reserved", "under_contract", "contract", "pending")
    assert (a["requested_by"], a["comment"]) == ("user:u1", "offer signed")
    assert store.get(PROPERTY, reserved)["status"] == "reserved"
    with pytest.raises(Conflict):
        transition(store, PROPERTY, reserved, to="under_contract")


def test_a_manager_approves_and_the_record_moves(store, store_as, reserved):
    transition(store, PROPERTY, reserved, to="under_contract", comment="offer signed")
    manager = store_as("boss", "manager")
    inbox = approvals(manager)["items"]
    assert [(i["record_id"], i["status"]) for i in inbox] == [(reserved, "pending")]
    assert approvals(store_as("s1", "sales"))["items"] == []
    result = approve(manager, PROPERTY, reserved, comment="fine")
    assert result["status"] == "moved" and result["record"]["status"] == "under_contract"
    assert result["approval"]["status"] == "approved"
    assert (result["approval"]["decided_by"], result["approval"]["decision_comment"]) == ("user:boss", "fine")
    assert (result["transition"]["actor"], result["transition"]["comment"]) == ("user:boss", "offer signed")
    assert approvals(manager)["items"] == []
    assert [i["status"] for i in approvals(manager, status="approved")["items"]] == ["approved"]
    with pytest.raises(NotFound):
        approve(manager, PROPERTY, reserved)


def test_who_may_decide(store, store_as, reserved):
    transition(store, PROPERTY, reserved, to="under_contract")
    with pytest.raises(Forbidden):
        approve(store_as("s1", "sales"), PROPERTY, reserved)
    with pytest.raises(Forbidden):
        reject(store_as("s1", "sales"), PROPERTY, reserved)
    assert approve(store, PROPERTY, reserved)["status"] == "moved"  # admins may always


def test_an_approval_may_name_users(session, objects, clock):
    d = listing()
    d["transitions"][1]["approval"] = {"users": ["u7"]}
    store = make_store(session, objects, StaticLogic(compile_all(objects, d)), clock=clock)
    rec = store.create(PROPERTY, {"title": "Flat", "positive_viewings": 2})
    transition(store, PROPERTY, rec["id"], to="reserved")
    transition(store, PROPERTY, rec["id"], to="under_contract")
    with pytest.raises(Forbidden):
        approve(make_store(session, objects, store.logic, user="u8", roles=("manager",)), PROPERTY, rec["id"])
    u7 = make_store(session, objects, store.logic, user="u7", roles=("sales",))
    assert [i["record_id"] for i in approvals(u7)["items"]] == [rec["id"]]
    assert approve(u7, PROPERTY, rec["id"])["record"]["status"] == "under_contract"


def test_a_rejection_leaves_the_record_where_it_is(store, store_as, reserved):
    transition(store, PROPERTY, reserved, to="under_contract")
    result = reject(store_as("boss", "manager"), PROPERTY, reserved, comment="no deposit")
    assert result["status"] == "rejected" and result["record"]["status"] == "reserved"
    assert result["approval"]["decision_comment"] == "no deposit"
    with pytest.raises(NotFound):
        reject(store, PROPERTY, reserved)
    # rejected, it may be asked again
    assert transition(store, PROPERTY, reserved, to="under_contract")["status"] == "pending_approval"


def test_approving_checks_the_guard_again(store, reserved):
    transition(store, PROPERTY, reserved, to="under_contract")
    store.update(PROPERTY, reserved, {"positive_viewings": 0})
    with pytest.raises(ValidationFailed):
        approve(store, PROPERTY, reserved)
    assert [i["status"] for i in approvals(store)["items"]] == ["pending"]


def test_moving_on_voids_a_pending_approval(store, session, reserved):
    from sqlalchemy import select

    from mosaic.events.outbox import OutboxEvent

    transition(store, PROPERTY, reserved, to="under_contract")
    transition(store, PROPERTY, reserved, to="available")
    assert approvals(store)["items"] == []
    voided = approvals(store, status="rejected")["items"]
    assert [(v["decided_by"], v["status"]) for v in voided] == [("system", "rejected")]
    # the approvers' inbox (the hub) hears of it
    (event,) = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "process.approval_voided"))
    assert event.payload["data"]["approval"]["id"] == voided[0]["id"]
    assert event.payload["data"]["approval"]["status"] == "rejected"
    with pytest.raises(NotFound):
        approve(store, PROPERTY, reserved)


def test_history_lists_every_entry_newest_first(store, store_as, reserved):
    transition(store, PROPERTY, reserved, to="under_contract")
    approve(store_as("boss", "manager"), PROPERTY, reserved)
    transition(store, PROPERTY, reserved, to="sold", comment="keys handed over")
    items = history(store, PROPERTY, reserved)["items"]
    assert [(i["from"], i["to"], i["transition"]) for i in items] == [
        ("under_contract", "sold", "sell"), ("reserved", "under_contract", "contract"),
        ("available", "reserved", "reserve"), (None, "available", None)]
    assert items[0]["comment"] == "keys handed over"
    assert len(history(store, PROPERTY, reserved, limit=2)["items"]) == 2
    with pytest.raises(ValidationFailed):
        history(store, PROPERTY, reserved, limit=0)
    with pytest.raises(NotFound):
        history(store, PROPERTY, "missing")
    with pytest.raises(ValidationFailed):
        approvals(store, status="maybe")


def test_approvers_and_the_requester_are_told(store, store_as, session, reserved):
    from sqlalchemy import select

    from mosaic.automation.notifications import requested
    from mosaic.events.envelope import is_internal
    from mosaic.events.outbox import OutboxEvent

    transition(store, PROPERTY, reserved, to="under_contract", comment="offer signed")
    told = [(n["recipient"], n["message"]) for n in requested(session)]
    assert told == [("role:manager", "Property Flat: contract (reserved → under_contract) waits for your approval")]
    reject(store_as("boss", "manager"), PROPERTY, reserved, comment="price too low")
    told = [(n["recipient"], n["message"]) for n in requested(session)]
    assert told[-1] == ("user:u1", "Property Flat: contract was rejected — price too low")
    events = [e.payload for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))
              if not is_internal(e.payload)]
    assert [e["type"] for e in events[-2:]] == ["process.approval_requested", "process.approval_decided"]
    # what the hub's approvers' inbox needs: the approvers and the service deciding
    asked, decided = events[-2]["data"], events[-1]["data"]
    assert asked["approvers"] == {"roles": ["manager"], "users": []}
    assert asked["service"] == decided["service"] and asked["approval"]["status"] == "pending"
    assert decided["approval"]["status"] == "rejected" and "approvers" not in decided
