"""The gateway's HTTP protocol (mosaic.http_protocol), over real sockets: what it answers, what
the application sees, and that a malformed head gets a clear refusal and never a crash."""
import json
import re
import socket

import eventlet
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic import http_protocol
from mosaic.runtime import serve_wsgi

ENVIRON_KEYS = ("REQUEST_METHOD", "PATH_INFO", "RAW_PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
                "SERVER_PROTOCOL", "REMOTE_ADDR", "SERVER_NAME", "SCRIPT_NAME")


def echo(environ, start_response):
    """Answers what it was given: the body it read, the environ keys it cares about, HTTP_*."""
    seen = {k: v for k, v in environ.items() if k in ENVIRON_KEYS or k.startswith("HTTP_")}
    seen["body"] = environ["wsgi.input"].read().decode("latin-1")
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("ETag", '"1"'),
                              ("Content-Length", str(len(body)))])
    return [body]


def failing(environ, start_response):
    """Reads a (possibly chunked) body, answers 400 when it is malformed, and fails on /boom."""
    try:
        environ["wsgi.input"].read()
    except ValueError:
        start_response("400 Bad Request", [("Content-Length", "0")])
        return [b""]
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("secret detail")
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def server():
    yield from serve(echo)


@pytest.fixture
def bare_server():
    yield from serve(failing)


def serve(app):
    listener = eventlet.listen(("127.0.0.1", 0))
    thread = eventlet.spawn(serve_wsgi, app, "127.0.0.1", 0, listener)
    clients = []

    def connect():
        conn = socket.create_connection(listener.getsockname(), timeout=5)
        clients.append(conn)
        return conn

    yield connect
    for conn in clients:
        conn.close()
    thread.kill()


def read_response(reader):
    """(status, headers by lower-cased name, body) of one response read from ``reader``."""
    status_line = reader.readline()
    assert status_line, "the server closed the connection without an answer"
    status = int(status_line.split()[1])
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.lower()] = (name, value.strip())
    body = reader.read(int(headers["content-length"][1])) if "content-length" in headers else b""
    return status, headers, body


def exchange(server, raw: bytes):
    conn = server()
    conn.sendall(raw)
    reader = conn.makefile("rb")
    status, headers, body = read_response(reader)
    return status, headers, body, reader


def closed(reader) -> bool:
    return reader.read() == b""


def test_a_post_reaches_the_app_with_the_environ_eventlet_gave(server):
    status, headers, body, _ = exchange(server, (
        b"POST /api/v1/caf%C3%A9s?limit=2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 7\r\nX-Trace:  a \r\nX-Trace: b\r\nX_Trace: forged\r\n"
        b"X-Folded: one\r\n  two\r\nX-Empty: \t \r\n\r\n{\"a\":1}"))
    seen = json.loads(body)
    assert status == 200
    assert seen["REQUEST_METHOD"] == "POST" and seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["RAW_PATH_INFO"] == "/api/v1/caf%C3%A9s"
    assert seen["PATH_INFO"] == "/api/v1/caf\xc3\xa9s"  # latin-1, as PEP 3333 and werkzeug expect
    assert seen["QUERY_STRING"] == "limit=2"
    assert seen["CONTENT_TYPE"] == "application/json" and seen["CONTENT_LENGTH"] == "7"
    assert seen["REMOTE_ADDR"] == "127.0.0.1" and seen["SCRIPT_NAME"] == ""
    assert seen["HTTP_X_TRACE"] == "a,b"  # repeats joined as eventlet joins them; the _ spelling dropped
    assert seen["HTTP_X_FOLDED"] == "one two" and seen["HTTP_X_EMPTY"] == ""
    assert "HTTP_CONTENT_TYPE" not in seen and "HTTP_CONTENT_LENGTH" not in seen
    assert seen["body"] == '{"a":1}'
    assert headers["etag"][0] == "Etag"  # eventlet's capitalisation of response names is kept


def test_without_content_type_the_app_sees_eventlets_default(server):
    _, _, body, _ = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    seen = json.loads(body)
    assert seen["CONTENT_TYPE"] == "text/plain" and "CONTENT_LENGTH" not in seen and "QUERY_STRING" not in seen


def test_two_requests_on_one_keep_alive_connection(server):
    conn = server()
    reader = conn.makefile("rb")
    for n in range(2):
        conn.sendall(b"POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n#%d" % n)
        status, headers, body = read_response(reader)
        assert status == 200 and "connection" not in headers
        assert json.loads(body)["body"] == f"#{n}"


def test_a_chunked_body_is_read_whole(server):
    status, _, body, _ = exchange(server, (
        b"POST /r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n"))
    assert status == 200 and json.loads(body)["body"] == "hello world"


def test_expect_100_continue_is_answered_before_the_body_is_sent(server):
    conn = server()
    reader = conn.makefile("rb")
    conn.sendall(b"POST /r HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert reader.readline() == b"HTTP/1.1 100 Continue\r\n" and reader.readline() == b"\r\n"
    conn.sendall(b"body")
    status, _, body = read_response(reader)
    assert status == 200 and json.loads(body)["body"] == "body"


def test_an_http_1_0_client_is_answered_and_closed_unless_it_asks_for_keep_alive(server):
    status, headers, body, reader = exchange(server, b"GET / HTTP/1.0\r\n\r\n")
    assert status == 200 and headers["connection"][1] == "close" and closed(reader)
    assert json.loads(body)["SERVER_PROTOCOL"] == "HTTP/1.0"
    status, headers, _, _ = exchange(server, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert status == 200 and headers["connection"][1] == "keep-alive"


@pytest.mark.parametrize("first", [
    b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\n",  # RFC 9112 §2.2: a stray CRLF is ignored
])
def test_pipelined_requests_are_each_answered(server, first):
    conn = server()
    reader = conn.makefile("rb")
    conn.sendall(first + b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert json.loads(read_response(reader)[2])["PATH_INFO"] == "/a"
    assert json.loads(read_response(reader)[2])["PATH_INFO"] == "/b"


def test_connection_close_is_honoured(server):
    status, headers, _, reader = exchange(server, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status == 200 and headers["connection"][1] == "close" and closed(reader)


@pytest.mark.parametrize("raw, status", [
    (b"GET /\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET / HTTP/1\r\n\r\n", 400),
    (b"GET / HTTPS/1.1\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n folded: first\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
])
def test_a_malformed_head_is_refused_with_a_problem_and_closed(server, raw, status):
    answered, headers, body, reader = exchange(server, raw)
    assert answered == status
    assert headers["content-type"][1] == "application/problem+json" and headers["connection"][1] == "close"
    assert json.loads(body)["status"] == status
    assert closed(reader)


@pytest.mark.parametrize("raw, status", [
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (n, b"v" * 8000) for n in range(9)) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"\r\n", 431),
])
def test_limits_on_the_head_answer_414_or_431(server, raw, status):
    answered, _, body, reader = exchange(server, raw)
    assert answered == status and json.loads(body)["status"] == status and closed(reader)


def test_a_hundred_headers_are_still_served(server):
    status, _, body, _ = exchange(server, b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % n for n in range(100))
                                  + b"\r\n")
    assert status == 200 and json.loads(body)["HTTP_X_99"] == "v"


def test_a_client_leaving_mid_head_does_not_stop_the_server(server):
    conn = server()
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Half")
    conn.shutdown(socket.SHUT_WR)
    assert closed(conn.makefile("rb"))
    status, _, _, _ = exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200


def test_lf_line_ends_are_accepted(server):
    status, _, body, _ = exchange(server, b"GET /lf HTTP/1.1\nHost: x\nX-A: 1\n\n")
    assert status == 200 and json.loads(body)["HTTP_X_A"] == "1"


def test_a_head_arriving_in_pieces_is_read_line_by_line(server):
    conn = server()
    reader = conn.makefile("rb")
    conn.sendall(b"GET /pieces HTTP/1.1\r\nHost: x\r\n")
    eventlet.sleep(0.05)
    conn.sendall(b"X-A:  1 \r\n\r\n")
    status, _, body = read_response(reader)
    assert status == 200 and json.loads(body)["HTTP_X_A"] == "1"


@pytest.mark.parametrize("head", [
    "Host: x\r\n",
    "A: 1\r\nB:2\r\nC:  spaced  out \t\r\nD:\r\nE: \t \r\n",
    "Authorization: Bearer abc.def\r\nX-Odd-Name!#$%&'*+.^`|~: v:w:x\r\n",
    "Latin: caf\xe9\r\nCtl: a\x01b\r\n",
])
def test_the_buffered_head_parser_agrees_with_the_line_parser(head):
    plain = http_protocol._PLAIN_FIELD.findall(head)
    assert http_protocol._PLAIN_HEAD.fullmatch(head)
    assert plain == http_protocol.parse_fields(head.split("\r\n")[:-1])


def test_an_application_error_is_a_500_without_its_traceback(bare_server):
    status, _, body, reader = exchange(bare_server, b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 500 and b"secret" not in body + reader.read()


HEAD_PIECES = st.one_of(st.sampled_from([
    b"GET", b"POST", b" ", b"/", b"?", b"%", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b"\r\n", b"\n", b"\r", b":",
    b"\t", b"_", b"Content-Length: 3", b"Content-Length: 99999", b"Transfer-Encoding: chunked",
    b"Expect: 100-continue", b"Connection: close", b"Connection: keep-alive", b"0\r\n", b"zz\r\n"]),
    st.binary(max_size=8))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(HEAD_PIECES, max_size=40))
def test_any_bytes_get_answers_below_500_or_a_close_and_never_a_hang(bare_server, pieces):
    conn = bare_server()
    conn.sendall(b"".join(pieces))
    conn.shutdown(socket.SHUT_WR)
    answers = conn.makefile("rb").read()  # the server closes once the client has sent all: no hang
    statuses = {int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", answers)}
    assert statuses <= {100, 200, 400, 414, 431, 501, 505}
    assert exchange(bare_server, b"GET / HTTP/1.1\r\n\r\n")[0] == 200


def _listed(environ, start_response):
    start_response("201 CREATED", [("Content-Type", "application/json"), ("ETag", '"1"'), ("x-lower", "v")])
    return [b'{"id":', b'"x"}']


def _streamed(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one"
    yield b""
    yield "two"


def _empty(environ, start_response):
    start_response("204 No Content", [])
    return []


def _failing_late(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    raise RuntimeError("after start_response")


RESPONSE_CASES = [
    (_listed, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n"),  # body unread
    (_listed, b"GET / HTTP/1.0\r\n\r\n"),
    (_listed, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"),
    (_listed, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"),
    (_listed, b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
    (_listed, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
    (_streamed, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
    (_streamed, b"GET / HTTP/1.0\r\n\r\n"),
    (_empty, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n"),
    (_failing_late, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    (failing, b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n"),
]


def _answer(protocol, app, raw: bytes) -> bytes:
    """All an eventlet server with ``protocol`` sends back for ``raw``, Date values blanked."""
    from eventlet import wsgi

    listener = eventlet.listen(("127.0.0.1", 0))
    thread = eventlet.spawn(wsgi.server, listener, app, log_output=False, debug=False, protocol=protocol)
    with socket.create_connection(listener.getsockname(), timeout=5) as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        answer = conn.makefile("rb").read()
    thread.kill()
    return re.sub(rb"Date: [^\r]*\r\n", b"Date: -\r\n", answer)


@pytest.mark.parametrize("app, raw", RESPONSE_CASES)
def test_the_response_bytes_are_eventlets(app, raw):
    from eventlet import wsgi

    assert _answer(http_protocol.HttpProtocol, app, raw) == _answer(wsgi.HttpProtocol, app, raw)


def test_environ_keys_of_header_names():
    from mosaic.http_protocol import environ_key

    assert environ_key("X-Request-Id") == "HTTP_X_REQUEST_ID"
    assert environ_key("authorization") == "HTTP_AUTHORIZATION"
    assert environ_key("X_Forwarded_For") == ""  # never passes for X-Forwarded-For
    assert environ_key("content-type") == environ_key("Content-Length") == ""  # CONTENT_* instead
