"""The gateway's HTTP/1.1 protocol: eventlet.wsgi's, with a request head parser of its own.

eventlet.wsgi reads each request's head through ``http.server``'s ``parse_request``, which
builds an ``email.message.Message`` with ``email.parser`` for every request, then walks it
again to build the WSGI environ: about a third of the server's CPU per request (py-spy of
eventlet.wsgi serving a trivial app). :class:`HttpProtocol` takes a head that arrived whole from
the read buffer in one go (else line by line), with eventlet's limits, parses it once into the
lower-cased header map the response side reads and the environ the application reads; the
response side is in :mod:`mosaic.http_response`. The rest of eventlet's protocol (the connection
loop, keep-alive, chunked and ``100-continue`` request bodies) is eventlet's.

Where eventlet let a malformed head through, this parser refuses it, with a small
``application/problem+json`` answer and the connection closed: a header line without a colon
or with a space before it (which the email parser took as the end of the head, silently
dropping what followed), a version that is not ``HTTP/x.y``, a ``Content-Length`` that is not
one plain number (``int()`` took ``+5`` or ``1_0``), a transfer coding other than ``chunked``
(eventlet read such a body as empty and the body as the next request), a bare CR in a field.
"""
from __future__ import annotations

import json
import re
import urllib.parse
from http import HTTPStatus

from eventlet import support, wsgi

from mosaic.http_response import ResponseWriter

MAX_HEADERS = 100  # http.client's limit, which eventlet's protocol inherited

_VERSION = re.compile(r"HTTP/([0-9]{1,10})\.([0-9]{1,10})")
# Any visible ASCII but ":" in a name, as the email parser took; no space before the colon (RFC 9112 §5.1).
_FIELD = re.compile(r"([!-9;-~]+):[ \t]*(.*?)[ \t]*")
_DIGITS = re.compile(r"[0-9]+")
# A head of plain "Name: value" lines with CRLF ends (every client's), checked and split in C.
_PLAIN_HEAD = re.compile(r"(?:[!-9;-~]+:[^\r\n]*\r\n)*")
# The value ends on a character that is not a space: a greedy match, twice as fast as a lazy one.
_PLAIN_FIELD = re.compile(r"([!-9;-~]+):[ \t]*((?:[^\r\n]*[^\r\n \t])?)[ \t]*\r\n")


class Refused(Exception):
    """A request head this server will not serve: answered with ``status`` and closed."""

    def __init__(self, status: HTTPStatus, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _ClientGone(Exception):
    """The connection ended in the middle of a request head: nobody is left to answer."""


class Headers(dict):
    """The request's header fields by lower-cased name, repeats joined by "," (as in the environ).

    Case-insensitive ``get`` is all eventlet's response side asks of ``self.headers``.
    """

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)


def refusal(status: HTTPStatus, detail: str) -> bytes:
    """The whole answer to a refused request head: problem+json, like every error of the API."""
    body = json.dumps({"type": "about:blank", "title": status.phrase, "status": status.value,
                       "detail": detail}).encode()
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status.value, status.phrase.encode(), len(body), body))


def parse_request_line(line: str) -> tuple[str, str, str, tuple[int, int]]:
    """(method, target, version, (major, minor)) of a request line, or :class:`Refused`."""
    words = line.split()
    if len(words) != 3:
        raise Refused(HTTPStatus.BAD_REQUEST, "The request line is not 'METHOD target HTTP/x.y'.")
    method, target, version = words
    match = _VERSION.fullmatch(version)
    if not match:
        raise Refused(HTTPStatus.BAD_REQUEST, "The request line's HTTP version is malformed.")
    number = int(match[1]), int(match[2])
    if number >= (2, 0):
        raise Refused(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Only HTTP/1.x is served here.")
    if target.startswith("//"):
        # As http.server does: clients read //host/path as another host (open redirects).
        target = "/" + target.lstrip("/")
    return method, target, version, number


def parse_fields(lines: list[str]) -> list[tuple[str, str]]:
    """(name, value) of each header line (without its line end), continuation lines unfolded."""
    fields: list[tuple[str, str]] = []
    for line in lines:
        if "\r" in line:
            raise Refused(HTTPStatus.BAD_REQUEST, "A header field holds a bare carriage return.")
        if line[:1] in (" ", "\t"):
            if not fields:
                raise Refused(HTTPStatus.BAD_REQUEST, "The request head starts with a continuation line.")
            name, value = fields[-1]
            # RFC 9112 §5.2: a recipient replaces each obsolete line folding with a space.
            fields[-1] = (name, (value + " " + line.strip(" \t")).rstrip(" "))
            continue
        match = _FIELD.fullmatch(line)
        if not match:
            raise Refused(HTTPStatus.BAD_REQUEST, "A header line is not 'Name: value'.")
        fields.append((match[1], match[2]))
    return fields


def body_framing(headers: Headers) -> None:
    """Refuse a request whose body length is ambiguous (the way requests are smuggled)."""
    length = headers.get("content-length")
    coding = headers.get("transfer-encoding")
    if length is not None and not _DIGITS.fullmatch(length):
        raise Refused(HTTPStatus.BAD_REQUEST, "Content-Length is not one non-negative integer.")
    if coding is not None:
        if length is not None:
            raise Refused(HTTPStatus.BAD_REQUEST,
                          "Content-Length and Transfer-Encoding are not allowed together.")
        if coding.lower() != "chunked":
            raise Refused(HTTPStatus.NOT_IMPLEMENTED, "Only the chunked transfer coding is served here.")


def environ_key(name: str) -> str:
    """The environ key of header field ``name`` (``HTTP_X_REQUEST_ID``), or "" for a field the
    environ does not carry as ``HTTP_*``: one with "_" in its name (as eventlet: X_Forwarded_For
    must not pass for X-Forwarded-For), and Content-Type and Content-Length (``CONTENT_*``)."""
    if "_" in name:
        return ""
    key = name.upper().replace("-", "_")
    return "" if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


#: header field name -> :func:`environ_key`, for the names requests keep sending
_ENVIRON_KEYS: dict[str, str] = {}


class HttpProtocol(ResponseWriter, wsgi.HttpProtocol):
    """eventlet's protocol with :func:`parse_request_line` and :func:`parse_fields` for its head,
    and :class:`~mosaic.http_response.ResponseWriter`'s leaner writing of eventlet's answers."""

    def setup(self):
        super().setup()
        # What every request on this connection shares, instead of eventlet's getsockname()
        # and server.get_environ() per request.
        server_host, server_port = wsgi.addr_to_host_port(self.request.getsockname())
        client_host, client_port = wsgi.addr_to_host_port(self.client_address)
        self.base_environ = {**self.server.get_environ(), "SCRIPT_NAME": "", "GATEWAY_INTERFACE": "CGI/1.1",
                             "SERVER_NAME": server_host, "SERVER_PORT": str(server_port),
                             "REMOTE_ADDR": client_host, "REMOTE_PORT": str(client_port)}

    def handle_one_request(self):
        if self.server.max_http_version:
            self.protocol_version = self.server.max_http_version
        self.raw_requestline = self._read_request_line()
        if self.raw_requestline in (b"\r\n", b"\n"):
            # RFC 9112 §2.2: ignore an empty line before a request (some clients end a body with one).
            self.raw_requestline = self._read_request_line()
        self.conn_state[2] = wsgi.STATE_REQUEST
        self.close_connection = 1
        if not self.raw_requestline:
            return
        if len(self.raw_requestline) >= self.server.url_length_limit:
            self.wfile.write(refusal(HTTPStatus.REQUEST_URI_TOO_LONG, "The request line is too long."))
            return
        try:
            self.read_head()
        except Refused as refused:
            self.wfile.write(refusal(refused.status, refused.detail))
            return
        except _ClientGone:
            return
        self.environ = self.get_environ()
        self.application = self.server.app
        self.server.outstanding_requests += 1
        try:
            self.handle_one_response()
        except OSError as e:
            if support.get_errno(e) not in wsgi.BROKEN_SOCK:
                raise
        finally:
            self.server.outstanding_requests -= 1

    def read_head(self) -> None:
        """Parse the request line and the header lines: command, path, headers, keep-alive."""
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.command, self.path, self.request_version, self.version_number = parse_request_line(self.requestline)
        self.fields = self._read_fields()
        self.headers = headers = Headers()
        for name, value in self.fields:
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        body_framing(headers)
        connection = dict.get(headers, "connection", "").lower()  # the keys are lower-case already
        self.close_connection = connection == "close" or (
            self.version_number < (1, 1) and connection != "keep-alive")

    def _read_fields(self) -> list[tuple[str, str]]:
        """The head's (name, value) fields; a connection reset on the way is the client gone."""
        try:
            return self._plain_fields() or parse_fields(self._header_lines())
        except OSError as e:
            if support.get_errno(e) in wsgi.BROKEN_SOCK:
                raise _ClientGone() from e
            raise

    def _plain_fields(self) -> list[tuple[str, str]] | None:
        """The head's fields when it is already buffered whole and plain, read in one go; else None
        (and nothing read), for the line-by-line parser to read it and judge what is odd in it."""
        buffered = self.rfile.peek()
        end = buffered.find(b"\r\n\r\n")
        # Under one line's limit, so no line and no head can be over eventlet's limits.
        if not 0 < end < wsgi.MAX_HEADER_LINE:
            return None
        head = str(buffered[:end + 2], "iso-8859-1")
        if not _PLAIN_HEAD.fullmatch(head):
            return None
        fields = _PLAIN_FIELD.findall(head)
        if len(fields) > MAX_HEADERS:
            return None
        self.rfile.read(end + 4)
        return fields

    def _header_lines(self) -> list[str]:
        """The head's lines up to the empty one, within eventlet's size limits and http.client's count."""
        lines = []
        total = 0
        readline = self.rfile.readline
        while True:
            line = readline(wsgi.MAX_HEADER_LINE)
            if len(line) >= wsgi.MAX_HEADER_LINE:
                raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "A header line is too long.")
            total += len(line)
            if total > wsgi.MAX_TOTAL_HEADER_SIZE:
                raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "The request head is too large.")
            if line in (b"\r\n", b"\n"):
                return lines
            if not line.endswith(b"\n"):
                raise _ClientGone()
            if len(lines) == MAX_HEADERS:
                raise Refused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "There are too many header fields.")
            lines.append(str(line[:-2] if line.endswith(b"\r\n") else line[:-1], "iso-8859-1"))

    def get_environ(self):
        """The request's WSGI environ, with the keys and values eventlet's own protocol gives, but
        for ``SERVER_PROTOCOL``: the request's version, where eventlet always said HTTP/1.0."""
        env = self.base_environ.copy()
        env["REQUEST_METHOD"] = self.command
        path, question, query = self.path.partition("?")
        env["RAW_PATH_INFO"] = path
        env["PATH_INFO"] = urllib.parse.unquote(path, encoding="latin1")
        if question:
            env["QUERY_STRING"] = query
        headers = self.headers
        # email.message's default, which eventlet reported for a request without a Content-Type.
        env["CONTENT_TYPE"] = dict.get(headers, "content-type", "text/plain")
        length = dict.get(headers, "content-length")
        if length:
            env["CONTENT_LENGTH"] = length
        env["SERVER_PROTOCOL"] = self.request_version
        env["headers_raw"] = tuple(self.fields)
        for name, value in self.fields:
            key = _ENVIRON_KEYS.get(name)
            if key is None:
                key = environ_key(name)
                if len(_ENVIRON_KEYS) < 512:  # header names repeat; a client's odd ones are not kept
                    _ENVIRON_KEYS[name] = key
            if key:
                env[key] = f"{env[key]},{value}" if key in env else value
        self._attach_input(env, length)
        return env

    def _attach_input(self, env: dict, length: str | None) -> None:
        """``wsgi.input`` (chunked or sized; 100 Continue sent on the first read) and eventlet's hooks."""
        continue_line = None
        # RFC 9110 §10.1.1: an HTTP/1.0 client's expectation is ignored.
        if self.version_number >= (1, 1) and env.get("HTTP_EXPECT", "").lower() == "100-continue":
            continue_line = b"HTTP/1.1 100 Continue\r\n"
        chunked = "HTTP_TRANSFER_ENCODING" in env
        env["wsgi.input"] = env["eventlet.input"] = wsgi.Input(
            self.rfile, None if chunked else (length or "0"), self.connection,
            wfile=self.wfile if continue_line else None, wfile_line=continue_line, chunked_input=chunked)
        env["eventlet.posthooks"] = []
        env["eventlet.set_idle"] = self._set_idle

    def _set_idle(self):
        self.conn_state[2] = wsgi.STATE_IDLE
