"""The owner check every record write makes (mosaic.users): an owner must be a user of the
tenant, as the service's read model (``tenant_users``) knows them."""
from __future__ import annotations

import pytest

from mosaic.db import tenant_session
from mosaic.errors import ValidationFailed
from mosaic.users import sync_users, unknown_users
from tests.unit.mosaic.records.conftest import make_gadget


def test_an_owner_that_is_no_user_of_the_tenant_is_refused_naming_owner_id(store, users):
    users("t1", "u2")
    assert make_gadget(store, owner_id="u2")["owner_id"] == "u2"
    with pytest.raises(ValidationFailed) as err:
        make_gadget(store, owner_id="ghost")
    assert err.value.errors == {"owner_id": ["no user 'ghost' in this tenant"]}


def test_another_tenants_user_is_refused(make_store, users):
    users("t2", "u-of-t2")
    with pytest.raises(ValidationFailed) as err:
        make_gadget(make_store(tenant="t1"), owner_id="u-of-t2")
    assert "owner_id" in err.value.errors
    assert make_gadget(make_store(tenant="t2"), owner_id="u-of-t2")["owner_id"] == "u-of-t2"


def test_updates_are_checked_and_an_unchanged_owner_is_not(store, users, engine):
    users("t1", "u2")
    g = make_gadget(store, owner_id="u2")
    store.session.commit()
    with pytest.raises(ValidationFailed) as err:
        store.update("gadget", g["id"], {"owner_id": "ghost"})
    assert "owner_id" in err.value.errors
    store.session.rollback()
    # the user leaves the read model (a full resync pruned them): records keep their owner and
    # can still be changed; only naming the missing user again is refused
    with tenant_session(engine, "t1") as session:
        sync_users(session, [], full=True)
        session.commit()
    assert store.update("gadget", g["id"], {"size": 3, "owner_id": "u2"})["size"] == 3
    assert store.update("gadget", g["id"], {"owner_id": None})["owner_id"] is None


def test_the_caller_owns_without_a_lookup_and_deactivated_users_stay_owners(make_store, engine):
    store = make_store(user="u-new")  # the gateway authenticated u-new: no read model needed
    assert make_gadget(store)["owner_id"] == "u-new"
    store.session.commit()
    with tenant_session(engine, "t1") as session:
        sync_users(session, [{"id": "u-old", "active": False}])
        session.commit()
    assert make_gadget(store, owner_id="u-old")["owner_id"] == "u-old"


def test_sync_is_idempotent_upserts_and_prunes(engine):
    with tenant_session(engine, "t1") as session:
        assert sync_users(session, [{"id": "a", "active": True}, {"id": "b", "active": True}]) == \
            {"upserted": 2, "pruned": 0}
        sync_users(session, [{"id": "a", "active": True}, {"id": "b", "active": True}])  # again: no change
        assert sync_users(session, [{"id": "b", "active": False}, {"id": "c", "active": True}], full=True) == \
            {"upserted": 2, "pruned": 1}
        session.commit()
        assert unknown_users(session, ["a", "b", "c", 7]) == {"a", "7"}
    with tenant_session(engine, "t2") as session:
        assert unknown_users(session, ["b", "c"]) == {"b", "c"}


@pytest.mark.parametrize("users", [None, "u1", [{"id": ""}], [{"id": "u", "active": "yes"}], [{"id": "x" * 65}]])
def test_a_malformed_sync_is_refused(engine, users):
    with tenant_session(engine, "t1") as session, pytest.raises(ValidationFailed):
        sync_users(session, users)
