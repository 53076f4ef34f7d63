"""The response side of the gateway's HTTP protocol (:mod:`mosaic.http_protocol`).

The bytes are eventlet.wsgi's (status line, capitalised header names such as ``Etag``, Date,
``Connection``, chunked framing when the app gives no length, an empty 500 when the app fails
before answering); what goes is what eventlet spent on each response to get there: a set of
closures per request, a greenlet-local flag for eventlet.websocket (whose
``WSGI_LOCAL.already_handled`` this does not honour: the gateway serves no websockets), the Date
formatted and every header name re-capitalised per response, and the access line (``log_output``,
which ``serve_wsgi`` turns off: the gateway logs its own requests).
"""
from __future__ import annotations

import functools
import time
import traceback

import eventlet
from eventlet import wsgi

_date = [0, b""]  # (second, its Date line): every response in the same second shares it


def date_line() -> bytes:
    """The ``Date`` header line, formatted once a second instead of once a response."""
    now = int(time.time())
    if now != _date[0]:
        _date[:] = [now, b"Date: %s\r\n" % wsgi.format_date_time(now).encode()]
    return _date[1]


@functools.lru_cache(maxsize=512)
def capitalised(name: str) -> str:
    """eventlet's spelling of a response header name (``ETag`` → ``Etag``), worked out once per name."""
    return "-".join(part.encode("latin1").capitalize().decode("latin1") for part in name.split("-"))


def header_line(name, value) -> bytes:
    """One header line; latin-1 as PEP 3333 says (anything else raises, as in eventlet)."""
    return b"%s: %s\r\n" % (str(name).encode("latin-1"), str(value).encode("latin-1"))


class ResponseWriter:
    """``handle_one_response`` for an ``eventlet.wsgi.HttpProtocol``: calls the app, writes its answer,
    discards what the app left unread of the body (or closes), runs ``eventlet.posthooks``."""

    def handle_one_response(self):
        self.response_head = None  # [status, headers] once the app calls start_response
        self.head_sent = []  # a list: wsgi.Input sends no 100 Continue once it is not empty
        self.chunked_response = False
        request_input = self.environ["eventlet.input"]
        request_input.headers_sent = self.head_sent
        result = None
        try:
            try:
                result = self.application(self.environ, self.start_response)
                self._write_result(result, request_input)
            except (Exception, eventlet.Timeout):
                self.close_connection = 1
                trace = traceback.format_exc()
                self.server.log.info(trace)
                if not self.head_sent:
                    body = trace.encode() if self.server.debug else b""
                    self.start_response("500 Internal Server Error",
                                        [("Content-Type", "text/plain"), ("Content-Length", len(body))])
                    self.write(body)
        finally:
            if hasattr(result, "close"):
                result.close()
            self._end_request(request_input)

    def start_response(self, status, headers, exc_info=None):
        """PEP 3333's start_response: remembers status and headers until the first write."""
        if exc_info:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        code = int(status.split(" ", 1)[0])
        # RFC 9110 §6.4.1: no body (nor chunked framing) after 1xx, 204, 304 or a HEAD.
        self.bodyless = (code in (204, 304) or self.command == "HEAD" or 100 <= code < 200
                         or (self.command == "CONNECT" and 200 <= code < 300))
        if self.capitalize_response_headers:
            headers = [(capitalised(name), value) for name, value in headers]
        self.response_head = [status, headers]
        return self.write

    def write(self, data: bytes) -> None:
        """Send ``data`` (and the head first, once), chunk-framed when the answer has no length."""
        if not self.response_head:
            raise AssertionError("write() before start_response()")
        head = b""
        if not self.head_sent:
            self.head_sent.append(1)
            head = self._head()
        if self.chunked_response:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.wfile.write(head + data if head else data)
        self.wfile.flush()

    def _head(self) -> bytes:
        """Status line and headers, with eventlet's Date, Connection and Transfer-Encoding rules."""
        status, headers = self.response_head
        names = {str(name).lower() for name, _ in headers}
        lines = [("%s %s\r\n" % (self.protocol_version, status)).encode()]
        lines += [header_line(name, value) for name, value in headers]
        if "date" not in names:
            lines.append(date_line())
        asked = self.headers.get("Connection", "").lower()
        keep_alive = not self.close_connection and self.server.keepalive and (
            asked == "keep-alive" or (self.request_version == "HTTP/1.1" and asked != "close"))
        self.close_connection = 0 if keep_alive else 1
        if "content-length" not in names and not self.bodyless:
            if self.request_version == "HTTP/1.1":
                self.chunked_response = True
                lines.append(b"Transfer-Encoding: chunked\r\n")
            else:
                self.close_connection = 1  # an HTTP/1.0 client reads the body to the end of the connection
        if self.close_connection:
            lines.append(b"Connection: close\r\n")
        elif asked == "keep-alive":  # HTTP/1.1 keeps alive unasked; say so only to whoever asked
            lines.append(b"Connection: keep-alive\r\n")
            if not isinstance(self.server.keepalive, bool) and int(self.server.keepalive):
                lines.append(b"Keep-Alive: timeout=%d\r\n" % int(self.server.keepalive))
        lines.append(b"\r\n")
        return b"".join(lines)

    def _write_result(self, result, request_input) -> None:
        """The app's iterable, gathered into writes of at least ``minimum_chunk_size`` bytes."""
        if self.response_head and not self.head_sent and hasattr(result, "__len__"):
            # A complete answer: give it a length, and close rather than read a body never asked for.
            if not self.bodyless and "Content-Length" not in (name for name, _ in self.response_head[1]):
                self.response_head[1].append(("Content-Length", str(sum(map(len, result)))))
            if request_input.should_send_hundred_continue:
                self.close_connection = 1
        minimum = int(self.environ.get("eventlet.minimum_write_chunk_size", self.minimum_chunk_size))
        pending, size, last = [], 0, 0
        for data in result:
            if not data:
                continue
            if isinstance(data, str):
                data = data.encode("ascii")
            pending.append(data)
            size += len(data)
            if size >= minimum:
                self.write(b"".join(pending))
                pending, last, size = [], size, 0
        if pending:
            last = size
            self.write(b"".join(pending))
        if not self.head_sent or (self.chunked_response and last):
            self.write(b"")  # the head of an empty answer, or the last chunk

    def _end_request(self, request_input) -> None:
        if request_input.should_send_hundred_continue:
            # Answered without asking for the body: the client may send it or not, so only
            # closing leaves no doubt where the next request starts (as eventlet does).
            self.close_connection = 1
        unread = request_input.chunked_input or request_input.position < (request_input.content_length or 0)
        if unread and not self.close_connection:
            try:
                request_input.discard()
            except (wsgi.ChunkReadError, OSError) as e:
                self.close_connection = 1
                self.server.log.error(f"error while discarding request body: {self.requestline!r}: {e}")
        for hook, args, kwargs in self.environ["eventlet.posthooks"]:
            hook(self.environ, *args, **kwargs)
