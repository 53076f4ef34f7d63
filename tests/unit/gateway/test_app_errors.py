"""The gateway's error handlers: problem+json answers, and a log that tells a client's mistake
(INFO, no traceback) from the gateway's own failure (ERROR with the traceback)."""
from __future__ import annotations

import logging

import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from mosaic.errors import MosaicError, ServiceUnavailable, ValidationFailed
from mosaic_gateway import app as gateway_app


@pytest.fixture
def client():
    app = Flask("errors")
    app.register_error_handler(MosaicError, gateway_app._mosaic_error)
    app.register_error_handler(HTTPException, gateway_app._http_error)

    @app.get("/invalid")
    def invalid():
        raise ValidationFailed("bad email", errors={"email": ["invalid"]})

    @app.get("/down")
    def down():
        raise ServiceUnavailable("the contacts service is not running")

    @app.get("/method")
    def method():
        raise MethodNotAllowed(["POST"])

    return app.test_client()


def _gateway_records(caplog):
    return [r for r in caplog.records if r.name == gateway_app.log.name]


def test_a_client_error_is_logged_at_info_without_traceback(client, caplog):
    caplog.set_level(logging.INFO, logger=gateway_app.log.name)
    assert client.get("/invalid").status_code == 422
    assert client.get("/method").status_code == 405
    records = _gateway_records(caplog)
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.INFO, None), (logging.INFO, None)]
    assert records[0].getMessage() == "GET /invalid -> 422 ValidationFailed"


def test_a_server_error_is_logged_at_error_with_traceback(client, caplog):
    caplog.set_level(logging.INFO, logger=gateway_app.log.name)
    resp = client.get("/down")
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
    (record,) = _gateway_records(caplog)
    assert record.levelno == logging.ERROR and isinstance(record.exc_info[1], ServiceUnavailable)
