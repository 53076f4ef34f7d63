"""Rules and processes that name users are checked when they are saved: a user the tenant does
not have (as the service's read model of users knows them) is a 422 naming the JSON path."""
from __future__ import annotations

import pytest

from automation_factories import OBJECTS
from mosaic.automation.named_users import named_users
from mosaic.errors import ValidationFailed
from mosaic.logic.definitions import put_definition
from mosaic.users import sync_users


def rule(*actions, name="assign"):
    return {"name": name, "object": "contact", "trigger": {"type": "created"}, "actions": list(actions)}


ROUND_ROBIN = {"type": "assign_owner", "strategy": "round_robin", "users": ["u1", "ghost", "u2"]}
TERRITORY = {"type": "assign_owner", "strategy": "territory", "field": "address_city",
             "territories": {"Berlin": "u-ber", "Paris": "nobody"}, "default": "gone"}
NOTIFY = {"type": "notify", "to": "user:stranger", "message": "hi"}


def test_unknown_users_are_refused_naming_each_path(session):
    with pytest.raises(ValidationFailed) as err:
        put_definition(session, OBJECTS, "automation_rule", rule(ROUND_ROBIN, TERRITORY, NOTIFY))
    assert err.value.errors == {
        "actions[0].users[1]": ["no user 'ghost' in this tenant"],
        "actions[1].territories.Paris": ["no user 'nobody' in this tenant"],
        "actions[1].default": ["no user 'gone' in this tenant"],
        "actions[2].to": ["no user 'stranger' in this tenant"],
    }


def test_known_and_deactivated_users_and_roles_pass(session):
    sync_users(session, [{"id": "ghost", "active": False}])
    saved = put_definition(session, OBJECTS, "automation_rule",
                           rule(ROUND_ROBIN, {"type": "notify", "to": "role:sales", "message": "hi"},
                                {"type": "notify", "to": "owner", "message": "hi"}))
    assert saved["actions"][0]["users"] == ["u1", "ghost", "u2"]


def test_another_tenants_user_is_refused(engine, session, tenant):
    from mosaic.db import tenant_session

    with tenant_session(engine, f"{tenant}-other") as other:
        sync_users(other, [{"id": "theirs", "active": True}])
        other.commit()
    with pytest.raises(ValidationFailed) as err:
        put_definition(session, OBJECTS, "automation_rule",
                       rule({"type": "assign_owner", "strategy": "round_robin", "users": ["theirs"]}))
    assert list(err.value.errors) == ["actions[0].users[0]"]


def test_process_stage_and_timer_actions_are_walked():
    process = {"name": "p", "stages": [
        {"name": "new", "on_enter": [{"type": "notify", "to": "user:a", "message": "m"}],
         "timers": [{"name": "t", "after": {"days": 1},
                     "actions": [{"type": "assign_owner", "strategy": "round_robin", "users": ["b"]}]}]}]}
    assert named_users(process) == [("stages[0].on_enter[0].to", "a"),
                                    ("stages[0].timers[0].actions[0].users[0]", "b")]
