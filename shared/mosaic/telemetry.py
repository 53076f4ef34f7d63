"""OpenTelemetry traces across gateway -> RPC -> service -> DB -> events.

One tracer provider per process, set up by :func:`setup_telemetry`. The embedded mode runs the
gateway and every service in one process, so the provider is created once and each later call only
registers another service name; which service a span belongs to travels in the OTel context
(``mosaic.service``) and is stamped on every span as an attribute.

Context propagation is W3C ``traceparent``: in HTTP headers at the gateway, in nameko context data
between services (:class:`Tracing` reads and rewrites ``worker_ctx.data["traceparent"]``), and in
event envelopes (:func:`inject_headers`). OTel's context is contextvars-based and greenlet gives
each green thread its own contextvars context, so concurrent eventlet workers each keep their own
current span as long as a token is attached and detached in the same green thread - every helper
here does both ends in the same green thread.
"""
from __future__ import annotations

import sys
import weakref
from contextlib import contextmanager
from typing import Iterator

from nameko.extensions import DependencyProvider
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACER_NAME = "mosaic"
#: span attribute naming the service a span belongs to (the resource says "mosaic" when embedded)
SERVICE_ATTRIBUTE = "mosaic.service"
#: longest ``db.statement`` kept on a span; statements with big IN lists would bloat every export
MAX_STATEMENT = 2000

KINDS = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}

_SERVICE_KEY = otel_context.create_key("mosaic.service")
_PROPAGATOR = TraceContextTextMapPropagator()


class _State:
    """The process's provider and what was registered on it."""

    def __init__(self, provider: TracerProvider, default_service: str, recording: bool = True):
        self.provider = provider
        self.default_service = default_service
        self.recording = recording
        # get_tracer builds a tracer (and its scope) on every call: ~50 µs a span on the relay
        self.tracer = provider.get_tracer(TRACER_NAME)
        self.exporters: list[SpanExporter] = []


_state: _State | None = None
_global_set = False


class _ServiceAttributeProcessor(SpanProcessor):
    """Stamps ``mosaic.service`` on each span from the context it starts in, so embedded-mode
    spans (one resource for the whole process) still say which service did the work."""

    def on_start(self, span, parent_context=None) -> None:
        service = otel_context.get_value(_SERVICE_KEY, parent_context)
        if service is None and _state is not None:
            service = _state.default_service
        if service and span.is_recording():
            span.set_attribute(SERVICE_ATTRIBUTE, service)


def _otlp_endpoint(base: str) -> str:
    """OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL; the span exporter wants the path."""
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def _processor_for(settings) -> SpanProcessor | None:
    """The span processor ``settings.otel_exporter`` asks for (None for ``none``)."""
    choice = (settings.otel_exporter or "none").lower()
    if choice == "otlp":
        # Imported here: the exporter pulls in requests/protobuf, not worth it when tracing is off.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Batch: an unreachable collector costs a background retry and dropped spans, never a
        # failed request. A short timeout keeps shutdown quick when the collector is gone.
        exporter = OTLPSpanExporter(endpoint=_otlp_endpoint(settings.otlp_endpoint), timeout=5)
        return BatchSpanProcessor(exporter)
    if choice == "console":
        # One compact JSON line per span on stderr: stdout carries the JSON logs.
        exporter = ConsoleSpanExporter(out=sys.stderr,
                                       formatter=lambda s: s.to_json(indent=None) + "\n")
        return SimpleSpanProcessor(exporter)
    if choice == "none":
        return None
    raise ValueError(f"MOSAIC_OTEL_EXPORTER must be otlp, console or none, not {choice!r}")


def setup_telemetry(settings, service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Create (once per process) the tracer provider and return it.

    ``exporter`` overrides ``settings.otel_exporter`` (tests pass an ``InMemorySpanExporter``; it
    gets a synchronous processor so spans are visible as soon as they end). A later call - another
    service in the embedded process, or another test - keeps the provider and only attaches its
    ``exporter``, if any; spans name their service through the ``mosaic.service`` attribute, set
    from the context :class:`Tracing` and :func:`instrument_flask` establish (else the first
    ``service_name``).
    """
    global _state, _global_set
    if _state is not None and exporter is not None and not _state.recording:
        reset_telemetry()  # tracing was off; a test now wants spans
    if _state is None:
        # With no exporter nothing would read the spans: sample none, so a request pays only for
        # propagating its trace context (which still flows to every hop), not for recording.
        recording = exporter is not None or (settings.otel_exporter or "none").lower() != "none"
        embedded = getattr(settings, "embedded", False)
        resource = Resource.create({
            "service.name": "mosaic" if embedded else service_name,
            "service.namespace": "mosaic",
        })
        provider = TracerProvider(resource=resource, sampler=None if recording else ALWAYS_OFF)
        provider.add_span_processor(_ServiceAttributeProcessor())
        processor = SimpleSpanProcessor(exporter) if exporter is not None else _processor_for(settings)
        if processor is not None:
            provider.add_span_processor(processor)
        _state = _State(provider, service_name, recording)
        if exporter is not None:
            _state.exporters.append(exporter)
        # The global provider can be set only once per process; libraries that trace through the
        # global API then land in ours. Our own spans always use _state.provider directly.
        if not _global_set:
            trace.set_tracer_provider(provider)
            _global_set = True
        return provider
    if exporter is not None and all(e is not exporter for e in _state.exporters):
        _state.provider.add_span_processor(SimpleSpanProcessor(exporter))
        _state.exporters.append(exporter)
    return _state.provider


def reset_telemetry() -> None:
    """Flush and drop the process's provider so the next :func:`setup_telemetry` starts afresh.

    For tests and orderly shutdown; the OTel *global* provider cannot be replaced, so code using
    the global API keeps the old one.
    """
    global _state
    if _state is not None:
        state, _state = _state, None
        state.provider.shutdown()


def recording() -> bool:
    """Whether this process records spans (an exporter is configured). When it does not, a span
    would only propagate its parent's trace context, so hot paths may skip their own spans."""
    return _state is not None and _state.recording


def _tracer() -> trace.Tracer:
    if _state is not None:
        return _state.tracer
    # Not set up: the API's no-op tracer still propagates an incoming traceparent.
    return trace.get_tracer(TRACER_NAME)


def context_from_traceparent(traceparent: str | None, base: otel_context.Context | None = None):
    """An OTel context whose parent span is ``traceparent`` (W3C), built on ``base`` (default the
    current context). A missing or malformed traceparent leaves ``base`` unchanged."""
    base = otel_context.get_current() if base is None else base
    if not traceparent:
        return base
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=base)


def _kind(kind: str) -> SpanKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"span kind must be one of {', '.join(KINDS)}, not {kind!r}") from None


@contextmanager
def span(name: str, *, kind: str = "internal", traceparent: str | None = None,
         attributes: dict | None = None) -> Iterator[trace.Span]:
    """Run the block inside a new current span and yield it.

    The parent is ``traceparent`` when given, else the current span. An exception escaping the
    block is recorded on the span, which gets an error status, and re-raised.
    """
    parent = context_from_traceparent(traceparent) if traceparent else None
    with _tracer().start_as_current_span(name, context=parent, kind=_kind(kind),
                                         attributes=attributes, record_exception=True,
                                         set_status_on_exception=True) as current:
        yield current


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None outside any (valid) span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def current_service() -> str | None:
    """The service the current context works for (set by :class:`Tracing` and the Flask
    instrumentation), or None outside them."""
    return otel_context.get_value(_SERVICE_KEY)


def inject_headers(headers: dict) -> dict:
    """Add the current trace context (``traceparent``, and ``tracestate`` if any) to ``headers``
    in place, and return it."""
    _PROPAGATOR.inject(headers)
    return headers


def record_exception(exc: BaseException, span_: trace.Span | None = None) -> None:
    """Record ``exc`` on ``span_`` (default: the current span). Client errors - a
    :class:`mosaic.errors.MosaicError` with a status below 500 - are noted without an error
    status, because they are the caller's fault, not a failure of the traced operation."""
    target = span_ or trace.get_current_span()
    if not target.is_recording():
        return
    target.record_exception(exc)
    status = getattr(exc, "status", 500)
    if isinstance(status, int) and status < 500:
        target.set_attribute("error.type", type(exc).__name__)
    else:
        target.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500]))


# -- SQLAlchemy ---------------------------------------------------------------------------------

def _before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
    if _state is not None and not _state.recording:
        return  # sampling is off (no exporter): a span per statement would be built and dropped
    verb = (statement.split(None, 1) or ["SQL"])[0].upper()
    db_span = _tracer().start_span(
        f"db {verb}", kind=SpanKind.CLIENT,
        attributes={
            "db.system": conn.engine.dialect.name,
            "db.statement": statement[:MAX_STATEMENT],
            "db.operation": verb,
        },
    )
    if context is not None:
        context._mosaic_span = db_span


def _after_cursor_execute(conn, cursor, statement, parameters, context, executemany):
    db_span = getattr(context, "_mosaic_span", None)
    if db_span is not None:
        if cursor is not None and getattr(cursor, "rowcount", -1) >= 0:
            db_span.set_attribute("db.rowcount", cursor.rowcount)
        db_span.end()
        context._mosaic_span = None


def _handle_error(exception_context):
    context = exception_context.execution_context
    db_span = getattr(context, "_mosaic_span", None)
    if db_span is not None:
        exc = exception_context.original_exception
        db_span.record_exception(exc)
        db_span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500]))
        db_span.end()
        context._mosaic_span = None


def instrument_engine(engine) -> None:
    """Trace every statement ``engine`` runs as a client span ``db <VERB>`` (idempotent).

    The DB span is not made current: nothing runs inside it, and not attaching means no context
    token can outlive a cursor call in another green thread.
    """
    from sqlalchemy import event

    if event.contains(engine, "before_cursor_execute", _before_cursor_execute):
        return
    event.listen(engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(engine, "handle_error", _handle_error)


# -- Flask --------------------------------------------------------------------------------------

def _http_attributes(req, rule: str | None) -> dict:
    """The OTel HTTP attributes of a request's server span (only built when spans are recorded)."""
    attributes = {
        "http.request.method": req.method,
        "url.path": req.path,
        "url.scheme": req.scheme,
        "server.address": req.host,
    }
    if rule:
        attributes["http.route"] = rule
    if req.remote_addr:
        attributes["client.address"] = req.remote_addr
    if req.user_agent.string:
        attributes["user_agent.original"] = req.user_agent.string
    return attributes


def instrument_flask(app, service: str = "gateway") -> None:
    """Give every request of ``app`` a current server span (idempotent).

    The parent is the request's ``traceparent`` header, else the span is a new root. It is named
    ``<METHOD> <url rule>`` (just ``<METHOD>`` when no route matched, so 404 probes do not explode
    the span-name cardinality) and carries the OTel HTTP attributes and the response status.
    """
    import flask

    if app.extensions.get("mosaic_telemetry"):
        return
    app.extensions["mosaic_telemetry"] = True

    def start_span():
        req = flask.request
        parent = context_from_traceparent(req.headers.get("traceparent"), otel_context.Context())
        parent = otel_context.set_value(_SERVICE_KEY, service, parent)
        if recording():
            rule = req.url_rule.rule if req.url_rule is not None else None
            name, attributes = (f"{req.method} {rule}" if rule else req.method), _http_attributes(req, rule)
        else:  # sampled out: the span only carries the trace context on, nobody reads its name
            name, attributes = "HTTP", None
        server_span = _tracer().start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(server_span, parent))
        flask.g._mosaic_trace = (server_span, token)

    def set_status(response):
        state = getattr(flask.g, "_mosaic_trace", None)
        if state is not None and state[0].is_recording():
            state[0].set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                state[0].set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
        return response

    def on_exception(sender, exception, **extra):
        state = getattr(flask.g, "_mosaic_trace", None)
        if state is not None:
            record_exception(exception, state[0])

    def end_span(exc):
        state = flask.g.pop("_mosaic_trace", None)
        if state is None:
            return
        server_span, token = state
        if exc is not None:
            record_exception(exc, server_span)
        server_span.end()
        # teardown_request runs in the request's green thread, the one that attached.
        otel_context.detach(token)

    # First in line, so the span covers the gateway's own before_request hooks (auth, limits).
    app.before_request_funcs.setdefault(None, []).insert(0, start_span)
    app.after_request(set_status)
    app.teardown_request(end_span)
    flask.got_request_exception.connect(on_exception, app, weak=False)


# -- nameko -------------------------------------------------------------------------------------

class Tracing(DependencyProvider):
    """Traces each worker of a nameko service.

    ``worker_setup`` starts a span parented on ``worker_ctx.data["traceparent"]``, makes it current
    for the worker's green thread and writes its own traceparent back into the context data, so
    RPC calls and events the worker makes chain under it. RPC entrypoints give a server span
    ``rpc <service>.<method>``; message consumers (event handlers) a consumer span
    ``event <service>.<method>``; anything else (timers) an internal ``task <service>.<method>``.

    When the process records no spans (no exporter), a worker called with a trace context makes
    the caller's span current instead of starting one: the context flows on unchanged to its
    calls, events and log lines, for none of the cost of a span nobody reads.
    """

    def __init__(self):
        # Keyed by worker context; weak so a worker that died in setup leaks nothing.
        self._active: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @staticmethod
    def _describe(entrypoint) -> tuple[str, SpanKind]:
        from nameko.messaging import Consumer
        from nameko.rpc import Rpc

        if isinstance(entrypoint, Rpc):
            return "rpc", SpanKind.SERVER
        if isinstance(entrypoint, Consumer):  # nameko's event_handler and our DomainEvents
            return "event", SpanKind.CONSUMER
        return "task", SpanKind.INTERNAL

    def worker_setup(self, worker_ctx):
        """Start the worker's span and make it current (see the class docstring)."""
        service = worker_ctx.service_name
        parent = context_from_traceparent(worker_ctx.data.get("traceparent"), otel_context.Context())
        parent = otel_context.set_value(_SERVICE_KEY, service, parent)
        if not recording() and trace.get_current_span(parent).get_span_context().is_valid:
            # Sampled out, a span of the worker's own would only carry the caller's trace context
            # on, and the caller's span (already in the context data) carries it as well.
            self._active[worker_ctx] = (None, otel_context.attach(parent))
            return
        method = worker_ctx.entrypoint.method_name
        prefix, kind = self._describe(worker_ctx.entrypoint)
        attributes = {"rpc.system": "nameko", "rpc.service": service, "rpc.method": method,
                      "mosaic.call_id": worker_ctx.call_id}
        tenant = worker_ctx.data.get("tenant_id")
        if tenant:
            attributes["mosaic.tenant_id"] = tenant
        worker_span = _tracer().start_span(f"{prefix} {service}.{method}", context=parent,
                                           kind=kind, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(worker_span, parent))
        self._active[worker_ctx] = (worker_span, token)
        traceparent = current_traceparent()
        if traceparent:
            worker_ctx.data["traceparent"] = traceparent

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        """Record the worker's exception, if any, on its span."""
        state = self._active.get(worker_ctx)
        if state is not None and state[0] is not None and exc_info is not None:
            record_exception(exc_info[1], state[0])

    def worker_teardown(self, worker_ctx):
        """End the worker's span and restore the green thread's previous context."""
        state = self._active.pop(worker_ctx, None)
        if state is None:
            return
        worker_span, token = state
        if worker_span is not None:
            worker_span.end()
        otel_context.detach(token)


__all__ = [
    "setup_telemetry", "reset_telemetry", "span", "current_traceparent", "inject_headers",
    "record_exception", "context_from_traceparent", "current_service", "instrument_engine",
    "instrument_flask", "Tracing", "SERVICE_ATTRIBUTE", "recording",
]
