"""Notifications and approvals through the gateway on the embedded mode's pieces in this process
(SQLite, the in-process broker): the contacts service, its outbox relay and the hub. Each user
sees their own and their roles' notifications, an approver the approvals they may decide."""
from __future__ import annotations

import time

import pytest

from mosaic.db import Base, get_engine, system_session, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import load_models, owned_tables
from mosaic.rpc import RpcPool
from mosaic.runtime import start_relay, start_service
from mosaic_gateway import identity
from mosaic_gateway.app import create_app

PASSWORD = "correct horse battery"


@pytest.fixture
def hub_stack(settings, memory_broker):
    """Gateway app, contacts, its relay and the hub; a tenant with an admin, a manager and a rep:
    ``(client, {role: headers})``."""
    settings = settings.with_(amqp_uri="memory://", relay_interval=0.05)
    load_models()
    for component in ("contacts", "hub", "gateway"):
        Base.metadata.create_all(get_engine(settings, component),
                                 tables=[Base.metadata.tables[t] for t in owned_tables(component)])
    with system_session(get_engine(settings, "gateway")) as session:
        tenant, _admin = identity.create_tenant(session, "acme", "Acme", "admin@acme.test", PASSWORD,
                                                modules=("contacts",))
        session.commit()
    with tenant_session(get_engine(settings, "gateway"), tenant.id) as session:
        identity.create_user(session, email="boss@acme.test", password=PASSWORD, name="Boss", roles=("manager",))
        identity.create_user(session, email="rep@acme.test", password=PASSWORD, name="Rep", roles=("sales",))
        session.commit()
    containers = [start_service(settings, "contacts"), start_service(settings, "hub")]
    relay, relay_thread = start_relay(settings, "contacts")
    rpc = RpcPool("memory://", size=4, timeout=20)
    client = create_app(settings, rpc).test_client()
    headers = {}
    for role, email in (("admin", "admin@acme.test"), ("manager", "boss@acme.test"), ("sales", "rep@acme.test")):
        r = client.post("/api/v1/auth/login", json={"tenant": "acme", "email": email, "password": PASSWORD})
        assert r.status_code == 200, r.get_json()
        headers[role] = {"Authorization": f"Bearer {r.get_json()['access_token']}"}
    yield client, headers
    relay.stop()
    relay_thread.kill()
    for container in containers:
        container.stop()
    rpc.close()
    dispose_engines()


def poll(check, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout  # bounds a failing run only
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


def test_each_user_reads_their_own_and_their_roles_notifications(hub_stack):
    client, h = hub_stack
    rule = {"object": "contact", "trigger": {"type": "created"},
            "actions": [{"type": "notify", "to": "owner", "message": "{{last_name}} is yours"},
                        {"type": "notify", "to": "role:sales", "message": "team: {{last_name}}"}]}
    assert client.put("/api/v1/metadata/rules/welcome", json=rule, headers=h["admin"]).status_code == 201
    assert client.post("/api/v1/contacts", json={"last_name": "Lee"}, headers=h["admin"]).status_code == 201
    admin = poll(lambda: client.get("/api/v1/notifications", headers=h["admin"]).get_json()["items"], "the admin's")
    assert [n["message"] for n in admin] == ["Lee is yours"]
    rep = poll(lambda: client.get("/api/v1/notifications", headers=h["sales"]).get_json()["items"], "the team's")
    assert [n["message"] for n in rep] == ["team: Lee"]
    assert client.get("/api/v1/notifications", headers=h["manager"]).get_json() == {
        "items": [], "next_cursor": None, "unread": 0}
    # the admin cannot read the team's notification; the rep reads it for the team
    r = client.post("/api/v1/notifications/read", json={"ids": [rep[0]["id"]]}, headers=h["admin"])
    assert r.get_json() == {"marked": 0, "unread": 1}
    r = client.post("/api/v1/notifications/read", json={"ids": [rep[0]["id"]]}, headers=h["sales"])
    assert r.get_json() == {"marked": 1, "unread": 0}
    assert client.get("/api/v1/notifications?unread=true", headers=h["sales"]).get_json()["items"] == []


def test_approvals_show_to_who_may_decide_until_decided(hub_stack):
    client, h = hub_stack
    process = {"object": "contact", "field": "lifecycle_stage", "initial": "lead",
               "stages": [{"name": s} for s in ("subscriber", "lead", "prospect", "customer", "loyal", "churned")],
               "transitions": [{"name": "sign", "from": ["lead"], "to": "customer", "approval": {"roles": ["manager"]}}]}
    assert client.put("/api/v1/metadata/processes/vetting", json=process, headers=h["admin"]).status_code == 201
    made = client.post("/api/v1/contacts", json={"last_name": "Ng", "lifecycle_stage": "lead"}, headers=h["admin"])
    contact = made.get_json()["id"]
    assert client.post(f"/api/v1/contacts/{contact}/transition", json={"to": "customer"},
                       headers=h["admin"]).status_code == 202
    boss = poll(lambda: client.get("/api/v1/approvals", headers=h["manager"]).get_json()["items"], "the inbox")
    assert [(a["record_id"], a["status"], a["service"]) for a in boss] == [(contact, "pending", "contacts")]
    assert client.get("/api/v1/approvals", headers=h["sales"]).get_json()["items"] == []  # not an approver
    assert [a["id"] for a in client.get("/api/v1/approvals", headers=h["admin"]).get_json()["items"]] == [boss[0]["id"]]
    assert client.post(f"/api/v1/contacts/{contact}/approve", json={}, headers=h["manager"]).status_code == 200
    poll(lambda: client.get("/api/v1/approvals", headers=h["manager"]).get_json()["items"] == [], "the decision")
    done = client.get("/api/v1/approvals?status=approved", headers=h["manager"]).get_json()["items"]
    assert [a["record_id"] for a in done] == [contact]
    bad = client.get("/api/v1/approvals?status=maybe", headers=h["manager"])
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
