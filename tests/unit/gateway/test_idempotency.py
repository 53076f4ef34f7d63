from datetime import timedelta

import pytest
from flask import Blueprint, request
from sqlalchemy import select, update

from mosaic.db import system_session, utcnow
from mosaic.errors import Conflict, ServiceUnavailable
from mosaic_gateway import auth, idempotency
from mosaic_gateway.idempotency import idempotent
from mosaic_gateway.models import IdempotencyRecord

OPERATOR = {"X-Operator-Key": "operator-key-for-tests"}
calls: dict[str, int] = {}
probe = Blueprint("idem_probe", __name__)


def _count(name: str) -> int:
    calls[name] = calls.get(name, 0) + 1
    return calls[name]


@probe.post("/probe/things")
@auth.login_required
@idempotent
def create_thing():
    n = _count("things")
    return {"n": n, "echo": request.get_json()}, 201, {"Location": f"/probe/things/{n}"}


@probe.post("/probe/flaky")
@auth.login_required
@idempotent
def flaky():
    if _count("flaky") == 1:
        raise ServiceUnavailable("contacts service is down")
    return {"n": calls["flaky"]}, 201


@probe.post("/probe/crash")
@auth.login_required
@idempotent
def crash():
    if _count("crash") == 1:
        raise RuntimeError("boom")
    return {"n": calls["crash"]}, 201


@probe.post("/probe/refuse")
@auth.login_required
@idempotent
def refuse():
    raise Conflict(f"refused #{_count('refuse')}")


@pytest.fixture(autouse=True)
def reset_calls():
    calls.clear()


@pytest.fixture
def app(make_app):
    return make_app(blueprints=[probe])


@pytest.fixture
def headers(admin_headers):
    _tenant, _admin, h = admin_headers()
    return h


def post(client, path, body, headers, key="key-1"):
    return client.post(path, json=body, headers={**headers, "Idempotency-Key": key} if key else headers)


def test_repeat_replays_the_first_response(client, headers):
    first = post(client, "/probe/things", {"a": 1}, headers)
    again = post(client, "/probe/things", {"a": 1}, headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() == {"n": 1, "echo": {"a": 1}}
    assert again.headers["Location"] == "/probe/things/1"
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert calls["things"] == 1


def test_no_key_means_no_idempotency(client, headers):
    post(client, "/probe/things", {}, headers, key=None)
    post(client, "/probe/things", {}, headers, key=None)
    assert calls["things"] == 2


def test_other_keys_run_again(client, headers):
    post(client, "/probe/things", {}, headers, key="a")
    assert post(client, "/probe/things", {}, headers, key="b").get_json()["n"] == 2


def test_same_key_other_body_is_422(client, headers):
    post(client, "/probe/things", {"a": 1}, headers)
    r = post(client, "/probe/things", {"a": 2}, headers)
    assert r.status_code == 422 and "Idempotency-Key" in r.get_json()["errors"]
    assert calls["things"] == 1


def test_same_key_other_path_is_422(client, headers):
    post(client, "/probe/things", {}, headers)
    assert post(client, "/probe/flaky", {}, headers).status_code == 422


def test_keys_are_scoped_per_tenant(client, headers, admin_headers):
    _t, _a, other = admin_headers()
    post(client, "/probe/things", {"a": 1}, headers)
    r = post(client, "/probe/things", {"a": 1}, other)
    assert r.status_code == 201 and r.get_json()["n"] == 2 and "Idempotent-Replayed" not in r.headers


def test_another_user_of_the_tenant_reusing_a_key_is_422(client, admin_headers, make_user, login, bearer):
    tenant, _admin, headers = admin_headers()
    other = bearer(login(tenant.slug, make_user(tenant).email))
    post(client, "/probe/things", {"a": 1}, headers)
    assert post(client, "/probe/things", {"a": 1}, other).status_code == 422


def test_repeat_while_running_is_409(client, engine, headers):
    post(client, "/probe/things", {"a": 1}, headers)
    with system_session(engine) as s:  # make the stored record look unfinished
        s.execute(update(IdempotencyRecord).values(status=None, response=None))
        s.commit()
    r = post(client, "/probe/things", {"a": 1}, headers)
    assert r.status_code == 409 and calls["things"] == 1


def test_abandoned_reservation_is_taken_over(client, engine, headers):
    post(client, "/probe/things", {"a": 1}, headers)
    with system_session(engine) as s:
        s.execute(update(IdempotencyRecord).values(status=None, created_at=utcnow() - timedelta(minutes=10)))
        s.commit()
    assert post(client, "/probe/things", {"a": 1}, headers).get_json()["n"] == 2


def test_records_older_than_a_day_are_ignored_and_purged(client, engine, headers):
    post(client, "/probe/things", {"a": 1}, headers)
    with system_session(engine) as s:
        s.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25)))
        s.commit()
        assert idempotency.purge_expired(s) == 1
        s.commit()
    r = post(client, "/probe/things", {"a": 2}, headers)  # the old key is free again, whatever the body
    assert r.status_code == 201 and r.get_json()["n"] == 2
    with system_session(engine) as s:
        assert idempotency.purge_expired(s) == 0


def test_5xx_frees_the_key(client, headers):
    assert post(client, "/probe/flaky", {}, headers).status_code == 503
    r = post(client, "/probe/flaky", {}, headers)
    assert r.status_code == 201 and r.get_json() == {"n": 2} and "Idempotent-Replayed" not in r.headers


def test_crash_frees_the_key(client, engine, headers):
    with pytest.raises(RuntimeError):  # TESTING propagates exceptions instead of answering 500
        post(client, "/probe/crash", {}, headers)
    with system_session(engine) as s:
        assert s.scalar(select(IdempotencyRecord)) is None
    assert post(client, "/probe/crash", {}, headers).get_json() == {"n": 2}


def test_4xx_outcome_is_replayed(client, headers):
    first = post(client, "/probe/refuse", {}, headers)
    again = post(client, "/probe/refuse", {}, headers)
    assert first.status_code == again.status_code == 409
    assert again.get_json()["detail"] == first.get_json()["detail"] == "refused #1"
    assert again.mimetype == "application/problem+json" and again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["x" * 201, "   "])
def test_bad_keys_are_400(client, headers, key):
    r = post(client, "/probe/things", {}, headers, key=key)
    assert r.status_code == 400 and calls == {}


def test_admin_user_creation_is_idempotent(client, headers):
    body = {"email": "rep@acme.test", "password": "correct horse battery", "roles": ["sales"]}
    first = post(client, "/api/v1/admin/users", body, headers)
    again = post(client, "/api/v1/admin/users", body, headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(client.get("/api/v1/admin/users", headers=headers).get_json()["items"]) == 2


def test_operator_tenant_creation_is_idempotent(client):
    body = {"slug": "acme", "name": "Acme", "admin": {"email": "a@acme.test", "password": "correct horse battery"}}
    first = post(client, "/api/v1/tenants", body, OPERATOR)
    again = post(client, "/api/v1/tenants", body, OPERATOR)
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert len(client.get("/api/v1/tenants", headers=OPERATOR).get_json()["items"]) == 1
