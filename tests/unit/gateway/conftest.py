"""Fixtures for the gateway identity tests: a tiny Flask app with the identity blueprints, a
SQLite gateway database per test, and factories with overrides."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from flask import Flask, jsonify

from mosaic.config import Settings
from mosaic.db import get_engine, system_session, tenant_session
from mosaic.errors import MosaicError
from mosaic_gateway import auth, identity, routes_admin, routes_auth
from mosaic_gateway.models import create_tables

OPERATOR_KEY = "operator-key-for-tests"
PASSWORD = "correct horse battery"
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _more_modules(more_modules):
    """Tenants here may enable modules beyond the installed ones (tests.conftest.more_modules)."""


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch):
    """argon2id with tiny costs: same algorithm, milliseconds instead of ~100 ms per hash."""
    monkeypatch.setattr(identity, "HASHER", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    identity._dummy_hash.cache_clear()
    yield
    identity._dummy_hash.cache_clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded-mode settings with a fresh data dir; limits off unless a test sets them."""
    return Settings(mode="embedded", data_dir=tmp_path, secret_key="s" * 48, operator_key=OPERATOR_KEY,
                    rate_limit=0, key_rate_limit=0, access_ttl=900, refresh_ttl=3600)


@pytest.fixture
def engine(settings):
    """The gateway engine of ``settings`` with its tables."""
    eng = get_engine(settings, "gateway")
    create_tables(eng)
    yield eng
    eng.dispose()


def _problem(err: MosaicError):
    response = jsonify(err.to_problem())
    response.status_code = err.status
    response.mimetype = "application/problem+json"
    if "retry_after" in err.extra:
        response.headers["Retry-After"] = str(err.extra["retry_after"])
    return response


class ServicesStandIn:
    """The services as a gateway app without them sees them over RPC: it records the calls it is
    given (``(service, method, ctx, *args)``) and answers each, or fails the services in ``down``
    as a broken broker or a stopped service would (ServiceUnavailable)."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.down: set[str] = set()

    def call(self, service, method, ctx, *args):
        from mosaic.errors import ServiceUnavailable

        self.calls.append((service, method, ctx, *args))
        if service in self.down:
            raise ServiceUnavailable(f"the {service} service is not running")
        return {"service": service}

    def call_many(self, calls, ctx):
        out = []
        for service, method, *args in calls:
            try:
                out.append(self.call(service, method, ctx, *args))
            except MosaicError as exc:
                out.append(exc)
        return out


@pytest.fixture
def services_rpc():
    """What the test apps' ``rpc`` is: :class:`ServicesStandIn`."""
    return ServicesStandIn()


@pytest.fixture
def make_app(settings, engine, services_rpc):
    """``make_app(**setting_overrides, blueprints=(), cache_ttl=0)``: a Flask app wired like the
    gateway (identity blueprints, auth.init_app, problem+json errors). The cache is off by
    default so a test sees every change at once; tests of the cache turn it on."""
    def factory(blueprints=(), cache_ttl: float = 0.0, **overrides) -> Flask:
        app = Flask(f"gateway-test-{next(_seq)}")
        app.config["TESTING"] = True
        app.register_blueprint(routes_auth.bp)
        app.register_blueprint(routes_admin.bp)
        for blueprint in blueprints:
            app.register_blueprint(blueprint)
        auth.init_app(app, settings.with_(**overrides), cache_ttl=cache_ttl)
        app.extensions["mosaic"]["rpc"] = services_rpc
        app.register_error_handler(MosaicError, _problem)
        return app
    return factory


@pytest.fixture
def app(make_app):
    """The default test app."""
    return make_app()


@pytest.fixture
def client(app):
    """A test client of the default app."""
    return app.test_client()


@pytest.fixture
def make_tenant(engine):
    """``make_tenant(slug=..., modules=..., **overrides)`` -> (tenant, admin user); the admin's
    password is ``PASSWORD`` and email ``admin@<slug>.test`` unless overridden."""
    def factory(slug: str | None = None, **overrides):
        slug = f"tenant-{next(_seq)}" if slug is None else slug
        args = {"name": slug.title(), "admin_email": f"admin@{slug}.test", "admin_password": PASSWORD,
                "modules": ("contacts",)}
        args.update(overrides)
        args["name"] = args["name"] or "Tenant"
        with system_session(engine) as session:
            tenant, admin = identity.create_tenant(session, slug, **args)
            session.commit()
        return tenant, admin
    return factory


@pytest.fixture
def make_user(engine):
    """``make_user(tenant, roles=..., email=..., password=...)`` -> user of that tenant."""
    def factory(tenant, **overrides):
        args = {"email": f"user{next(_seq)}@{tenant.slug}.test", "password": PASSWORD, "name": "Some User",
                "roles": ("sales",)}
        args.update(overrides)
        with tenant_session(engine, tenant.id) as session:
            user = identity.create_user(session, **args)
            session.commit()
        return user
    return factory


def _login(client, tenant_slug: str, email: str, password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/login", json={"tenant": tenant_slug, "email": email,
                                                       "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def login(client):
    """``login(slug, email, password=PASSWORD, client=None)`` -> token response (asserted 200)."""
    return lambda slug, email, password=PASSWORD, client=client: _login(client, slug, email, password)


@pytest.fixture
def bearer():
    """``bearer(tokens)`` -> the Authorization header of a token response."""
    return _bearer


@pytest.fixture
def admin_headers(client, make_tenant):
    """``admin_headers(slug=None)`` -> (tenant, admin, headers) of a fresh tenant's admin."""
    def factory(slug: str | None = None, **overrides):
        tenant, admin = make_tenant(slug, **overrides)
        return tenant, admin, _bearer(_login(client, tenant.slug, admin.email))
    return factory
