"""The gateway keeps the services' read model of users in step (mosaic_gateway.user_sync): a
user created, changed or deactivated is pushed at once; a push that fails leaves the tenant
pending, and readiness checks resync it until it succeeds; a sweep of every tenant starts with the
process and recurs."""
from __future__ import annotations

from mosaic.db import system_session
from mosaic_gateway import health
from mosaic_gateway.user_sync import SWEEP_EVERY, UserSync, user_sync

from tests.unit.gateway.conftest import PASSWORD, _bearer, _login
from tests.unit.gateway.test_routes_admin import OPERATOR, make_tenant_body, make_user_body


def bearer(client, tenant, user):
    return _bearer(_login(client, tenant.slug, user.email, PASSWORD))


def pushed(services_rpc, full=False):
    """The users each sync_users call sent, by service."""
    return [(c[0], c[2].tenant_id, c[2].roles, c[3]) for c in services_rpc.calls
            if c[1] == "sync_users" and c[4] is full]


def test_tenant_and_user_changes_are_pushed_to_every_service(client, admin_headers, services_rpc):
    r = client.post("/api/v1/tenants", json=make_tenant_body(), headers=OPERATOR)
    admin = r.get_json()["admin"]
    tenant_id = r.get_json()["id"]
    first = pushed(services_rpc)
    assert {c[0] for c in first} == set(UserSync.targets()) and "contacts" in {c[0] for c in first}
    assert all(c[1:] == (tenant_id, ("system",), [{"id": admin["id"], "active": True}]) for c in first)

    tenant, _admin, headers = admin_headers()
    services_rpc.calls.clear()
    user = client.post("/api/v1/admin/users", json=make_user_body(), headers=headers).get_json()
    assert {c[3][0]["id"] for c in pushed(services_rpc)} == {user["id"]}
    services_rpc.calls.clear()
    client.patch(f"/api/v1/admin/users/{user['id']}", json={"name": "Renamed"}, headers=headers)
    assert pushed(services_rpc) == []  # only the active flag matters to a service
    assert client.delete(f"/api/v1/admin/users/{user['id']}", headers=headers).status_code == 204
    assert {c[3][0]["active"] for c in pushed(services_rpc)} == {False}  # deactivated: still an owner


def test_a_failed_push_keeps_the_user_and_readiness_heals_it(make_app, admin_headers, services_rpc, engine):
    app = make_app(blueprints=(health.bp,))
    client = app.test_client()
    tenant, _admin, _headers = admin_headers()
    headers = bearer(client, tenant, _admin)
    with app.app_context(), system_session(engine) as session:
        user_sync().catch_up(session)  # the process's first sweep
        assert not user_sync().pending(tenant.id)
    services_rpc.down.add("contacts")
    r = client.post("/api/v1/admin/users", json=make_user_body(), headers=headers)
    assert r.status_code == 201  # the user exists: the gateway's table is the truth
    with app.app_context():
        assert user_sync().pending(tenant.id)
    services_rpc.calls.clear()
    assert client.get("/readyz").status_code == 503  # contacts is down: no sync attempted
    assert pushed(services_rpc, full=True) == []
    services_rpc.down.clear()
    body = client.get("/readyz").get_json()
    assert body["status"] == "ready" and body["users_pending"] == 0
    resent = {c[0]: c[3] for c in pushed(services_rpc, full=True) if c[1] == tenant.id}
    assert {u["id"] for u in resent["contacts"]} >= {r.get_json()["id"]}
    with app.app_context():
        assert not user_sync().pending(tenant.id)


def test_the_sweep_covers_every_tenant_in_batches_and_recurs(make_tenant, services_rpc, engine):
    tenants = [make_tenant()[0].id for _ in range(3)]
    now = [1000.0]
    sync = UserSync(services_rpc, clock=lambda: now[0])
    assert all(sync.pending(t) for t in tenants)
    with system_session(engine) as session:
        sync.catch_up(session, batch=2)
        assert sum(sync.pending(t) for t in tenants) == 1
        sync.catch_up(session, batch=2)
        assert not any(sync.pending(t) for t in tenants)
        services_rpc.calls.clear()
        sync.catch_up(session, batch=2)
        assert services_rpc.calls == []  # nothing due
        now[0] += SWEEP_EVERY
        sync.catch_up(session, batch=10)
    assert {c[2].tenant_id for c in services_rpc.calls} == set(tenants)


def test_nothing_due_means_no_work(make_tenant, services_rpc, engine):
    make_tenant()
    now = [0.0]
    sync = UserSync(services_rpc, clock=lambda: now[0])
    assert sync.due()  # a new process: the first sweep
    with system_session(engine) as session:
        sync.catch_up(session)
    assert not sync.due() and sync.pending_tenants() == []
    services_rpc.down.add("contacts")
    assert sync.push("t-x", [{"id": "u", "active": True}]) is False
    assert sync.due() and sync.pending_tenants() == ["t-x"]
    now[0] += SWEEP_EVERY
    services_rpc.down.clear()
    with system_session(engine) as session:
        assert sync.catch_up(session) == []
    assert not sync.due()
