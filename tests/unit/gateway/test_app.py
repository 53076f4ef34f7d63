"""The gateway's Flask class: what it changes of Flask's own behaviour."""
import asyncio

import pytest
from flask import Flask

from mosaic_gateway.app import GatewayFlask


@pytest.fixture
def app():
    return GatewayFlask("gateway-app-test")


def test_a_plain_view_runs_as_it_is(app):
    def view():
        return "ok"

    assert app.ensure_sync(view) is view


def test_an_async_view_is_still_handed_to_flask(app, monkeypatch):
    async def view():
        return "ok"

    handed = []
    monkeypatch.setattr(app, "async_to_sync", lambda func: handed.append(func) or "wrapped")
    assert app.ensure_sync(view) == "wrapped" and handed == [view]


def test_a_function_marked_as_a_coroutine_function_gets_flasks_answer(app, monkeypatch):
    def view():
        return asyncio.sleep(0)

    view._is_coroutine_marker = object()  # what inspect.markcoroutinefunction sets (3.12+)
    monkeypatch.setattr(app, "async_to_sync", lambda func: "wrapped")
    assert app.ensure_sync(view) == Flask.ensure_sync(app, view)


# -- the request body: what werkzeug's get_data answers, read in one go ---------------------------

class _Short:
    """A wsgi.input that ends early (the client went away mid-body), or fails."""

    def __init__(self, data: bytes, fail: bool = False):
        self.data, self.fail = data, fail

    def read(self, *_size):
        if self.fail:
            raise OSError("connection reset")
        data, self.data = self.data, b""
        return data


def _outcome(request_class, environ: dict, *calls):
    from werkzeug.exceptions import HTTPException

    req = request_class(dict(environ))
    try:
        return [req.get_data(**kw) for kw in calls] + [req.stream.read()]
    except HTTPException as exc:
        return type(exc)


@pytest.mark.parametrize("case", ["body", "text", "uncached", "empty", "short", "failing", "too large", "chunked"])
def test_the_body_is_what_werkzeug_reads(app, case):
    import io

    from werkzeug.test import EnvironBuilder

    app.config["MAX_CONTENT_LENGTH"] = 64
    body = '{"first_name": "Zoë"}'.encode()
    environ = EnvironBuilder(method="POST", data=body, content_type="application/json").get_environ()
    calls = [{}, {}]
    if case == "text":
        calls = [{"as_text": True}, {}]
    elif case == "uncached":
        calls = [{"cache": False}, {}]
    elif case == "empty":
        environ.update(CONTENT_LENGTH="0", **{"wsgi.input": io.BytesIO(b"")})
    elif case in ("short", "failing"):
        environ["wsgi.input"] = _Short(body[:5], fail=case == "failing")
    elif case == "too large":
        environ.update(CONTENT_LENGTH="65", **{"wsgi.input": io.BytesIO(b"x" * 65)})
    elif case == "chunked":
        del environ["CONTENT_LENGTH"]
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    with app.app_context():
        ours = _outcome(app.request_class, environ, *calls)
        environ["wsgi.input"] = type(environ["wsgi.input"])(body[:5], fail=case == "failing") if case in (
            "short", "failing") else io.BytesIO(b"x" * 65 if case == "too large" else b"" if case == "empty" else body)
        theirs = _outcome(Flask.request_class, environ, *calls)
    assert ours == theirs
    if case == "body":
        assert ours == [body, body, b""]
