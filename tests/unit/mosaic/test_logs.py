"""mosaic.logs: one JSON object per line on stdout, correlated with the current span."""
from __future__ import annotations

import json
import logging
import uuid

import flask
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mosaic import telemetry
from mosaic.config import Settings
from mosaic.logs import setup_logging


@pytest.fixture
def json_logs(capsys):
    """JSON logging for service ``contacts``; restores the root logger afterwards.

    Yields a function returning the JSON lines written to stdout since the last call.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    setup_logging("DEBUG", "contacts")
    capsys.readouterr()

    def lines() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]

    yield lines
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture
def tracing():
    """A fresh provider exporting in memory."""
    telemetry.reset_telemetry()
    exporter = InMemorySpanExporter()
    telemetry.setup_telemetry(Settings(mode="embedded"), "mosaic", exporter=exporter)
    yield exporter
    telemetry.reset_telemetry()


def test_a_record_is_one_json_line_with_the_standard_fields(json_logs):
    logging.getLogger("mosaic.test").info("hello %s", "world")
    (entry,) = json_logs()
    assert entry["msg"] == "hello world"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "mosaic.test"
    assert entry["service"] == "contacts"
    assert entry["ts"].endswith("Z") and "T" in entry["ts"]
    assert "trace_id" not in entry and "span_id" not in entry


def test_level_filters_records(json_logs):
    setup_logging("WARNING", "contacts")
    logging.getLogger("mosaic.test").info("quiet")
    logging.getLogger("mosaic.test").warning("loud")
    assert [e["msg"] for e in json_logs()] == ["loud"]


def test_setup_is_idempotent(json_logs):
    setup_logging("DEBUG", "contacts")
    setup_logging("DEBUG", "contacts")
    logging.getLogger("mosaic.test").debug("once")
    assert [e["msg"] for e in json_logs()] == ["once"]


def test_trace_and_span_ids_of_the_current_span(json_logs, tracing):
    with telemetry.span("work") as current:
        logging.getLogger("mosaic.test").info("inside")
    (entry,) = json_logs()
    context = current.get_span_context()
    assert entry["trace_id"] == format(context.trace_id, "032x")
    assert entry["span_id"] == format(context.span_id, "016x")


def test_exception_is_one_string_field_and_the_line_stays_single(json_logs):
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        logging.getLogger("mosaic.test").exception("failed")
    (entry,) = json_logs()
    assert entry["msg"] == "failed"
    assert entry["exc_info"].startswith("Traceback (most recent call last)")
    assert "ValueError: bad" in entry["exc_info"]


def test_extra_fields_are_kept_and_non_json_values_stringified(json_logs):
    record_id = uuid.uuid4()
    logging.getLogger("mosaic.test").info("created", extra={"record_id": record_id, "count": 3})
    (entry,) = json_logs()
    assert entry["record_id"] == str(record_id)
    assert entry["count"] == 3


def test_service_comes_from_the_traced_request_in_embedded_mode(json_logs, tracing):
    app = flask.Flask("logs")

    @app.get("/ping")
    def ping():
        logging.getLogger("mosaic.gateway").info("pinged")
        return {"ok": True}

    telemetry.instrument_flask(app, service="gateway")
    app.test_client().get("/ping")
    entries = [e for e in json_logs() if e["msg"] == "pinged"]
    assert [e["service"] for e in entries] == ["gateway"]
    (server,) = tracing.get_finished_spans()
    assert entries[0]["span_id"] == format(server.context.span_id, "016x")


def _worker_failure(exc: Exception) -> None:
    """Log ``exc`` the way nameko's worker runner does."""
    try:
        raise exc
    except Exception as raised:  # noqa: BLE001 - logging is what is tested
        logging.getLogger("nameko.containers").exception("error handling worker %s: %s", "<ctx>", raised)


def test_a_workers_client_error_is_one_info_line_without_traceback(json_logs):
    from mosaic.errors import ValidationFailed

    _worker_failure(ValidationFailed("bad email", errors={"email": ["invalid"]}))
    (entry,) = json_logs()
    assert entry["level"] == "INFO" and "exc_info" not in entry
    assert entry["msg"] == "client error 422 ValidationFailed: bad email"


def test_a_workers_server_error_keeps_error_and_traceback(json_logs):
    from mosaic.errors import ServiceUnavailable

    _worker_failure(ServiceUnavailable("database down"))
    _worker_failure(KeyError("bug"))
    first, second = json_logs()
    assert first["level"] == second["level"] == "ERROR"
    assert "Traceback" in first["exc_info"] and "KeyError" in second["exc_info"]


def test_a_demoted_client_error_respects_the_level(json_logs):
    from mosaic.errors import NotFound

    setup_logging("WARNING", "contacts")
    _worker_failure(NotFound("no such contact"))
    assert json_logs() == []
