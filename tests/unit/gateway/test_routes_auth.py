import pytest

from mosaic_gateway.routes_auth import LOGIN_ATTEMPTS_PER_MINUTE

PASSWORD = "correct horse battery"  # what the conftest factories use


def test_login_returns_a_token_pair(client, make_tenant):
    tenant, admin = make_tenant("acme")
    r = client.post("/api/v1/auth/login", json={"tenant": "acme", "email": admin.email, "password": PASSWORD})
    assert r.status_code == 200
    body = r.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]


@pytest.mark.parametrize("overrides", [{"password": "wrong password"}, {"email": "who@acme.test"},
                                       {"tenant": "other"}])
def test_bad_login_is_401_problem(client, make_tenant, overrides):
    make_tenant("acme")
    body = {"tenant": "acme", "email": "admin@acme.test", "password": PASSWORD, **overrides}
    r = client.post("/api/v1/auth/login", json=body)
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert r.get_json()["detail"] == "invalid credentials"


def test_login_input_is_validated(client):
    r = client.post("/api/v1/auth/login", json={"tenant": "acme", "password": 12})
    assert r.status_code == 422
    assert set(r.get_json()["errors"]) == {"email", "password"}
    assert client.post("/api/v1/auth/login", data="nope", content_type="text/plain").status_code == 400
    assert client.post("/api/v1/auth/login", json=[1, 2]).status_code == 400


def test_login_attempts_are_throttled(client, make_tenant):
    make_tenant("acme")
    body = {"tenant": "acme", "email": "admin@acme.test", "password": "wrong password"}
    codes = [client.post("/api/v1/auth/login", json=body).status_code
             for _ in range(LOGIN_ATTEMPTS_PER_MINUTE + 1)]
    assert codes[:-1] == [401] * LOGIN_ATTEMPTS_PER_MINUTE and codes[-1] == 429


def test_me(client, make_tenant, login, bearer):
    tenant, admin = make_tenant("acme", modules=("contacts", "sales"))
    r = client.get("/api/v1/me", headers=bearer(login("acme", admin.email)))
    assert r.status_code == 200
    me = r.get_json()
    assert me["tenant"] == {"id": tenant.id, "slug": "acme", "name": "Acme"}
    assert me["user"]["email"] == admin.email and me["user"]["last_login_at"]
    assert me["roles"] == ["admin"] and me["modules"] == ["contacts", "sales"]


def test_me_needs_authentication(client):
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer junk"}).status_code == 401


def test_refresh_rotates_and_detects_reuse(client, make_tenant, login, bearer):
    _tenant, admin = make_tenant("acme")
    first = login("acme", admin.email)
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200
    # Replaying the rotated token: 401, and the newer one dies with it.
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401


def test_logout_revokes_the_refresh_token(client, make_tenant, login):
    _tenant, admin = make_tenant("acme")
    pair = login("acme", admin.email)
    assert client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert client.post("/api/v1/auth/logout", json={"refresh_token": "unknown"}).status_code == 204
    assert client.post("/api/v1/auth/logout", json={}).status_code == 422
