from datetime import timedelta

import pytest
from flask import Blueprint, g

from mosaic.context import RequestContext
from mosaic.db import system_session, tenant_session, utcnow
from mosaic_gateway import auth, identity, tokens

OPERATOR = {"X-Operator-Key": "operator-key-for-tests"}

probe = Blueprint("probe", __name__)


@probe.get("/probe/managers")
@auth.roles_required("manager")
def managers_only():
    return {"ok": True}


@probe.get("/probe/context")
@auth.login_required
def context():
    ident = auth.current_identity()
    ctx = auth.to_context(ident, traceparent="00-abc-def-01")
    hidden, readonly = auth.field_policy(ident, "contact")
    return {"ctx": ctx.to_nameko(), "hidden": sorted(hidden), "readonly": sorted(readonly)}


@probe.post("/probe/field-policy")
@auth.login_required
def field_policy_twice():
    """The field policy, then again after this request changed the tenant's field permissions."""
    ident = auth.current_identity()
    first = auth.field_policy(ident, "contact")
    first[0].add("mutated")  # a caller's copy: the request's memo stays as worked out
    again = auth.field_policy(ident, "contact")
    identity.replace_field_permissions(auth.gateway_session(), [])
    auth.gateway_session().commit()
    auth.invalidate_tenant(ident.tenant_id)
    after = auth.field_policy(ident, "contact")
    return {"first": sorted(again[0]), "after": sorted(after[0])}


@pytest.fixture
def app(make_app):
    return make_app(blueprints=[probe])


@pytest.fixture
def api_key(engine):
    """``api_key(tenant, roles=("sales",))`` -> secret of a new key."""
    def factory(tenant, roles=("sales",), name="integration"):
        with tenant_session(engine, tenant.id) as s:
            _key, secret = identity.create_api_key(s, name, roles)
            s.commit()
        return secret
    return factory


def test_expired_access_token_is_401(client, settings, make_tenant, engine):
    _tenant, admin = make_tenant()
    old = tokens.issue_access_token(settings, admin, now=utcnow() - timedelta(hours=1))
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "expired" in r.get_json()["detail"]


@pytest.mark.parametrize("style", ["authorization", "x-api-key"])
def test_api_key_authentication(client, make_tenant, api_key, style):
    tenant, _ = make_tenant(modules=("contacts", "marketing"))
    secret = api_key(tenant)
    headers = {"Authorization": f"ApiKey {secret}"} if style == "authorization" else {"X-API-Key": secret}
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 200
    me = r.get_json()
    assert me["user"] is None and me["api_key_id"] and me["roles"] == ["sales"]
    assert me["modules"] == ["contacts", "marketing"]


def test_revoked_api_key_is_refused(client, admin_headers):
    _tenant, _admin, headers = admin_headers()
    created = client.post("/api/v1/admin/api-keys", json={"name": "k", "roles": ["readonly"]}, headers=headers)
    key = created.get_json()
    assert client.get("/api/v1/me", headers={"X-API-Key": key["secret"]}).status_code == 200
    assert client.delete(f"/api/v1/admin/api-keys/{key['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers={"X-API-Key": key["secret"]}).status_code == 401


def test_revocation_applies_despite_the_cache(make_app, admin_headers):
    client = make_app(cache_ttl=60).test_client()
    _tenant, _admin, headers = admin_headers()
    key = client.post("/api/v1/admin/api-keys", json={"name": "k", "roles": ["readonly"]},
                      headers=headers).get_json()
    assert client.get("/api/v1/me", headers={"X-API-Key": key["secret"]}).status_code == 200
    client.delete(f"/api/v1/admin/api-keys/{key['id']}", headers=headers)
    assert client.get("/api/v1/me", headers={"X-API-Key": key["secret"]}).status_code == 401


def test_roles_required(client, make_tenant, make_user, login, bearer):
    tenant, admin = make_tenant()
    sales = make_user(tenant, roles=["sales"])
    manager = make_user(tenant, roles=["manager"])
    assert client.get("/probe/managers", headers=bearer(login(tenant.slug, sales.email))).status_code == 403
    assert client.get("/probe/managers", headers=bearer(login(tenant.slug, manager.email))).status_code == 200
    assert client.get("/probe/managers", headers=bearer(login(tenant.slug, admin.email))).status_code == 200
    assert client.get("/probe/managers").status_code == 401


def test_role_change_applies_before_token_expiry(client, admin_headers, make_user, login, bearer):
    tenant, _admin, headers = admin_headers()
    user = make_user(tenant, roles=["manager"])
    user_headers = bearer(login(tenant.slug, user.email))
    assert client.get("/probe/managers", headers=user_headers).status_code == 200
    client.patch(f"/api/v1/admin/users/{user.id}", json={"roles": ["readonly"]}, headers=headers)
    assert client.get("/probe/managers", headers=user_headers).status_code == 403


def test_inactive_user_and_tenant_are_refused(client, admin_headers, make_user, login, bearer):
    tenant, _admin, headers = admin_headers()
    user = make_user(tenant)
    user_headers = bearer(login(tenant.slug, user.email))
    assert client.delete(f"/api/v1/admin/users/{user.id}", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=user_headers).status_code == 401
    assert client.patch(f"/api/v1/tenants/{tenant.id}", json={"active": False}, headers=OPERATOR).status_code == 200
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and "tenant" in r.get_json()["detail"]


def test_module_change_applies_at_once(make_app, admin_headers):
    client = make_app(cache_ttl=60).test_client()
    _tenant, _admin, headers = admin_headers()
    assert client.get("/api/v1/me", headers=headers).get_json()["modules"] == ["contacts"]
    r = client.put("/api/v1/admin/modules", json={"modules": ["contacts", "sales"]}, headers=headers)
    assert r.status_code == 200
    assert client.get("/api/v1/me", headers=headers).get_json()["modules"] == ["contacts", "sales"]


def test_tenant_rate_limit_is_429_with_retry_after(make_app, admin_headers):
    client = make_app(rate_limit=3).test_client()
    _tenant, _admin, headers = admin_headers()
    codes = [client.get("/api/v1/me", headers=headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 429 and r.get_json()["retry_after"] >= 1
    assert int(r.headers["Retry-After"]) == r.get_json()["retry_after"]


def test_api_key_rate_limit(make_app, make_tenant, api_key):
    client = make_app(key_rate_limit=2).test_client()
    tenant, _ = make_tenant()
    first, second = api_key(tenant), api_key(tenant, name="other")
    codes = [client.get("/api/v1/me", headers={"X-API-Key": first}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert "API key" in client.get("/api/v1/me", headers={"X-API-Key": first}).get_json()["detail"]
    assert client.get("/api/v1/me", headers={"X-API-Key": second}).status_code == 200


def test_to_context_and_field_policy(client, engine, make_tenant, make_user, login, bearer):
    tenant, _ = make_tenant(modules=("contacts", "sales"))
    user = make_user(tenant, roles=["sales"])
    with tenant_session(engine, tenant.id) as s:
        identity.replace_field_permissions(s, [
            {"object": "contact", "field": "salary", "role": "sales", "access": "none"},
            {"object": "contact", "field": "rating", "role": "sales", "access": "read"},
            {"object": "account", "field": "revenue", "role": "sales", "access": "none"}])
        s.commit()
    body = client.get("/probe/context", headers=bearer(login(tenant.slug, user.email))).get_json()
    assert body["hidden"] == ["salary"] and body["readonly"] == ["rating"]
    ctx = RequestContext.from_nameko(body["ctx"])
    assert ctx.tenant_id == tenant.id and ctx.user_id == user.id and ctx.roles == ("sales",)
    assert ctx.modules == ("contacts", "sales") and ctx.traceparent == "00-abc-def-01"


def test_field_policy_is_worked_out_once_per_request_and_again_after_a_change(
        client, engine, make_tenant, make_user, login, bearer):
    tenant, _ = make_tenant()
    user = make_user(tenant, roles=["sales"])
    with tenant_session(engine, tenant.id) as s:
        identity.replace_field_permissions(s, [
            {"object": "contact", "field": "salary", "role": "sales", "access": "none"}])
        s.commit()
    body = client.post("/probe/field-policy", headers=bearer(login(tenant.slug, user.email))).get_json()
    assert body == {"first": ["salary"], "after": []}


def test_operator_required(make_app, client):
    assert client.get("/api/v1/tenants").status_code == 401
    assert client.get("/api/v1/tenants", headers={"X-Operator-Key": "wrong"}).status_code == 401
    assert client.get("/api/v1/tenants", headers=OPERATOR).status_code == 200
    off = make_app(operator_key="").test_client()
    assert off.get("/api/v1/tenants", headers=OPERATOR).status_code == 404


def test_init_app_resolves_the_signing_key(make_app, settings):
    app = make_app(secret_key="")
    with app.app_context():
        assert auth.settings().secret_key  # generated under the data dir in the embedded mode
        assert (settings.data_dir / "secret.key").exists()


def test_ttl_cache_expires():
    now = [0.0]
    cache = auth.TTLCache(2.0, clock=lambda: now[0])
    cache.set("k", 1)
    assert cache.get("k") == 1
    now[0] = 2.5
    assert cache.get("k") is None
    assert auth.TTLCache(0).get("x", "default") == "default"


def test_last_used_at_is_recorded(client, engine, make_tenant, api_key):
    tenant, _ = make_tenant()
    secret = api_key(tenant)
    client.get("/api/v1/me", headers={"X-API-Key": secret})
    with system_session(engine) as s:
        assert identity.verify_api_key(s, secret).last_used_at is not None


def test_a_bearer_tokens_signature_is_verified_once(client, settings, make_tenant, monkeypatch):
    _tenant, admin = make_tenant()
    token = tokens.issue_access_token(settings, admin)
    decoded = []

    def counting(conf, raw):
        decoded.append(raw)
        return tokens.decode_access_token(conf, raw)

    monkeypatch.setattr(auth, "decode_access_token", counting)
    for _ in range(3):
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert decoded == [token]
    # another signature is another string: verified (and refused), never served from the cache
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and decoded == [token, forged]


def test_a_cached_token_is_refused_once_it_expires(client, settings, make_tenant, monkeypatch):
    _tenant, admin = make_tenant()
    token = tokens.issue_access_token(settings, admin)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # verified and cached
    expires = tokens.decode_access_token(settings, token)["exp"]
    monkeypatch.setattr(auth, "_wall_clock", lambda: expires)
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.get_json()["detail"]


def test_the_rpc_context_follows_a_re_read_caller(app, make_tenant, settings):
    tenant, admin = make_tenant()
    token = tokens.issue_access_token(settings, admin)
    with app.test_request_context("/", headers={"Authorization": f"Bearer {token}"}):
        first = auth.request_context()
        assert auth.request_context() is first and first.tenant_id == tenant.id
        g.pop("mosaic_identity")
        assert auth.request_context() is not first  # a new identity, a new context


def test_a_miss_of_the_callers_state_reads_tenant_user_and_field_permissions_in_one_session(
        make_app, make_tenant, settings, monkeypatch):
    app = make_app(cache_ttl=60)
    tenant, admin = make_tenant()
    token = tokens.issue_access_token(settings, admin)
    opened = []
    real = auth.system_session
    monkeypatch.setattr(auth, "system_session", lambda engine: opened.append(1) or real(engine))
    with app.test_request_context("/", headers={"Authorization": f"Bearer {token}"}):
        ident = auth.authenticate()
        assert auth.field_policy(ident, "contact") == (set(), set())
    assert len(opened) == 1
    cache = app.extensions["mosaic"]["auth_cache"]
    assert cache.get(("tenant", tenant.id))["slug"] == tenant.slug
    assert cache.get(("user", admin.id))["roles"] == ("admin",)
    assert cache.get(("fieldperms", tenant.id)) == []
    cache.invalidate(("user", admin.id))  # any one missing reads the three again
    with app.test_request_context("/", headers={"Authorization": f"Bearer {token}"}):
        assert auth.authenticate().user_id == admin.id
    assert len(opened) == 2 and cache.get(("tenant", tenant.id)) is not None


def test_the_request_objects_are_the_ones_flasks_proxies_stand_for(app):
    from flask import current_app, request

    with app.test_request_context("/probe/context?x=1"):
        assert auth._request() is request._get_current_object()
        assert auth._request_g() is g._get_current_object()
        assert auth._request_app() is current_app._get_current_object() is app
        assert auth._g_value("mosaic_identity") is None
        g.mosaic_identity = "someone"
        assert auth._g_value("mosaic_identity") == "someone"
    with app.app_context():  # no request: what the request proxy says
        with pytest.raises(RuntimeError, match="outside of request context"):
            auth._request()
        assert auth._request_g() is g._get_current_object()
    with pytest.raises(RuntimeError, match="outside of application context"):
        auth._request_app()
    with pytest.raises(RuntimeError, match="outside of application context"):
        auth._request_g()
