"""Checking process definitions: every problem is reported at its JSON path, a good definition
compiles into a Process that answers which transitions leave a stage."""
from __future__ import annotations

import pytest

from mosaic.errors import ValidationFailed
from mosaic.processes import compile_process
from mosaic.processes.testing import PROPERTY, listing, property_object

OBJ = property_object()
OBJECTS = {OBJ.name: OBJ}


def errors_of(definition: dict) -> dict:
    with pytest.raises(ValidationFailed) as err:
        compile_process(definition, OBJ, OBJECTS)
    return err.value.errors


def test_the_listing_process_compiles_and_answers_questions():
    p = compile_process(listing(), OBJ, OBJECTS)
    assert (p.name, p.object, p.field, p.initial) == ("listing", PROPERTY, "status", "available")
    assert [t.name for t in p.transitions_from("reserved")] == ["contract", "release"]
    assert p.find(to="available", from_="under_contract").name == "release"
    assert p.find(name="contract", from_="available") is None
    assert p.find(to="sold", from_="reserved") is None
    assert p.stage("reserved").timers[0].after == {"days": 7}
    assert [a["type"] for a in p.stage("reserved").inline_actions] == ["set_field"]
    assert [a["type"] for a in p.stage("reserved").queued_actions] == []
    assert p.stage("nowhere") is None
    # the normalised definition is what the admin API returns
    assert p.definition["stages"][3] == {"name": "sold", "label": "sold", "final": True}
    assert p.definition["transitions"][1]["approval"] == {"roles": ["manager"], "users": []}


def test_any_stage_means_every_stage_a_record_can_leave():
    d = listing(transitions=[{"name": "withdraw", "from": ["*"], "to": "available"}])
    p = compile_process(d, OBJ, OBJECTS)
    assert p.transitions[0].from_ == ("reserved", "under_contract")  # not sold (final), not itself


def test_top_level_problems_are_reported_together():
    d = listing(name="Listing!", label="", object="contact", field="title", initial="nowhere",
                colour="blue", active="yes", description=3)
    errors = errors_of(d)
    assert set(errors) == {"name", "label", "object", "field", "initial", "colour", "active", "description"}
    assert errors["colour"] == ["unknown key"]
    assert errors["field"] == ["must be a picklist field"]


def test_the_field_must_exist_and_offer_every_stage():
    assert errors_of(listing(field="missing"))["field"] == [f"must be a field of {PROPERTY}"]
    d = listing()
    d["stages"].append({"name": "archived"})
    assert errors_of(d) == {"stages[4].name": ["is not a choice of the picklist 'status'"]}


def test_stage_problems():
    d = listing()
    d["stages"] = [{"name": "available", "final": "no", "colour": 1, "label": 5},
                   {"name": "available"}, {"name": "Bad Name"}, "reserved"]
    errors = errors_of(d)
    assert errors["stages[0].final"] == ["must be true or false"]
    assert errors["stages[0].colour"] == ["unknown key"]
    assert "stages[0].label" in errors
    assert errors["stages[1].name"] == ["stage 'available' is defined twice"]
    assert "stages[2].name" in errors
    assert errors["stages[3]"] == ["must be an object"]
    assert errors_of(listing(stages=[]))["stages"] == ["must be a non-empty list of stages"]
    d = listing()
    d["stages"].insert(0, 7)
    d["stages"][2]["on_enter"] = [{"type": "transition", "to": "limbo"}]
    assert errors_of(d) == {"stages[0]": ["must be an object"],
                            "stages[2].on_enter[0].to": ["is not a stage of this process"]}


def test_timer_problems():
    d = listing()
    d["stages"][1]["timers"] = [
        {"name": "expire", "after": {"weeks": 1}, "actions": [{"type": "transition", "to": "available"}]},
        {"name": "expire", "after": {"days": 0}, "actions": []},
        {"name": "late", "after": {"hours": 2}, "actions": [{"type": "transition", "to": "gone"}], "x": 1},
        {"name": "fix", "after": {"days": 1}, "actions": [{"type": "set_field", "field": "status", "value": "sold"}]},
    ]
    errors = errors_of(d)
    assert "stages[1].timers[0].after" in errors
    assert errors["stages[1].timers[1].name"] == ["timer 'expire' is defined twice in this stage"]
    assert errors["stages[1].timers[1].after.days"] == ["must be more than zero"]
    assert errors["stages[1].timers[1].actions"] == ["a timer needs at least one action"]
    assert errors["stages[1].timers[2].x"] == ["unknown key"]
    assert errors["stages[1].timers[2].actions[0].to"] == ["is not a stage of this process"]
    assert errors["stages[1].timers[3].actions[0].field"] == [
        "is the process's stage field; use a transition action"]
    d["stages"][1]["timers"] = {"name": "x"}
    assert errors_of(d)["stages[1].timers"] == ["must be a list of timers"]


def test_on_enter_actions_are_checked_by_the_automation_package():
    d = listing()
    d["stages"][0]["on_enter"] = [{"type": "set_field", "field": "nope", "value": 1}, {"type": "teleport"}]
    errors = errors_of(d)
    assert any(key.startswith("stages[0].on_enter[0]") for key in errors)
    assert any(key.startswith("stages[0].on_enter[1]") for key in errors)
    d["stages"][0]["on_enter"] = {"type": "notify"}
    assert errors_of(d)["stages[0].on_enter"] == ["must be a list of actions"]


def test_transition_problems():
    d = listing(transitions=[
        {"name": "reserve", "from": ["available"], "to": "reserved"},
        {"name": "reserve", "from": ["nowhere"], "to": "limbo", "roles": "admin"},
        {"name": "reopen", "from": ["sold"], "to": "available"},
        {"name": "stay", "from": ["reserved"], "to": "reserved", "when": 1},
        {"name": "guarded", "from": [], "to": "sold", "guard": "colour = 'red'", "guard_message": ""},
        {"name": "syntax", "from": ["available"], "to": "sold", "guard": "positive_viewings >"},
        {"name": "approved", "from": ["available"], "to": "sold", "approval": {"roles": [], "users": []}},
        {"name": "approved2", "from": ["available"], "to": "sold", "approval": {"roles": ["x"], "who": 1}},
        "contract",
    ])
    errors = errors_of(d)
    assert errors["transitions[1].name"] == ["transition 'reserve' is defined twice"]
    assert errors["transitions[1].to"] == ["must be a stage of this process"]
    assert errors["transitions[1].from"] == ["'nowhere' is not a stage of this process"]
    assert errors["transitions[1].roles"] == ["must be a list of non-empty texts"]
    assert errors["transitions[2].from"] == ["'sold' is a final stage; no transition leaves it"]
    assert errors["transitions[3].from"] == ["'reserved' is also the target; a transition must change the stage"]
    assert errors["transitions[3].when"] == ["unknown key"]
    assert "transitions[4].from" in errors
    assert any("colour" in m for m in errors["transitions[4].guard"])
    assert errors["transitions[4].guard_message"] == ["must be a non-empty text"]
    assert "transitions[5].guard" in errors
    assert errors["transitions[6].approval"] == ["name at least one approving role or user"]
    assert errors["transitions[7].approval.who"] == ["unknown key"]
    assert errors["transitions[8]"] == ["must be an object"]


def test_a_definition_must_be_an_object():
    with pytest.raises(ValidationFailed):
        compile_process(["listing"], OBJ, OBJECTS)
