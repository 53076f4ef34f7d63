"""Structured JSON logs on stdout, one object per line, correlated with traces.

Each line has ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``msg``, ``service``,
``trace_id`` and ``span_id`` (when a span is current), ``exc_info`` (the formatted traceback, as
one string field) and any ``extra=`` fields the caller passed. In the embedded mode, where several
services share the process, ``service`` is the service whose worker is logging (taken from the
trace context that :mod:`mosaic.telemetry` keeps), else the name given to :func:`setup_logging`.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from opentelemetry import trace

from mosaic.telemetry import current_service

#: attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single-line JSON string (newlines inside values are escaped)."""
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc)
                          .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "service": current_service() or self.service,
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value
        # default=str: an extra that is not JSON (a UUID, a datetime) must not lose the line.
        return json.dumps(entry, default=str, ensure_ascii=False)


class _StdoutHandler(logging.StreamHandler):
    """A stream handler bound to whatever ``sys.stdout`` is at emit time, so a replaced stdout
    (pytest capture, a supervisor redirect) still gets the lines."""

    _mosaic_json = True

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


class ClientErrorFilter(logging.Filter):
    """Demotes a worker's 4xx :class:`~mosaic.errors.MosaicError` to one INFO line without its
    traceback. nameko logs every exception a worker raises as ERROR with a traceback; a caller's
    bad input is not the service's error, and one fuzz run must not write thousands of them.
    A 5xx (or any other exception) is left as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a client error's record in place; drop it when INFO is not logged."""
        from mosaic.errors import MosaicError  # noqa: PLC0415 - logs is imported by everything

        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, MosaicError) or exc.status >= 500:
            return True
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text = None, None
        record.msg, record.args = "client error %d %s: %s", (exc.status, type(exc).__name__, exc.detail)
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


#: where client errors are logged as a service's errors (nameko's worker runner)
CLIENT_ERROR_LOGGERS = ("nameko.containers",)


def setup_logging(level: str | int = "INFO", service: str = "mosaic") -> logging.Handler:
    """Send every log record of the process to stdout as JSON lines, at ``level``.

    Idempotent: a second call replaces the JSON handler instead of adding one, so embedded mode
    (gateway and services in one process) and tests can call it freely. Other handlers on the
    root logger (pytest's capture, for one) are left alone. Returns the handler.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_mosaic_json", False):
            root.removeHandler(handler)
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter(service))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in CLIENT_ERROR_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ClientErrorFilter) for f in logger.filters):
            logger.addFilter(ClientErrorFilter())
    # Python warnings (deprecations of libraries) become log records, so they are JSON too.
    logging.captureWarnings(True)
    return handler
