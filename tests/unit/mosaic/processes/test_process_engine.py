"""The process engine on SQLite: records start in the initial stage, only transitions move them
(roles, guards, the current stage), and every entry leaves history, events, actions and timers."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mosaic.audit import AuditEntry
from mosaic.automation.jobs import AutomationJob
from mosaic.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from mosaic.events.outbox import OutboxEvent
from mosaic.processes.engine import transition, transition_system
from mosaic.processes.models import ProcessTransition
from mosaic.processes.testing import WEDNESDAY as START, PROPERTY, StaticLogic, compile_all, listing, make_store


def events(session) -> list[dict]:
    return [e.payload for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]


def test_a_new_record_starts_in_the_initial_stage_with_its_entry_recorded(store, session):
    rec = store.create(PROPERTY, {"title": "Flat 1"})
    assert rec["status"] == "available"
    entries = list(session.scalars(select(ProcessTransition)))
    assert [(e.from_stage, e.to_stage, e.transition, e.actor) for e in entries] == [
        (None, "available", None, "user:u1")]
    created, entered = events(session)
    assert created["type"] == f"{PROPERTY}.created"
    assert entered["type"] == "process.stage_entered" and entered["object"] == PROPERTY
    assert entered["record_id"] == rec["id"] and entered["version"] == 1
    assert entered["data"]["process"] == "listing" and entered["data"]["from"] is None
    assert entered["data"]["to"] == "available" and entered["data"]["record"]["title"] == "Flat 1"


def test_a_create_may_name_the_initial_stage_but_no_other(store):
    assert store.create(PROPERTY, {"title": "A", "status": "available"})["status"] == "available"
    with pytest.raises(ValidationFailed) as err:
        store.create(PROPERTY, {"title": "B", "status": "sold"})
    assert err.value.errors == {"status": ["must be 'available' (or left out) on create"]}


def test_a_field_default_is_not_a_request_for_another_stage(session, objects, clock):
    obj = objects[PROPERTY]
    with_default = obj.__class__(**{**{k: getattr(obj, k) for k in ("name", "label", "service", "plural",
                                                                      "kind", "title_field", "namespace")},
                                    "fields": tuple(f.evolve(default="reserved") if f.name == "status" else f
                                                    for f in obj.fields)})
    objs = {PROPERTY: with_default}
    store = make_store(session, objs, StaticLogic(compile_all(objs, listing())), clock=clock)
    assert store.create(PROPERTY, {"title": "A"})["status"] == "available"


def test_a_patch_may_not_change_the_stage(store):
    rec = store.create(PROPERTY, {"title": "Flat"})
    with pytest.raises(ValidationFailed) as err:
        store.update(PROPERTY, rec["id"], {"status": "sold"})
    assert err.value.errors == {"status": [f"use POST /api/v1/{PROPERTY.replace('property', 'properties')}/{{id}}/transition"]}
    assert store.update(PROPERTY, rec["id"], {"title": "Flat 2", "status": "available"})["title"] == "Flat 2"


def test_a_transition_moves_the_record_in_one_write_with_its_on_enter_fields(store, session):
    rec = store.create(PROPERTY, {"title": "Flat"})
    result = transition(store, PROPERTY, rec["id"], to="reserved", comment="client called")
    assert result["status"] == "moved"
    assert result["record"]["status"] == "reserved" and result["record"]["rating"] == "hot"
    assert result["record"]["version"] == 2  # the stage and the on_enter set_field: one update
    assert result["transition"]["from"] == "available" and result["transition"]["transition"] == "reserve"
    assert result["transition"]["comment"] == "client called"
    types = [e["type"] for e in events(session)]
    assert types == [f"{PROPERTY}.created", "process.stage_entered", f"{PROPERTY}.updated",
                     "process.stage_entered"]
    moved = events(session)[-1]["data"]
    assert (moved["from"], moved["to"], moved["transition"]) == ("available", "reserved", "reserve")
    audit = list(session.scalars(select(AuditEntry).order_by(AuditEntry.at)))
    assert [a.action for a in audit] == ["create", "transition"]
    assert audit[1].changes["status"] == ["available", "reserved"]
    timer = session.scalars(select(AutomationJob).where(AutomationJob.kind == "process_timer")).one()
    assert timer.run_at == START + timedelta(days=7) and timer.record_id == rec["id"]
    assert timer.payload == {"process": "listing", "stage": "reserved", "timer": "expire",
                             "history_id": result["transition"]["id"]}
    assert timer.key == f"listing:{result['transition']['id']}:expire"


def test_a_transition_can_be_named(store):
    rec = store.create(PROPERTY, {"title": "Flat"})
    assert transition(store, PROPERTY, rec["id"], transition="reserve")["record"]["status"] == "reserved"
    assert transition(store, PROPERTY, rec["id"], transition="release")["record"]["status"] == "available"


def test_no_transition_from_the_current_stage(store):
    rec = store.create(PROPERTY, {"title": "Flat"})
    with pytest.raises(ValidationFailed) as err:
        transition(store, PROPERTY, rec["id"], to="sold")
    assert err.value.errors == {"to": ["allowed from 'available': reserve → reserved"]}
    with pytest.raises(ValidationFailed) as err:
        transition(store, PROPERTY, rec["id"], transition="contract")
    assert "transition" in err.value.errors
    with pytest.raises(ValidationFailed) as err:
        transition(store, PROPERTY, rec["id"])
    assert err.value.errors == {"to": ["give 'to' or 'transition'"]}


def test_roles_of_a_transition(store_as):
    marketer = store_as("m1", "marketer")
    rec = marketer.create(PROPERTY, {"title": "Mine"})
    with pytest.raises(Forbidden):
        transition(marketer, PROPERTY, rec["id"], to="reserved")
    rep = store_as("s1", "sales")
    with pytest.raises(Forbidden):  # may not update a record of someone else at all
        transition(rep, PROPERTY, rec["id"], to="reserved")
    own = rep.create(PROPERTY, {"title": "Rep's"})
    assert transition(rep, PROPERTY, own["id"], to="reserved")["status"] == "moved"
    # no roles listed: anyone who may update the record
    assert transition(rep, PROPERTY, own["id"], to="available")["status"] == "moved"


def test_a_false_guard_refuses_with_its_message(store):
    rec = store.create(PROPERTY, {"title": "Flat"})
    transition(store, PROPERTY, rec["id"], to="reserved")
    for viewings in (None, 0):
        store.update(PROPERTY, rec["id"], {"positive_viewings": viewings})
        with pytest.raises(ValidationFailed) as err:
            transition(store, PROPERTY, rec["id"], to="under_contract")
        assert err.value.detail == "A positive viewing is needed first."
        assert err.value.errors == {"guard": ["A positive viewing is needed first."]}
    assert store.get(PROPERTY, rec["id"])["status"] == "reserved"


def test_stale_versions_and_missing_records(store):
    rec = store.create(PROPERTY, {"title": "Flat"})
    with pytest.raises(PreconditionFailed):
        transition(store, PROPERTY, rec["id"], to="reserved", expected_version=7)
    assert transition(store, PROPERTY, rec["id"], to="reserved", expected_version=1)["status"] == "moved"
    with pytest.raises(NotFound):
        transition(store, PROPERTY, "missing", to="reserved")
    with pytest.raises(ValidationFailed):
        transition(store, PROPERTY, rec["id"], to="available", comment="x" * 5000)


def test_choosing_among_several_processes(session, objects, clock):
    rating = {"name": "heat", "object": PROPERTY, "field": "rating", "initial": "cold",
              "stages": [{"name": "cold"}, {"name": "warm"}, {"name": "hot"}],
              "transitions": [{"name": "warm_up", "from": ["cold"], "to": "warm"}]}
    listing_def = listing()
    listing_def["stages"][1].pop("on_enter")  # it sets the rating, now owned by "heat"
    store = make_store(session, objects, StaticLogic(compile_all(objects, listing_def, rating)), clock=clock)
    rec = store.create(PROPERTY, {"title": "Flat"})
    assert (rec["status"], rec["rating"]) == ("available", "cold")
    with pytest.raises(ValidationFailed) as err:
        transition(store, PROPERTY, rec["id"], to="warm")
    assert err.value.errors == {"process": ["one of: listing, heat"]}
    with pytest.raises(NotFound):
        transition(store, PROPERTY, rec["id"], to="warm", process="nope")
    assert transition(store, PROPERTY, rec["id"], to="warm", process="heat")["record"]["rating"] == "warm"


def test_an_object_without_a_process_has_nothing_to_transition(session, objects):
    store = make_store(session, objects, StaticLogic())
    rec = store.create(PROPERTY, {"title": "Free", "status": "sold"})
    assert store.update(PROPERTY, rec["id"], {"status": "reserved"})["status"] == "reserved"
    with pytest.raises(NotFound):
        transition(store, PROPERTY, rec["id"], to="sold")


def test_a_record_from_before_the_process_counts_as_in_the_initial_stage(session, objects, logic, clock):
    bare = make_store(session, objects, StaticLogic())
    rec = bare.create(PROPERTY, {"title": "Old"})
    assert rec["status"] is None
    store = make_store(session, objects, logic, clock=clock)
    result = transition(store, PROPERTY, rec["id"], to="reserved")
    assert result["transition"]["from"] == "available" and result["record"]["status"] == "reserved"


def test_system_transitions_skip_roles_but_not_the_graph_or_guards(store_as, session):
    rep = store_as("s1", "sales")
    rec = rep.create(PROPERTY, {"title": "Flat"})
    system = store_as(None, "system")
    obj = system.obj(PROPERTY)
    row = system.load_row(obj, rec["id"])
    entry = transition_system(system, PROPERTY, row, "reserved", "by a rule")
    assert (entry["actor"], entry["comment"], entry["transition"]) == ("system", "by a rule", "reserve")
    assert transition_system(system, obj, rec["id"], "reserved") is None  # already there
    with pytest.raises(ValidationFailed):
        transition_system(system, obj, row, "under_contract")  # guard: no positive viewing
    with pytest.raises(ValidationFailed):
        transition_system(system, obj, row, "nowhere")
    with pytest.raises(ValidationFailed):
        transition_system(system, obj, row, "sold")  # no transition reserved → sold
