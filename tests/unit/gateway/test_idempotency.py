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
    return {"n": n, "echo": request.get_json()}, 201, {"Location": f"/probe/things/{n}", "ETag": '"1"'}


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


seen: list[str] = []


@probe.post("/probe/ids")
@auth.login_required
@idempotent
def ids():
    """Three calls, two of one method: the request ids their RPCs would carry."""
    for service, method in (("contacts", "create_record"), ("contacts", "create_record"), ("sales", "x")):
        seen.append(idempotency.request_id(service, method))
    if _count("ids") == 1:
        raise ServiceUnavailable("the contacts service did not answer in time")
    return {"n": calls["ids"]}, 201


@probe.post("/probe/secret")
@auth.login_required
@idempotent
def secret():
    return {"id": f"sub-{_count('secret')}", "secret": "whsec_plain"}, 201


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


def test_5xx_keeps_the_key_and_a_retry_resolves_it(client, headers):
    assert post(client, "/probe/flaky", {}, headers).status_code == 503
    r = post(client, "/probe/flaky", {}, headers)
    assert r.status_code == 201 and r.get_json() == {"n": 2} and "Idempotent-Replayed" not in r.headers
    again = post(client, "/probe/flaky", {}, headers)  # resolved: now a plain replay
    assert again.get_json() == {"n": 2} and again.headers["Idempotent-Replayed"] == "true"


def test_unknown_outcome_stays_reserved_for_its_request(client, headers):
    assert post(client, "/probe/flaky", {"a": 1}, headers).status_code == 503
    r = post(client, "/probe/flaky", {"a": 2}, headers)  # not free: another body is another request
    assert r.status_code == 422 and calls["flaky"] == 1


def test_crash_keeps_the_key_and_a_retry_resolves_it(client, engine, headers):
    with pytest.raises(RuntimeError):  # TESTING propagates exceptions instead of answering 500
        post(client, "/probe/crash", {}, headers)
    with system_session(engine) as s:
        assert s.scalar(select(IdempotencyRecord.status)) == 500
    assert post(client, "/probe/crash", {}, headers).get_json() == {"n": 2}


def test_retries_of_one_key_share_request_ids(client, headers):
    seen.clear()
    post(client, "/probe/ids", {}, headers, key="ids-1")
    first = list(seen)
    post(client, "/probe/ids", {}, headers, key="ids-1")  # the retry (503 first time) runs again
    post(client, "/probe/ids", {}, headers, key="ids-2")
    post(client, "/probe/ids", {}, headers, key=None)
    post(client, "/probe/ids", {}, headers, key=None)
    assert len(first) == 3 and len(set(first)) == 3  # each call of a request has its own id
    assert seen[3:6] == first
    others = [seen[6:9], seen[9:12], seen[12:15]]
    assert all(not set(o) & set(first) for o in others) and len({tuple(o) for o in others}) == 3


def test_request_ids_of_a_key_are_scoped_to_the_principal():
    assert idempotency._key_base("user:a", "k") != idempotency._key_base("user:b", "k")
    assert idempotency._key_base("user:a", "k") == idempotency._key_base("user:a", "k")


def test_secrets_are_stored_blanked_and_a_replay_says_so(client, engine, headers):
    first = post(client, "/probe/secret", {}, headers)
    assert first.get_json()["secret"] == "whsec_plain"
    with system_session(engine) as s:
        stored = s.scalar(select(IdempotencyRecord.response))
    assert "whsec_plain" not in str(stored)
    again = post(client, "/probe/secret", {}, headers)
    body = again.get_json()
    assert again.status_code == 201 and body["secret"] is None and "shown once" in body["redacted"]["secret"]
    assert body["id"] == first.get_json()["id"]


def test_a_replay_keeps_the_etag(client, headers):
    first = post(client, "/probe/things", {"a": 1}, headers)
    again = post(client, "/probe/things", {"a": 1}, headers)
    assert first.headers["ETag"] == again.headers["ETag"] == '"1"'


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


def test_api_key_creation_is_idempotent_and_its_secret_is_shown_once(client, engine, headers):
    body = {"name": "sync", "roles": ["sales"]}
    first = post(client, "/api/v1/admin/api-keys", body, headers)
    again = post(client, "/api/v1/admin/api-keys", body, headers)
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    made, replay = first.get_json(), again.get_json()
    assert made["secret"].startswith("mk_") and replay["id"] == made["id"]
    assert replay["secret"] is None and "shown once" in replay["redacted"]["secret"]
    assert again.headers["Location"] == first.headers["Location"] == f"/api/v1/admin/api-keys/{made['id']}"
    with system_session(engine) as s:
        assert made["secret"] not in str(s.scalars(select(IdempotencyRecord.response)).all())
    assert len(client.get("/api/v1/admin/api-keys", headers=headers).get_json()["items"]) == 1
    assert client.get("/api/v1/admin/users", headers={"Authorization": f"ApiKey {made['secret']}"}).status_code != 401
    other = post(client, "/api/v1/admin/api-keys", {"name": "other", "roles": ["sales"]}, headers)
    assert other.status_code == 422  # the key names the first request


def test_an_api_key_whose_answer_was_lost_is_not_created_twice(client, engine, headers):
    """The key committed, then the process died before storing the response: the retry finds the
    key its reservation made and answers it, secret blanked."""
    body = {"name": "sync", "roles": ["sales"]}
    made = post(client, "/api/v1/admin/api-keys", body, headers).get_json()
    with system_session(engine) as s:  # as a crash after the commit leaves it: reserved, no outcome
        s.execute(update(IdempotencyRecord).values(status=None, response=None,
                                                   created_at=utcnow() - timedelta(minutes=10)))
        s.commit()
    retry = post(client, "/api/v1/admin/api-keys", body, headers)
    assert retry.status_code == 201 and retry.get_json()["id"] == made["id"]
    assert retry.get_json()["secret"] is None and "shown once" in retry.get_json()["redacted"]["secret"]
    assert len(client.get("/api/v1/admin/api-keys", headers=headers).get_json()["items"]) == 1
    replay = post(client, "/api/v1/admin/api-keys", body, headers)  # now stored: a plain replay
    assert replay.get_json()["id"] == made["id"] and replay.get_json()["secret"] is None


def test_api_keys_without_an_idempotency_key_are_each_new(client, headers):
    body = {"name": "sync", "roles": ["sales"]}
    ids = {post(client, "/api/v1/admin/api-keys", body, headers, key=None).get_json()["id"] for _ in range(2)}
    assert len(ids) == 2


def test_a_user_whose_answer_was_lost_is_answered_not_refused_as_a_duplicate(client, engine, headers):
    """The user committed, then the process died before storing the response: the retry finds the
    user its reservation made and answers it (not a 409 on its own email)."""
    body = {"email": "late@example.com", "password": "correct horse battery", "roles": ["sales"]}
    made = post(client, "/api/v1/admin/users", body, headers)
    assert made.status_code == 201, made.get_json()
    with system_session(engine) as s:  # as a crash after the commit leaves it: reserved, no outcome
        s.execute(update(IdempotencyRecord).values(status=None, response=None,
                                                   created_at=utcnow() - timedelta(minutes=10)))
        s.commit()
    retry = post(client, "/api/v1/admin/users", body, headers)
    assert retry.status_code == 201 and retry.get_json()["id"] == made.get_json()["id"]
    assert retry.headers["Location"] == made.headers["Location"]
    emails = [u["email"] for u in client.get("/api/v1/admin/users", headers=headers).get_json()["items"]]
    assert emails.count("late@example.com") == 1
