"""The gateway's early owner check (a user of the caller's tenant, one query, no RPC), and the
resync it makes first when the services may lack the tenant's users (mosaic_gateway.user_sync).
Records of other services are checked by the writing service itself (tests/unit/mosaic/records/
test_remote_references.py, tests/integration/test_references_rabbitmq.py)."""
from __future__ import annotations

import pytest
from flask import Blueprint, request

from mosaic_gateway import auth
from mosaic_gateway.references import check_write
from mosaic_gateway.user_sync import user_sync

probe = Blueprint("probe", __name__)


@probe.post("/probe")
@auth.login_required
def write():
    check_write({"name": "contact", "service": "contacts", "fields": []}, request.get_json())
    return {"ok": True}


@pytest.fixture
def app(make_app):
    return make_app(blueprints=(probe,))


def syncs(services_rpc, method="sync_users"):
    return [c for c in services_rpc.calls if c[1] == method]


def test_an_owner_of_another_tenant_or_nobody_is_a_422(client, admin_headers, make_tenant):
    _other, stranger = make_tenant()
    _tenant, admin, headers = admin_headers()
    assert client.post("/probe", json={"owner_id": admin.id}, headers=headers).status_code == 200
    for owner in (stranger.id, "nobody"):
        r = client.post("/probe", json={"owner_id": owner}, headers=headers)
        assert r.status_code == 422 and list(r.get_json()["errors"]) == ["owner_id"]
    assert client.post("/probe", json={"owner_id": None}, headers=headers).status_code == 200


def test_a_pending_tenant_is_resynced_before_the_write_goes_on(app, client, admin_headers, services_rpc):
    tenant, admin, headers = admin_headers()
    with app.app_context():
        assert user_sync().pending(tenant.id)  # a new process has synced nobody yet
    services_rpc.down.add("contacts")
    assert client.post("/probe", json={"owner_id": admin.id}, headers=headers).status_code == 200
    with app.app_context():
        assert user_sync().pending(tenant.id)  # the service was down: still pending
    services_rpc.down.clear()
    services_rpc.calls.clear()
    assert client.post("/probe", json={"owner_id": admin.id}, headers=headers).status_code == 200
    full = syncs(services_rpc)
    assert full and all(c[2].tenant_id == tenant.id and c[4] is True for c in full)
    assert {"id": admin.id, "active": True} in full[0][3]
    with app.app_context():
        assert not user_sync().pending(tenant.id)
    services_rpc.calls.clear()
    assert client.post("/probe", json={"owner_id": admin.id}, headers=headers).status_code == 200
    assert syncs(services_rpc) == []  # in step: the write path asks nothing


def test_known_users_keep_only_a_yes_bounded_least_recent_first():
    from mosaic_gateway.references import KnownUsers

    known = KnownUsers(size=2)
    known.add([("t1", "u1"), ("t1", "u2")])
    assert ("t1", "u1") in known          # touched: u2 is now the least recent
    known.add([("t1", "u3")])
    assert ("t1", "u2") not in known and ("t1", "u1") in known and ("t1", "u3") in known
    assert ("t2", "u1") not in known      # another tenant's user is another key



def test_a_refusal_is_not_remembered_and_a_yes_is(client, admin_headers, make_user, engine):
    """A "no" is never cached: a user created after a 422 for their id is an owner at once; a "yes"
    is, so the next write naming them asks the database nothing."""
    from sqlalchemy import event

    from mosaic_gateway.models import User

    tenant, _admin, headers = admin_headers()
    assert client.post("/probe", json={"owner_id": "u-late"}, headers=headers).status_code == 422
    user = make_user(tenant)
    with engine.begin() as conn:  # the user gets the very id the refused write named
        conn.execute(User.__table__.update().where(User.__table__.c.id == user.id).values(id="u-late"))
    assert client.post("/probe", json={"owner_id": "u-late"}, headers=headers).status_code == 200
    looked_up = []
    listener = lambda *a: looked_up.append(a[2]) if "users" in a[2] and "IN" in a[2] else None  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.post("/probe", json={"owner_id": "u-late"}, headers=headers).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert looked_up == []
