import pytest
from sqlalchemy import select

from mosaic.db import system_session
from mosaic_gateway.models import ApiKey

OPERATOR = {"X-Operator-Key": "operator-key-for-tests"}
PASSWORD = "correct horse battery"


def make_tenant_body(**overrides):
    body = {"slug": "acme", "name": "Acme Ltd",
            "admin": {"email": "Boss@Acme.test", "password": PASSWORD, "name": "Boss"},
            "modules": ["contacts", "sales"]}
    body.update(overrides)
    return body


def make_user_body(**overrides):
    body = {"email": "rep@acme.test", "password": PASSWORD, "name": "Rep", "roles": ["sales"]}
    body.update(overrides)
    return body


def test_operator_creates_a_tenant_whose_admin_can_log_in(client, login):
    r = client.post("/api/v1/tenants", json=make_tenant_body(), headers=OPERATOR)
    assert r.status_code == 201
    body = r.get_json()
    assert r.headers["Location"] == f"/api/v1/tenants/{body['id']}"
    assert body["slug"] == "acme" and body["modules"] == ["contacts", "sales"]
    assert body["admin"]["email"] == "boss@acme.test" and body["admin"]["roles"] == ["admin"]
    assert "password_hash" not in body["admin"]
    assert login("acme", "boss@acme.test")["access_token"]
    listed = client.get("/api/v1/tenants", headers=OPERATOR).get_json()["items"]
    assert [t["slug"] for t in listed] == ["acme"]
    assert client.get(f"/api/v1/tenants/{body['id']}", headers=OPERATOR).get_json()["name"] == "Acme Ltd"


def test_tenant_creation_validates(client):
    assert client.post("/api/v1/tenants", json=make_tenant_body(), headers=OPERATOR).status_code == 201
    assert client.post("/api/v1/tenants", json=make_tenant_body(), headers=OPERATOR).status_code == 409
    bad = make_tenant_body(slug="Not A Slug", modules=["crypto"],
                           admin={"email": "nope", "password": "short"})
    r = client.post("/api/v1/tenants", json=bad, headers=OPERATOR)
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    # one flat {field path: [messages]} (the documented Problem schema), nested inputs included
    assert {"slug", "modules[0]", "admin.email", "admin.password"} <= set(errors)
    assert all(isinstance(m, list) and all(isinstance(x, str) for x in m) for m in errors.values())
    assert client.post("/api/v1/tenants", json=make_tenant_body()).status_code == 401
    assert client.get("/api/v1/tenants/nope", headers=OPERATOR).status_code == 404


def test_modules(client, admin_headers):
    _tenant, _admin, headers = admin_headers()
    r = client.get("/api/v1/admin/modules", headers=headers).get_json()
    assert r["modules"] == ["contacts"] and "analytics" in r["available"]
    r = client.put("/api/v1/admin/modules", json={"modules": ["crypto"]}, headers=headers)
    assert r.status_code == 422 and "modules[0]" in r.get_json()["errors"]
    r = client.put("/api/v1/admin/modules", json={"modules": ["contacts", "servicedesk"]}, headers=headers)
    assert r.get_json() == {"modules": ["contacts", "servicedesk"]}


def test_the_hub_is_no_module_a_tenant_lists_or_enables(client, admin_headers):
    """A platform service runs for every tenant: never offered, never enabled, never disabled."""
    _tenant, _admin, headers = admin_headers()
    assert "hub" not in client.get("/api/v1/admin/modules", headers=headers).get_json()["available"]
    r = client.put("/api/v1/admin/modules", json={"modules": ["contacts", "hub"]}, headers=headers)
    assert r.status_code == 422 and "modules[1]" in r.get_json()["errors"]


def test_user_crud(client, admin_headers, login, bearer):
    tenant, admin, headers = admin_headers()
    r = client.post("/api/v1/admin/users", json=make_user_body(), headers=headers)
    assert r.status_code == 201
    user = r.get_json()
    assert r.headers["Location"] == f"/api/v1/admin/users/{user['id']}"
    assert user["roles"] == ["sales"] and user["active"] and "password_hash" not in user
    assert client.post("/api/v1/admin/users", json=make_user_body(email="REP@acme.test"),
                       headers=headers).status_code == 409
    emails = [u["email"] for u in client.get("/api/v1/admin/users", headers=headers).get_json()["items"]]
    assert emails == [admin.email, "rep@acme.test"]

    r = client.patch(f"/api/v1/admin/users/{user['id']}", json={"name": "Star Rep", "roles": ["manager"]},
                     headers=headers)
    assert r.status_code == 200 and r.get_json()["roles"] == ["manager"]
    assert client.get(f"/api/v1/admin/users/{user['id']}", headers=headers).get_json()["name"] == "Star Rep"
    assert login(tenant.slug, "rep@acme.test")

    assert client.delete(f"/api/v1/admin/users/{user['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/admin/users/{user['id']}", headers=headers).get_json()["active"] is False
    r = client.post("/api/v1/auth/login", json={"tenant": tenant.slug, "email": "rep@acme.test",
                                                "password": PASSWORD})
    assert r.status_code == 401


@pytest.mark.parametrize("body,field", [
    (make_user_body(email="not-an-email"), "email"),
    (make_user_body(password="short"), "password"),
    (make_user_body(roles=["root"]), "roles[0]"),
    (make_user_body(roles=[]), "roles"),
    ({**make_user_body(), "is_superuser": True}, "is_superuser"),
])
def test_user_input_is_validated(client, admin_headers, body, field):
    _tenant, _admin, headers = admin_headers()
    r = client.post("/api/v1/admin/users", json=body, headers=headers)
    assert r.status_code == 422 and field in r.get_json()["errors"]


def test_last_admin_cannot_demote_itself(client, admin_headers):
    _tenant, admin, headers = admin_headers()
    r = client.patch(f"/api/v1/admin/users/{admin.id}", json={"roles": ["sales"]}, headers=headers)
    assert r.status_code == 409


def test_admin_cannot_touch_another_tenants_users(client, admin_headers, make_user):
    _a, _admin_a, headers_a = admin_headers()
    tenant_b, admin_b, _headers_b = admin_headers()
    victim = make_user(tenant_b)
    for method, kwargs in (("get", {}), ("patch", {"json": {"name": "pwned"}}), ("delete", {})):
        for target in (victim.id, admin_b.id):
            r = getattr(client, method)(f"/api/v1/admin/users/{target}", headers=headers_a, **kwargs)
            assert r.status_code == 404, (method, target)
    listed = client.get("/api/v1/admin/users", headers=headers_a).get_json()["items"]
    assert victim.id not in {u["id"] for u in listed}


def test_non_admins_are_forbidden(client, admin_headers, make_user, login, bearer):
    tenant, _admin, _headers = admin_headers()
    manager = make_user(tenant, roles=["manager"])
    headers = bearer(login(tenant.slug, manager.email))
    assert client.get("/api/v1/admin/users", headers=headers).status_code == 403
    assert client.put("/api/v1/admin/modules", json={"modules": []}, headers=headers).status_code == 403


def test_api_keys(client, engine, admin_headers):
    _tenant, admin, headers = admin_headers()
    _other, _admin_b, headers_b = admin_headers()
    r = client.post("/api/v1/admin/api-keys", json={"name": "sync", "roles": ["sales"]}, headers=headers)
    assert r.status_code == 201
    key = r.get_json()
    assert key["secret"].startswith(f"mk_{key['prefix']}_") and key["created_by"] == admin.id
    listed = client.get("/api/v1/admin/api-keys", headers=headers).get_json()["items"]
    assert [k["id"] for k in listed] == [key["id"]] and "secret" not in listed[0]
    with system_session(engine) as s:  # the secret is nowhere in the database
        row = s.scalar(select(ApiKey))
        assert key["secret"] not in {row.key_hash, row.prefix, row.name}
    assert client.delete(f"/api/v1/admin/api-keys/{key['id']}", headers=headers_b).status_code == 404
    assert client.delete(f"/api/v1/admin/api-keys/{key['id']}", headers=headers).status_code == 204
    assert client.get("/api/v1/admin/api-keys", headers=headers).get_json()["items"][0]["active"] is False
    r = client.post("/api/v1/admin/api-keys", json={"name": "", "roles": ["nope"]}, headers=headers)
    assert r.status_code == 422 and {"name", "roles[0]"} <= set(r.get_json()["errors"])


def test_roles_matrix(client, admin_headers):
    _tenant, _admin, headers = admin_headers()
    body = client.get("/api/v1/admin/roles", headers=headers).get_json()
    assert body["modules"]["contacts"]["*"]["readonly"]["update"] == "none"


def test_field_permissions(client, admin_headers):
    _tenant, _admin, headers = admin_headers()
    _b, _admin_b, headers_b = admin_headers()
    rules = [{"object": "contact", "field": "salary", "role": "sales", "access": "none"},
             {"object": "account", "field": "revenue", "role": "agent", "access": "read"}]
    r = client.put("/api/v1/admin/field-permissions", json={"rules": rules}, headers=headers)
    assert r.status_code == 200 and len(r.get_json()["rules"]) == 2
    only = client.get("/api/v1/admin/field-permissions?object=contact", headers=headers).get_json()["rules"]
    assert only == [rules[0]]
    assert client.get("/api/v1/admin/field-permissions", headers=headers_b).get_json()["rules"] == []
    r = client.put("/api/v1/admin/field-permissions", json={"rules": [rules[0], rules[0]]}, headers=headers)
    assert r.status_code == 422
    r = client.put("/api/v1/admin/field-permissions",
                   json={"rules": [{**rules[0], "access": "write"}]}, headers=headers)
    assert r.status_code == 422 and "rules[0].access" in r.get_json()["errors"]
