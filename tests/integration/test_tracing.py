"""One HTTP request is one trace: gateway → RPC client → service → database, with the trace
context crossing the broker in the AMQP headers (nameko context data)."""
from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mosaic.config import load_settings
from mosaic.db import get_engine, system_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate_all
from mosaic.rpc import RpcPool
from mosaic.runtime import start_service
from mosaic.telemetry import reset_telemetry, setup_telemetry
from mosaic_gateway import identity
from mosaic_gateway.app import create_app

PASSWORD = "a long enough password"


@pytest.fixture
def traced_stack(tmp_path, memory_broker):
    reset_telemetry()
    exporter = InMemorySpanExporter()
    settings = load_settings({"MOSAIC_DATA_DIR": str(tmp_path), "MOSAIC_SECRET_KEY": "trace-test"})
    setup_telemetry(settings, "mosaic", exporter=exporter)
    migrate_all(settings)
    with system_session(get_engine(settings, "gateway")) as session:
        identity.create_tenant(session, "traced", "Traced", "admin@traced.test", PASSWORD)
        session.commit()
    container = start_service(settings, "contacts")
    rpc = RpcPool(settings.amqp_uri, size=4, timeout=10)
    app = create_app(settings, rpc)
    try:
        yield app.test_client(), exporter
    finally:
        rpc.close()
        container.stop()
        dispose_engines()
        reset_telemetry()


def test_one_request_is_one_trace_across_gateway_rpc_service_and_db(traced_stack):
    client, exporter = traced_stack
    token = client.post("/api/v1/auth/login", json={"tenant": "traced", "email": "admin@traced.test",
                                                    "password": PASSWORD}).get_json()["access_token"]
    created = client.post("/api/v1/contacts", json={"last_name": "Traced"},
                          headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.get_data(as_text=True)
    exporter.clear()

    resp = client.get(f"/api/v1/contacts/{created.get_json()['id']}", headers={"Authorization": f"Bearer {token}",
                      "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    assert resp.status_code == 200

    spans = exporter.get_finished_spans()
    server = next(s for s in spans if s.name.startswith("GET /api/v1/"))
    client_span = next(
        s for s in spans if s.name == "rpc contacts.get_record" and s.kind.name == "CLIENT")
    service_span = next(s for s in spans if s.name == "rpc contacts.get_record" and s.kind.name == "SERVER")
    db_spans = [s for s in spans if s.name.startswith("db SELECT") and s.context.trace_id == server.context.trace_id]

    trace_id = 0x0af7651916cd43dd8448eb211c80319c  # the caller's trace continues through every hop
    assert {server.context.trace_id, client_span.context.trace_id, service_span.context.trace_id} == {trace_id}
    assert server.parent.span_id == 0xb7ad6b7169203331
    assert client_span.parent.span_id == server.context.span_id
    assert service_span.parent.span_id == client_span.context.span_id
    assert any(s.parent.span_id == service_span.context.span_id for s in db_spans)
    assert any("contacts" in s.attributes.get("db.statement", "") for s in db_spans)
