"""A service whose database it cannot reach answers 503, never 500 (issue 7 §2), on the real
PostgreSQL and RabbitMQ: through the RPC (a typed ``ServiceUnavailable``) and through the gateway
(503 problem+json with ``Retry-After``). Two ways a database is out of reach: nothing listens on
its port, and the server refuses the connection (a database closed to connections, as "too many
clients" does). Nothing is half-written, and the service heals when the database is back."""
from __future__ import annotations

import socket
import uuid

import pytest
from sqlalchemy import text

from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db.engine import dispose_engines, make_engine
from mosaic.db.migrate import migrate_all
from mosaic.errors import ServiceUnavailable
from mosaic.localdev import checkout_database
from mosaic.rpc import RpcPool
from mosaic.runtime import gateway_app, start_service
from tests.conftest import PG_BASE, drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

OPERATOR = "operator-key-" + "x" * 24
PASSWORD = "correct horse battery"
CTX = RequestContext(tenant_id="t1", user_id="u1", roles=("admin",), modules=("contacts",))


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def allow_connections(name: str, allowed: bool) -> None:
    """Open or close database ``name`` to new connections (and end the ones it has)."""
    admin = make_engine(f"{PG_BASE}/postgres", "admin", pool_size=1)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'))
            if not allowed:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def env():
    """A vhost and a working database for the gateway (and, later, the service)."""
    vhost = fresh_vhost("mosaic_it_dbdown")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_dbdown"),
                              "MOSAIC_AMQP_URI": amqp, "MOSAIC_SECRET_KEY": "it-" + "s" * 40,
                              "MOSAIC_OPERATOR_KEY": OPERATOR, "MOSAIC_RPC_TIMEOUT": "20",
                              "MOSAIC_RATE_LIMIT": "0", "MOSAIC_KEY_RATE_LIMIT": "0"})
    migrate_all(settings)
    try:
        yield settings
    finally:
        dispose_engines()
        drop_vhost(vhost)


@pytest.fixture
def contacts(env):
    """``contacts(database_url)``: start the contacts service on that database (one at a time)."""
    started = []

    def start(database_url: str):
        container = start_service(env.with_(database_url=database_url), "contacts")
        started.append(container)
        return container

    yield start
    for container in started:
        container.stop()


@pytest.fixture
def gateway(env):
    """The gateway (on the working database) as a test client, and a tenant admin's headers."""
    app, rpc = gateway_app(env)
    client = app.test_client()
    slug = "d-" + uuid.uuid4().hex[:10]
    made = client.post("/api/v1/tenants", headers={"X-Operator-Key": OPERATOR},
                       json={"slug": slug, "name": "Down", "modules": ["contacts"],
                             "admin": {"email": f"admin@{slug}.test", "password": PASSWORD, "name": "Admin"}})
    assert made.status_code == 201, made.get_data(as_text=True)
    token = client.post("/api/v1/auth/login", json={"tenant": slug, "email": f"admin@{slug}.test",
                                                     "password": PASSWORD}).get_json()["access_token"]
    try:
        yield client, {"Authorization": f"Bearer {token}"}
    finally:
        rpc.close()


def assert_503(resp) -> dict:
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert int(resp.headers["Retry-After"]) >= 1
    body = resp.get_json()
    assert body["status"] == 503 and body["reason"] == "database_unavailable", body
    assert "Traceback" not in resp.get_data(as_text=True) and "127.0.0.1" not in body["detail"]
    return body


def test_a_database_on_a_closed_port_is_503(env, contacts, gateway):
    contacts(f"postgresql://postgres@127.0.0.1:{closed_port()}/mosaic")
    pool = RpcPool(env.amqp_uri, size=2, timeout=20)
    try:
        with pytest.raises(ServiceUnavailable) as exc:
            pool.call("contacts", "create_record", CTX.with_request("r-closed"), "contact", {"last_name": "Down"})
        assert exc.value.extra["reason"] == "database_unavailable" and exc.value.extra["retry_after"] >= 1
        with pytest.raises(ServiceUnavailable):
            pool.call("contacts", "list_records", CTX, "contact")
    finally:
        pool.close()
    client, headers = gateway
    assert_503(client.post("/api/v1/contacts", json={"last_name": "Down"}, headers=headers))
    assert_503(client.get("/api/v1/contacts", headers=headers))


def test_a_database_refusing_connections_is_503_and_heals(env, contacts, gateway):
    url = fresh_database("mosaic_it_dbdown_refusing")
    migrate_all(env.with_(database_url=url))
    contacts(url)
    client, headers = gateway
    key = {"Idempotency-Key": "refused-" + uuid.uuid4().hex, **headers}
    assert client.post("/api/v1/contacts", json={"last_name": "First"}, headers=headers).status_code == 201
    name = checkout_database("mosaic_it_dbdown_refusing")
    allow_connections(name, False)  # the pooled connections are ended too
    try:
        assert_503(client.post("/api/v1/contacts", json={"last_name": "Refused"}, headers=key))
        assert_503(client.get("/api/v1/contacts", headers=headers))
    finally:
        allow_connections(name, True)
    # the service heals by itself; the refused write was not applied, its retry applies it once
    assert client.post("/api/v1/contacts", json={"last_name": "Refused"}, headers=key).status_code == 201
    assert client.post("/api/v1/contacts", json={"last_name": "Refused"}, headers=key).status_code == 201  # replay
    names = [c["last_name"] for c in client.get("/api/v1/contacts", headers=headers).get_json()["items"]]
    assert sorted(names) == ["First", "Refused"]


def test_a_connection_lost_under_a_statement_is_503_and_a_statement_error_is_not(env):
    engine = make_engine(env.database_url, "contacts", pool_size=2)
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(ServiceUnavailable) as exc:
                conn.execute(text("SELECT 1"))
            assert exc.value.extra["reason"] == "database_unavailable"
        with engine.connect() as conn:  # the pool let the dead connection go
            assert conn.execute(text("SELECT 1")).scalar() == 1
            with pytest.raises(Exception) as bad:
                conn.execute(text("SELECT 1 / 0"))
            assert not isinstance(bad.value, ServiceUnavailable)
    finally:
        engine.dispose()


def test_too_many_connections_is_503(env):
    """The server's "too many connections" (SQLSTATE 53300, as for max_connections), made small:
    a role allowed one connection, asked for a second."""
    role = checkout_database("mosaic_it_one_conn")
    admin = make_engine(f"{PG_BASE}/postgres", "admin", pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1'))
    engine = make_engine(env.database_url.replace("postgres@", f"{role}@", 1), "contacts", pool_size=2)
    try:
        with engine.connect() as first:
            assert first.execute(text("SELECT 1")).scalar() == 1
            with pytest.raises(ServiceUnavailable) as exc:
                engine.connect()
            assert exc.value.extra["reason"] == "database_unavailable"
            assert "too many connections" in str(exc.value.__cause__)
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role})
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_the_gateways_own_database_out_of_reach_is_503(env):
    app, rpc = gateway_app(env.with_(database_url=f"postgresql://postgres@127.0.0.1:{closed_port()}/mosaic"))
    try:
        client = app.test_client()
        assert_503(client.post("/api/v1/auth/login", json={"tenant": "acme", "email": "a@acme.test",
                                                          "password": PASSWORD}))
        assert_503(client.post("/api/v1/tenants", headers={"X-Operator-Key": OPERATOR},
                               json={"slug": "acme", "name": "Acme", "modules": ["contacts"],
                                     "admin": {"email": "a@acme.test", "password": PASSWORD, "name": "A"}}))
    finally:
        rpc.close()
