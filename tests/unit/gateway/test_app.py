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


# -- the URL adapter: Flask's, its host part worked out once per host ---------------------------

def _adapter_state(app, environ):
    req = app.request_class(dict(environ))
    adapter = app.create_url_adapter(req)
    return (req.host, adapter.server_name, adapter.script_name, adapter.subdomain, adapter.url_scheme,
            adapter.path_info, adapter.default_method, adapter.query_args, adapter.websocket)


@pytest.mark.parametrize("extra", [
    {}, {"QUERY_STRING": "fields=a,b&x=%C3%A9"}, {"SCRIPT_NAME": "/crm"}, {"PATH_INFO": "/api/v1/caf\xc3\xa9"},
    {"HTTP_HOST": "Gateway.Example:8080"}, {"HTTP_HOST": "b\xc3\xbccher.example"}, {"HTTP_HOST": "bad host"},
    {"HTTP_CONNECTION": "keep-alive, Upgrade", "HTTP_UPGRADE": "websocket"}, {"wsgi.url_scheme": "https"},
    {"REQUEST_METHOD": "DELETE"}])
def test_the_url_adapter_is_flasks(app, extra):
    from werkzeug.test import EnvironBuilder

    environ = {**EnvironBuilder(path="/api/v1/contacts", method="POST").get_environ(), **extra}
    with app.app_context():
        flasks = _adapter_state(Flask("plain"), environ)
        assert _adapter_state(app, environ) == flasks  # the first of its host: Flask's own
        assert _adapter_state(app, environ) == flasks  # the host remembered
        assert len(app._bound_hosts) == 1


def test_remembered_hosts_are_bounded_and_other_bindings_are_flasks(app):
    from werkzeug.test import EnvironBuilder

    with app.app_context():
        for n in range(app.BOUND_HOSTS + 5):
            _adapter_state(app, EnvironBuilder(path="/", headers={"Host": f"h{n}.example"}).get_environ())
        assert len(app._bound_hosts) <= app.BOUND_HOSTS
        app.config["SERVER_NAME"] = "api.example"
        environ = EnvironBuilder(path="/", headers={"Host": "api.example"}).get_environ()
        remembered = dict(app._bound_hosts)
        plain = Flask("plain")
        plain.config["SERVER_NAME"] = "api.example"
        assert _adapter_state(app, environ) == _adapter_state(plain, environ)
        assert app._bound_hosts == remembered
