"""The Flask gateway: authentication, the module gate, the record API of every object, the
metadata API, OpenAPI, health. Errors are translated here, once, into problem+json."""
from __future__ import annotations

import io
import logging
from inspect import CO_COROUTINE
from types import FunctionType

from flask import Flask, Request, Response, json, request
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge
from werkzeug._internal import _wsgi_decoding_dance
from werkzeug.routing import BaseConverter, MapAdapter

from mosaic.config import Settings
from mosaic.errors import MosaicError
from mosaic.metadata.definitions import RESERVED_PATHS
from mosaic.rpc import RpcPool
from mosaic.telemetry import instrument_flask
from mosaic_gateway import auth, redaction, routes_admin, routes_auth
from mosaic_gateway.directory import ObjectDirectory

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra) -> Response:
    """An ``application/problem+json`` response."""
    body = {"type": "about:blank" if not extra.get("type") else extra.pop("type"),
            "title": title, "status": status, "detail": detail, **extra}
    return Response(json.dumps(body), status=status, mimetype=PROBLEM)


def _log_answer(status: int, err: Exception) -> None:
    """A 4xx is the client's mistake: one INFO line, no traceback (a fuzzer must not fill the
    logs with them). A 5xx is ours: ERROR with the traceback."""
    if status >= 500:
        log.error("%s %s -> %d: %s", request.method, request.path, status, err, exc_info=err)
    else:
        log.info("%s %s -> %d %s", request.method, request.path, status, type(err).__name__)


def _mosaic_error(err: MosaicError) -> Response:
    _log_answer(err.status, err)
    body = err.to_problem()
    resp = Response(json.dumps(body), status=err.status, mimetype=PROBLEM)
    if "retry_after" in err.extra:
        resp.headers["Retry-After"] = str(max(1, int(float(err.extra["retry_after"]) + 0.999)))
    return resp


def _http_error(err: HTTPException) -> Response:
    _log_answer(err.code or 500, err)
    if err.code == 413:
        detail = "the request body is larger than this endpoint accepts"
    else:
        detail = err.description or err.name
    resp = problem(err.code or 500, err.name, detail)
    if err.code == 405 and getattr(err, "valid_methods", None):
        resp.headers["Allow"] = ", ".join(err.valid_methods)
    return resp


def _unexpected(err: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "Internal error", "the request could not be completed; it has been logged")


class GatewayRequest(Request):
    """Flask's request, reading a body of declared length straight from ``wsgi.input``."""

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False):
        """werkzeug's ``get_data``: the body, read once and cached. A body with a
        ``Content-Length`` is read in one call instead of through werkzeug's ``LimitedStream``
        (its ``readall`` loop, ~10 µs a request), with the same refusals: 413 over
        ``MAX_CONTENT_LENGTH``, ClientDisconnected (400) when the body ends early or its read
        fails. Anything else (form parsing, a body already cached or streamed, no declared
        length, ``wsgi.input_terminated``) is werkzeug's."""
        length = self.content_length
        if (parse_form_data or length is None or getattr(self, "_cached_data", None) is not None
                or "stream" in self.__dict__ or self.shallow or "wsgi.input_terminated" in self.environ):
            return super().get_data(cache=cache, as_text=as_text, parse_form_data=parse_form_data)
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        data = b""
        if length:
            try:
                data = self.environ["wsgi.input"].read(length)
            except (OSError, ValueError):
                raise ClientDisconnected() from None
            if len(data) < length:
                raise ClientDisconnected()
        self.__dict__["stream"] = io.BytesIO()  # consumed, as werkzeug's stream would be
        if cache:
            self._cached_data = data
        return data.decode(errors="replace") if as_text else data


class GatewayFlask(Flask):
    """Flask, answering its "is this an ``async def``?" question for a plain function from the
    function's code flags: Flask asks it of every hook, teardown and view on every request (seven
    times for a create), and ``inspect.iscoroutinefunction`` takes six calls each time."""

    request_class = GatewayRequest
    #: how many distinct hosts :meth:`create_url_adapter` remembers (the Host header is the client's)
    BOUND_HOSTS = 64

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._bound_hosts: dict[tuple, tuple] = {}

    def create_url_adapter(self, request):
        """Flask's URL adapter for ``request``, with what depends only on the request's host and
        scheme worked out once per host: Flask validates the host twice per request (for
        ``request.host`` and again in werkzeug's ``bind_to_environ``) and IDNA-encodes it through
        Python's codec, ~10 µs. Only when Flask binds the plain way (no ``SERVER_NAME``,
        ``TRUSTED_HOSTS``, host or subdomain matching); anything else is Flask's."""
        if (request is None or self.config["TRUSTED_HOSTS"] is not None or self.config["SERVER_NAME"] is not None
                or self.url_map.host_matching or self.subdomain_matching):
            return super().create_url_adapter(request)
        env = request.environ
        key = (env.get("HTTP_HOST"), env.get("SERVER_NAME"), env.get("SERVER_PORT"), env.get("wsgi.url_scheme"),
               env.get("HTTP_CONNECTION"), env.get("HTTP_UPGRADE"))
        bound = self._bound_hosts.get(key)
        if bound is None:
            adapter = super().create_url_adapter(request)
            if len(self._bound_hosts) >= self.BOUND_HOSTS:
                self._bound_hosts.clear()
            self._bound_hosts[key] = (request.host, adapter.server_name, adapter.subdomain, adapter.url_scheme)
            return adapter
        request.host, server_name, subdomain, scheme = bound
        script_name, path_info, query = env.get("SCRIPT_NAME"), env.get("PATH_INFO"), env.get("QUERY_STRING")
        # werkzeug's Map.bind_to_environ and Map.bind, from here on
        return MapAdapter(self.url_map, server_name,
                          "/" if script_name is None else _wsgi_decoding_dance(script_name), subdomain, scheme,
                          "/" if path_info is None else _wsgi_decoding_dance(path_info), env["REQUEST_METHOD"],
                          None if query is None else _wsgi_decoding_dance(query))

    def ensure_sync(self, func):
        """``func`` itself when it is a plain ``def`` function; Flask's answer otherwise."""
        if (type(func) is FunctionType and not func.__code__.co_flags & CO_COROUTINE
                and not hasattr(func, "_is_coroutine_marker")):  # inspect.markcoroutinefunction
            return func
        return super().ensure_sync(func)


class ObjectPath(BaseConverter):
    """An object's URL segment; never one of the gateway's own prefixes, so ``DELETE
    /api/v1/auth/login`` is a 405 on the login route, not a record delete."""

    RESERVED = RESERVED_PATHS
    regex = r"(?!(?:" + "|".join(r.replace(".", r"\.") for r in RESERVED) + r")(?:/|$))[a-z][a-z0-9_-]{0,63}"


def create_app(settings: Settings, rpc: RpcPool) -> Flask:
    """The gateway application, calling services through ``rpc``."""
    app = GatewayFlask("mosaic_gateway", static_folder=None)  # every route is the API's, declared
    app.url_map.converters["objpath"] = ObjectPath
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body, settings.max_upload)
    app.json.sort_keys = False
    auth.init_app(app, settings)
    app.extensions["mosaic"].update(rpc=rpc, directory=ObjectDirectory(rpc))

    redaction.init_app(app)  # field permissions on every JSON response
    app.register_error_handler(MosaicError, _mosaic_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)

    from mosaic_gateway import (docs, health, routes_config, routes_imports, routes_logic, routes_metadata,
                                routes_plugins, routes_records)

    app.register_blueprint(routes_auth.bp)
    app.register_blueprint(routes_admin.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(routes_metadata.bp)
    app.register_blueprint(routes_logic.bp)
    app.register_blueprint(routes_plugins.bp)
    app.register_blueprint(routes_config.bp)  # GET/PUT /api/v1/admin/config
    routes_plugins.mount_plugin_routes(app)
    app.register_blueprint(routes_imports.bp)  # /<path>/imports, /<path>/export.csv, /imports/...
    app.register_blueprint(routes_records.bp)
    instrument_flask(app)
    return app
