import copy
import json

import pytest

from mosaic import permissions
from mosaic.permissions import Grant, can, hidden_fields, own_only, readonly_fields


@pytest.fixture
def restore_matrix():
    """Tests that extend the matrix put it back afterwards."""
    permissions.matrix()  # the installed services' grants first, so the copy holds them
    matrix, roles = copy.deepcopy(permissions.MATRIX), list(permissions.ROLES)
    yield
    permissions.MATRIX.clear()
    permissions.MATRIX.update(matrix)
    permissions.ROLES[:] = roles


C = "contacts"  # the installed contacts service's module: its grants come from its ServiceSpec


def make_rule(**overrides):
    rule = {"object": "contact", "field": "salary", "role": "sales", "access": "none"}
    rule.update(overrides)
    return rule


@pytest.mark.parametrize("role", ["admin", "manager"])
@pytest.mark.parametrize("action", permissions.ACTIONS)
def test_admin_and_manager_may_do_everything_on_contacts(role, action):
    assert can([role], "contact", action, module=C)
    assert not own_only([role], action, "contact", C)


@pytest.mark.parametrize("role", ["sales", "agent", "marketer"])
def test_workers_read_and_create_all_but_change_only_their_own(role):
    assert can([role], "contact", "read", module=C) and can([role], "contact", "create", module=C)
    assert can([role], "contact", "update", module=C) and can([role], "contact", "delete", module=C)
    assert not own_only([role], "read", "contact", C) and not own_only([role], "create", "contact", C)
    assert own_only([role], "update", "contact", C) and own_only([role], "delete", "contact", C)


def test_readonly_only_reads():
    assert can(["readonly"], "contact", "read", module=C)
    assert not any(can(["readonly"], "contact", a, module=C) for a in ("create", "update", "delete"))


def test_no_roles_or_unknown_roles_may_do_nothing():
    assert not can([], "contact", "read", module=C)
    assert not can(["hacker"], "contact", "read", module=C)


def test_custom_objects_follow_the_module_default():
    assert can(["sales"], "custom_vehicle", "create", module=C)
    assert own_only(["sales"], "delete", "custom_vehicle", C)
    assert not can(["readonly"], "custom_vehicle", "update", module=C)


def test_several_roles_get_the_most_permissive_grant():
    assert not own_only(["sales", "manager"], "delete", "contact", C)
    assert can(["readonly", "sales"], "contact", "create", module=C)


def test_modules_have_their_own_matrix(restore_matrix):
    permissions.grant("helpdesk", "*", "agent", permissions.WORKER)
    permissions.grant("helpdesk", "*", "sales", permissions.CREATE)
    assert can(["agent"], "ticket", "update", module="helpdesk")
    assert not can(["sales"], "ticket", "update", module="helpdesk")
    assert can(["sales"], "ticket", "create", module="helpdesk")
    assert not can(["sales"], "contact", "read", module="no-such-module")


def test_an_installed_service_brings_its_module_grants():
    from mosaic import services

    spec = services.get("contacts")
    assert spec.grants and permissions.matrix()["modules"]["contacts"]["*"]["readonly"]["read"] == "all"


def test_system_role_is_a_superuser():
    assert can(["system"], "anything", "delete", module="analytics")


def test_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError):
        can(["admin"], "contact", "explode", module=C)


def test_hidden_and_readonly_fields_from_overrides():
    rows = [make_rule(), make_rule(field="rating", access="read")]
    assert hidden_fields(rows, ["sales"], "contact") == {"salary"}
    assert readonly_fields(rows, ["sales"], "contact") == {"rating"}
    assert hidden_fields(rows, ["sales"], "account") == set()


def test_a_role_without_an_override_keeps_full_access():
    rows = [make_rule()]
    assert hidden_fields(rows, ["marketer"], "contact") == set()
    # sales is restricted but marketer is not: the union wins.
    assert hidden_fields(rows, ["sales", "marketer"], "contact") == set()


def test_union_of_restrictions_is_the_weakest():
    rows = [make_rule(), make_rule(role="agent", access="read")]
    assert hidden_fields(rows, ["sales", "agent"], "contact") == set()
    assert readonly_fields(rows, ["sales", "agent"], "contact") == {"salary"}


def test_admin_ignores_field_restrictions():
    rows = [make_rule(role="admin"), make_rule(role="admin", field="rating", access="read")]
    assert hidden_fields(rows, ["admin"], "contact") == set()
    assert readonly_fields(rows, ["admin"], "contact") == set()


def test_rows_may_be_objects():
    class Row:
        object, field, role, access = "contact", "salary", "sales", "none"

    assert hidden_fields([Row()], ["sales"], "contact") == {"salary"}


def test_register_role_extends_the_matrix(restore_matrix):
    permissions.register_role("partner", {"contacts": {"*": {"read": "own", "create": "all"}}})
    assert "partner" in permissions.ROLES
    assert can(["partner"], "contact", "create", module=C)
    assert own_only(["partner"], "read", "contact", C)
    assert not can(["partner"], "contact", "delete", module=C)


def test_grant_overrides_one_object_only(restore_matrix):
    permissions.grant("contacts", "consent", "sales", {"delete": Grant.NONE})
    assert not can(["sales"], "consent", "delete", module=C)
    assert can(["sales"], "consent", "read", module=C)  # untouched actions keep the module default
    assert can(["sales"], "contact", "delete", module=C)


def test_matrix_is_json():
    data = json.loads(json.dumps(permissions.matrix()))
    assert data["modules"]["contacts"]["*"]["sales"]["delete"] == "own"
    assert "readonly" in data["roles"] and data["actions"] == list(permissions.ACTIONS)
