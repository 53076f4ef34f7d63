"""The gateway's identity layer on the real PostgreSQL server (database ``mosaic_test_d``,
schema ``mosaic_gateway``): JSONB columns, aware timestamps, unique constraints, and the HTTP flows
that depend on them."""
from __future__ import annotations

import itertools

import pytest
from argon2 import PasswordHasher
from flask import Flask, jsonify
from sqlalchemy import text

from mosaic.config import Settings
from mosaic.db import get_engine, system_session, tenant_session
from mosaic.errors import Conflict, MosaicError, Unauthorized
from mosaic.localdev import ensure_database, checkout_database
from mosaic_gateway import auth, identity, routes_admin, routes_auth, tokens
from mosaic_gateway.models import User, create_tables
from tests.unit.gateway.conftest import ServicesStandIn

pytestmark = pytest.mark.postgres

DB = checkout_database("mosaic_test_d")
PASSWORD = "correct horse battery"
OPERATOR = {"X-Operator-Key": "pg-operator-key-0123"}
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def settings() -> Settings:
    ensure_database(DB, "postgresql://postgres@127.0.0.1:5432")
    return Settings(mode="distributed", database_url=f"postgresql://postgres@127.0.0.1:5432/{DB}",
                    secret_key="p" * 48, operator_key="pg-operator-key-0123", rate_limit=0, key_rate_limit=0)


@pytest.fixture
def engine(settings, monkeypatch):
    monkeypatch.setattr(identity, "HASHER", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    identity._dummy_hash.cache_clear()
    eng = get_engine(settings, "gateway")
    with eng.begin() as conn:
        conn.execute(text('DROP SCHEMA IF EXISTS "mosaic_gateway" CASCADE'))
    create_tables(eng)
    yield eng
    identity._dummy_hash.cache_clear()


@pytest.fixture
def client(settings, engine):
    app = Flask(f"gateway-pg-{next(_seq)}")
    app.config["TESTING"] = True
    app.register_blueprint(routes_auth.bp)
    app.register_blueprint(routes_admin.bp)
    auth.init_app(app, settings, cache_ttl=0)
    app.extensions["mosaic"]["rpc"] = ServicesStandIn()  # the users' pushes to services (user_sync)

    @app.errorhandler(MosaicError)
    def _problem(err):
        response = jsonify(err.to_problem())
        response.status_code = err.status
        return response

    return app.test_client()


def make_tenant(engine, slug=None, **overrides):
    slug = slug or f"pg-{next(_seq)}"
    args = {"name": slug, "admin_email": f"admin@{slug}.test", "admin_password": PASSWORD}
    args.update(overrides)
    with system_session(engine) as s:
        tenant, admin = identity.create_tenant(s, slug, **args)
        s.commit()
    return tenant, admin


def test_tables_live_in_the_gateway_schema(engine):
    with engine.connect() as conn:
        tables = set(conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mosaic_gateway'")).scalars())
    assert {"tenants", "users", "refresh_tokens", "api_keys", "field_permissions",
            "idempotency_records"} <= tables


def test_unique_email_per_tenant_is_enforced_by_the_database(engine):
    tenant, _ = make_tenant(engine)
    with tenant_session(engine, tenant.id) as s:
        identity.create_user(s, "a@x.test", PASSWORD)
        s.commit()
    with tenant_session(engine, tenant.id) as s:
        # Skip the pre-check to prove the constraint itself holds under a race.
        s.add(User(id="dup", email="a@x.test", password_hash="x", roles=["sales"]))
        with pytest.raises(Conflict):
            identity._flush_or_conflict(s, "duplicate")


def test_refresh_rotation_and_reuse(engine, settings):
    _tenant, admin = make_tenant(engine)
    with system_session(engine) as s:
        first = tokens.issue_refresh_token(s, admin, 3600)
        s.commit()
    with system_session(engine) as s:
        _u, _t, second = tokens.rotate_refresh_token(s, first, 3600)
        s.commit()
    with system_session(engine) as s, pytest.raises(Unauthorized):
        tokens.rotate_refresh_token(s, first, 3600)
    with system_session(engine) as s, pytest.raises(Unauthorized):
        tokens.rotate_refresh_token(s, second, 3600)


def test_http_flows(client, engine, more_modules):
    r = client.post("/api/v1/tenants", json={"slug": "acme", "name": "Acme",
                                             "admin": {"email": "boss@acme.test", "password": PASSWORD}},
                    headers=OPERATOR)
    assert r.status_code == 201
    pair = client.post("/api/v1/auth/login", json={"tenant": "acme", "email": "boss@acme.test",
                                                   "password": PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {pair['access_token']}", "Idempotency-Key": "k1"}
    body = {"email": "rep@acme.test", "password": PASSWORD, "roles": ["sales"]}
    first = client.post("/api/v1/admin/users", json=body, headers=headers)
    again = client.post("/api/v1/admin/users", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    assert client.put("/api/v1/admin/modules", json={"modules": ["contacts", "sales"]},
                      headers=headers).get_json()["modules"] == ["contacts", "sales"]

    _other, other_admin = make_tenant(engine)
    assert client.get(f"/api/v1/admin/users/{other_admin.id}", headers=headers).status_code == 404
    key = client.post("/api/v1/admin/api-keys", json={"name": "k", "roles": ["readonly"]},
                      headers={**headers, "Idempotency-Key": "k2"}).get_json()  # k1 named the user
    me = client.get("/api/v1/me", headers={"X-API-Key": key["secret"]}).get_json()
    assert me["roles"] == ["readonly"] and me["modules"] == ["contacts", "sales"]
