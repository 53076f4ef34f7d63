"""mosaic.telemetry: spans, W3C propagation, SQLAlchemy/Flask/nameko instrumentation."""
from __future__ import annotations

import json
import re

import eventlet
import flask
import pytest
from nameko.containers import ServiceContainer
from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from mosaic import telemetry
from mosaic.config import Settings
from mosaic.errors import NotFound

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
REMOTE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REMOTE_SPAN_ID = "00f067aa0ba902b7"
REMOTE_PARENT = f"00-{REMOTE_TRACE_ID}-{REMOTE_SPAN_ID}-01"


def make_settings(**overrides) -> Settings:
    """Settings for telemetry tests; distributed unless overridden."""
    values = {"mode": "distributed", "otel_exporter": "none"}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def fresh():
    """No provider before the test; the test's provider is shut down after it."""
    telemetry.reset_telemetry()
    yield
    telemetry.reset_telemetry()


@pytest.fixture
def spans(fresh):
    """An in-memory exporter on a freshly set-up provider for service ``contacts``."""
    exporter = InMemorySpanExporter()
    telemetry.setup_telemetry(make_settings(), "contacts", exporter=exporter)
    return exporter


def by_name(exporter: InMemorySpanExporter) -> dict:
    return {s.name: s for s in exporter.get_finished_spans()}


# -- setup ----------------------------------------------------------------------------------------

def test_setup_is_idempotent_and_keeps_the_first_provider(fresh):
    first, second = InMemorySpanExporter(), InMemorySpanExporter()
    provider = telemetry.setup_telemetry(make_settings(mode="embedded"), "gateway", exporter=first)
    again = telemetry.setup_telemetry(make_settings(mode="embedded"), "contacts", exporter=second)
    assert again is provider
    with telemetry.span("work"):
        pass
    # both exporters hang off the one provider; the resource names the whole embedded process
    for exporter in (first, second):
        (finished,) = exporter.get_finished_spans()
        assert finished.resource.attributes["service.name"] == "mosaic"
        assert finished.attributes[telemetry.SERVICE_ATTRIBUTE] == "gateway"


def test_distributed_resource_is_the_service_name(spans):
    with telemetry.span("work"):
        pass
    (finished,) = spans.get_finished_spans()
    assert finished.resource.attributes["service.name"] == "contacts"


def test_console_exporter_writes_one_json_line_per_span_to_stderr(fresh, capsys):
    telemetry.setup_telemetry(make_settings(otel_exporter="console"), "contacts")
    with telemetry.span("visible", attributes={"answer": 42}):
        pass
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    record = json.loads(err[0])
    assert record["name"] == "visible"
    assert record["attributes"]["answer"] == 42


def test_otlp_to_a_closed_port_does_not_fail_the_caller(fresh):
    provider = telemetry.setup_telemetry(
        make_settings(otel_exporter="otlp", otlp_endpoint="http://127.0.0.1:9"), "contacts")
    with telemetry.span("dropped") as current:
        assert current.is_recording()
    provider.force_flush(timeout_millis=2000)  # export fails in the background, nothing raises


def test_unknown_exporter_is_refused(fresh):
    with pytest.raises(ValueError, match="otlp, console or none"):
        telemetry.setup_telemetry(make_settings(otel_exporter="zipkin"), "contacts")


def test_otlp_endpoint_gets_the_traces_path():
    assert telemetry._otlp_endpoint("http://jaeger:4318") == "http://jaeger:4318/v1/traces"
    assert telemetry._otlp_endpoint("http://c:4318/v1/traces/") == "http://c:4318/v1/traces"


# -- span and propagation -------------------------------------------------------------------------

def test_nested_spans_chain_and_carry_kind_and_attributes(spans):
    with telemetry.span("outer", attributes={"k": "v"}) as outer:
        assert trace.get_current_span() is outer
        with telemetry.span("inner", kind="producer"):
            pass
    found = by_name(spans)
    assert found["inner"].parent.span_id == found["outer"].context.span_id
    assert found["inner"].kind is SpanKind.PRODUCER
    assert found["outer"].attributes["k"] == "v"
    assert found["outer"].parent is None


def test_span_with_traceparent_continues_the_remote_trace(spans):
    with telemetry.span("local"):
        with telemetry.span("continued", traceparent=REMOTE_PARENT, kind="consumer"):
            pass
    continued = by_name(spans)["continued"]
    assert format(continued.context.trace_id, "032x") == REMOTE_TRACE_ID
    assert format(continued.parent.span_id, "016x") == REMOTE_SPAN_ID
    assert continued.parent.is_remote


def test_span_records_the_exception_and_reraises(spans):
    with pytest.raises(RuntimeError):
        with telemetry.span("boom"):
            raise RuntimeError("broken")
    boom = by_name(spans)["boom"]
    assert boom.status.status_code is StatusCode.ERROR
    assert boom.events[0].name == "exception"
    assert boom.events[0].attributes["exception.message"] == "broken"


def test_span_refuses_an_unknown_kind(spans):
    with pytest.raises(ValueError, match="kind"):
        with telemetry.span("x", kind="sideways"):
            pass


def test_current_traceparent_and_inject_headers(spans):
    assert telemetry.current_traceparent() is None
    with telemetry.span("carrier") as current:
        traceparent = telemetry.current_traceparent()
        headers = telemetry.inject_headers({"content-type": "application/json"})
    assert TRACEPARENT.match(traceparent)
    assert traceparent.split("-")[2] == format(current.get_span_context().span_id, "016x")
    assert headers == {"content-type": "application/json", "traceparent": traceparent}


def test_green_threads_keep_their_own_current_span(spans):
    def work(name):
        with telemetry.span(f"outer-{name}") as outer:
            eventlet.sleep(0)  # let the other green thread open its span meanwhile
            assert trace.get_current_span() is outer
            with telemetry.span(f"inner-{name}"):
                eventlet.sleep(0)
            return telemetry.current_traceparent()

    threads = [eventlet.spawn(work, name) for name in ("a", "b")]
    parents = [t.wait() for t in threads]
    found = by_name(spans)
    for name, traceparent in zip(("a", "b"), parents):
        outer, inner = found[f"outer-{name}"], found[f"inner-{name}"]
        assert inner.parent.span_id == outer.context.span_id
        assert traceparent.split("-")[2] == format(outer.context.span_id, "016x")
    assert found["outer-a"].context.trace_id != found["outer-b"].context.trace_id


# -- SQLAlchemy -----------------------------------------------------------------------------------

def test_engine_statements_become_client_spans_under_the_current_span(spans):
    engine = create_engine("sqlite://")
    telemetry.instrument_engine(engine)
    telemetry.instrument_engine(engine)  # idempotent: still one span per statement
    long_literal = "x" * 3000
    with telemetry.span("request"):
        with engine.connect() as conn:
            conn.execute(text(f"SELECT '{long_literal}'"))
    db_spans = [s for s in spans.get_finished_spans() if s.name.startswith("db ")]
    assert [s.name for s in db_spans] == ["db SELECT"]
    (db,) = db_spans
    assert db.kind is SpanKind.CLIENT
    assert db.attributes["db.system"] == "sqlite"
    assert len(db.attributes["db.statement"]) == telemetry.MAX_STATEMENT
    assert db.parent.span_id == by_name(spans)["request"].context.span_id


def test_failed_statement_span_has_error_status(spans):
    engine = create_engine("sqlite://")
    telemetry.instrument_engine(engine)
    with engine.connect() as conn, pytest.raises(OperationalError):
        conn.execute(text("INSERT INTO missing VALUES (1)"))
    (db,) = spans.get_finished_spans()
    assert db.name == "db INSERT"
    assert db.status.status_code is StatusCode.ERROR


def test_statements_build_no_span_when_nothing_records(fresh, monkeypatch):
    # Without an exporter the provider samples nothing: a statement's span would be built and
    # dropped on every execution, so none is started; the trace context still propagates.
    telemetry.setup_telemetry(make_settings(), "contacts")
    started, start_span = [], telemetry._state.tracer.start_span

    def counting(name, *args, **kwargs):
        started.append(name)
        return start_span(name, *args, **kwargs)

    monkeypatch.setattr(telemetry._state.tracer, "start_span", counting)
    engine = create_engine("sqlite://")
    telemetry.instrument_engine(engine)
    with telemetry.span("request"):
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    assert [name for name in started if name.startswith("db ")] == []


# -- Flask ----------------------------------------------------------------------------------------

def make_app(**config) -> flask.Flask:
    """A small app with an ok, a failing, a client-error and a trace-echo route."""
    app = flask.Flask("traced")
    app.config.update(config)

    @app.get("/items/<int:item_id>")
    def item(item_id):
        return {"id": item_id, "traceparent": telemetry.current_traceparent()}

    @app.get("/fail")
    def fail():
        raise RuntimeError("view failed")

    telemetry.instrument_flask(app)
    telemetry.instrument_flask(app)  # idempotent
    return app


def test_flask_request_span_continues_the_incoming_traceparent(spans):
    client = make_app().test_client()
    response = client.get("/items/7", headers={"traceparent": REMOTE_PARENT})
    (server,) = spans.get_finished_spans()
    assert server.name == "GET /items/<int:item_id>"
    assert server.kind is SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == REMOTE_TRACE_ID
    assert format(server.parent.span_id, "016x") == REMOTE_SPAN_ID
    assert server.attributes["http.route"] == "/items/<int:item_id>"
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes[telemetry.SERVICE_ATTRIBUTE] == "gateway"
    # the view ran inside the server span
    assert response.get_json()["traceparent"].split("-")[2] == format(server.context.span_id, "016x")
    assert telemetry.current_traceparent() is None  # detached after the request


def test_flask_request_without_traceparent_is_a_root_span(spans):
    client = make_app().test_client()
    with telemetry.span("test-body"):
        client.get("/items/1")
    server = by_name(spans)["GET /items/<int:item_id>"]
    assert server.parent is None


def test_flask_unhandled_error_marks_the_span(spans):
    client = make_app(PROPAGATE_EXCEPTIONS=False).test_client()
    assert client.get("/fail").status_code == 500
    (server,) = spans.get_finished_spans()
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["http.response.status_code"] == 500
    assert any(e.attributes.get("exception.message") == "view failed" for e in server.events)


def test_flask_unmatched_route_is_named_by_method_only(spans):
    assert make_app().test_client().post("/nowhere").status_code == 404
    (server,) = spans.get_finished_spans()
    assert server.name == "POST"
    assert server.attributes["http.response.status_code"] == 404
    assert server.status.status_code is not StatusCode.ERROR


def test_flask_request_carries_the_trace_context_on_when_nothing_records(fresh):
    telemetry.setup_telemetry(make_settings(), "gateway")  # exporter none: sampled out
    assert not telemetry.recording()
    client = make_app().test_client()
    continued = client.get("/items/7", headers={"traceparent": REMOTE_PARENT}).get_json()["traceparent"]
    assert TRACEPARENT.match(continued) and continued.split("-")[1] == REMOTE_TRACE_ID
    assert continued.split("-")[2] != REMOTE_SPAN_ID  # the gateway's own (unrecorded) span
    fresh_one = client.get("/items/8").get_json()["traceparent"]
    assert TRACEPARENT.match(fresh_one) and fresh_one.split("-")[1] != REMOTE_TRACE_ID
    assert client.get("/items/9").get_json()["traceparent"].split("-")[1] != fresh_one.split("-")[1]
    assert telemetry.current_traceparent() is None  # detached after each request


# -- nameko ---------------------------------------------------------------------------------------

class ContextData(DependencyProvider):
    """Hands the worker its live context data, to see what nested calls would propagate."""

    def get_dependency(self, worker_ctx):
        return worker_ctx.data


class TracedService:
    name = "tracedsvc"
    tracing = telemetry.Tracing()
    data = ContextData()

    @rpc
    def echo(self):
        with telemetry.span("inside"):
            pass
        return {"propagated": self.data.get("traceparent"),
                "current": telemetry.current_traceparent(), "service": telemetry.current_service()}

    @rpc
    def missing(self):
        raise NotFound("no such record")

    @rpc
    def broken(self):
        raise RuntimeError("service failed")

    @event_handler("contacts", "contact.created")
    def on_created(self, payload):
        return None


def make_container() -> ServiceContainer:
    """An unstarted container: entrypoint_hook runs workers without a broker."""
    return ServiceContainer(TracedService, config={"AMQP_URI": "memory://"})


def test_tracing_starts_a_server_span_under_the_callers_traceparent(spans):
    container = make_container()
    with entrypoint_hook(container, "echo", context_data={"traceparent": REMOTE_PARENT}) as echo:
        result = echo()
    found = by_name(spans)
    server = found["rpc tracedsvc.echo"]
    assert server.kind is SpanKind.SERVER
    assert format(server.parent.span_id, "016x") == REMOTE_SPAN_ID
    assert format(server.context.trace_id, "032x") == REMOTE_TRACE_ID
    assert server.attributes[telemetry.SERVICE_ATTRIBUTE] == "tracedsvc"
    assert found["inside"].parent.span_id == server.context.span_id
    # nested calls would carry the worker span, not the caller's
    own = format(server.context.span_id, "016x")
    assert result["propagated"].split("-")[2] == own
    assert result["current"].split("-")[2] == own


def test_tracing_carries_the_callers_trace_context_on_when_nothing_records(fresh):
    telemetry.setup_telemetry(make_settings(), "tracedsvc")  # exporter none: sampled out
    container = make_container()
    with entrypoint_hook(container, "echo", context_data={"traceparent": REMOTE_PARENT}) as echo:
        result = echo()
    # the caller's span stays current: its calls, events and log lines carry the caller's trace
    assert result == {"propagated": REMOTE_PARENT, "current": REMOTE_PARENT, "service": "tracedsvc"}
    with entrypoint_hook(container, "echo") as echo:  # no caller's trace (a timer): a trace of its own
        alone = echo()
    assert TRACEPARENT.match(alone["current"]) and alone["propagated"] == alone["current"]
    assert telemetry.current_traceparent() is None  # detached after each worker


def test_tracing_records_server_errors_but_not_client_errors(spans):
    container = make_container()
    with entrypoint_hook(container, "broken") as broken, pytest.raises(RuntimeError):
        broken()
    with entrypoint_hook(container, "missing") as missing, pytest.raises(NotFound):
        missing()
    found = by_name(spans)
    assert found["rpc tracedsvc.broken"].status.status_code is StatusCode.ERROR
    client_error = found["rpc tracedsvc.missing"]
    assert client_error.status.status_code is not StatusCode.ERROR
    assert client_error.attributes["error.type"] == "NotFound"
    assert client_error.events[0].name == "exception"


def test_tracing_names_event_handlers_as_consumers(spans):
    container = make_container()
    with entrypoint_hook(container, "on_created") as handle:
        handle({"id": "1"})
    (consumer,) = spans.get_finished_spans()
    assert consumer.name == "event tracedsvc.on_created"
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is None


def test_concurrent_workers_keep_separate_traces(spans):
    other_trace = "1" * 32
    parents = (REMOTE_PARENT, f"00-{other_trace}-{'2' * 16}-01")

    def call(parent):
        # one container per call: entrypoint_hook's waiter takes the first result of its container
        with entrypoint_hook(make_container(), "echo", context_data={"traceparent": parent}) as echo:
            return echo()

    results = [t.wait() for t in [eventlet.spawn(call, p) for p in parents]]
    assert [r["current"].split("-")[1] for r in results] == [REMOTE_TRACE_ID, other_trace]
    finished = spans.get_finished_spans()
    servers = {s.context.span_id: s for s in finished if s.name == "rpc tracedsvc.echo"}
    insides = [s for s in finished if s.name == "inside"]
    assert len(servers) == len(insides) == 2
    for inside in insides:
        # each nested span sits under the worker span of its own trace
        assert servers[inside.parent.span_id].context.trace_id == inside.context.trace_id
