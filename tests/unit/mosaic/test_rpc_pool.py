"""RpcPool under broker failures: broken proxies are dropped, failures become ServiceUnavailable.

The error mapping is checked with stand-in proxies (no broker needed); the broken-connection
detection against real RabbitMQ connections through a :class:`~tests.fault.proxy.TcpProxy` that
the test cuts (the machine's broker is never touched; the vhost is the test's own).
"""
from __future__ import annotations

import socket
import time
from struct import pack

import pytest
from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout

from mosaic import rpc as rpc_module
from mosaic.errors import ServiceUnavailable
from mosaic.rpc import BROKER_RETRY_AFTER, RpcPool, proxy_is_healthy
from tests.conftest import drop_vhost, fresh_vhost
from tests.fault.proxy import TcpProxy


# -- error mapping (stand-in proxies) ------------------------------------------------------------

class _Consumer:
    def __init__(self):
        self.stopped = False
        self.collected = False
        self.connection = self

    def collect(self):
        self.collected = True


class _Listener:
    def __init__(self):
        self.queue_consumer = _Consumer()


class _Standalone:
    """Enough of a ClusterRpcProxy for the pool: ``_proxy.<service>.<method>(...)`` raises ``error``."""

    def __init__(self, error: BaseException | None):
        self.error = error
        self._reply_listener = _Listener()
        self._worker_ctx = type("Ctx", (), {"data": {}})()
        outer = self

        class Method:
            def __getattr__(self, _name):
                def call(*_a, **_kw):
                    if outer.error is not None:
                        raise outer.error
                    return "pong"
                return call

        class Cluster:
            def __getattr__(self, _name):
                return Method()

        self._proxy = Cluster()


def _pool_with(monkeypatch, error: BaseException | None, healthy: bool = True) -> tuple[RpcPool, list]:
    made: list[_Standalone] = []
    pool = RpcPool("amqp://unused", size=2, timeout=0.5)

    def new():
        standalone = _Standalone(error)
        made.append(standalone)
        return standalone

    monkeypatch.setattr(pool, "_new", new)
    # the stand-in's own proxy instead of a real expiring ServiceProxy (tested on RabbitMQ in
    # tests/integration/test_request_log_pg.py)
    monkeypatch.setattr(pool, "_expiring", lambda standalone, service: getattr(standalone._proxy, service))
    monkeypatch.setattr(rpc_module, "proxy_is_healthy", lambda s: healthy and not s._reply_listener.queue_consumer.collected)
    return pool, made


@pytest.mark.parametrize("error", [
    OperationalError("[Errno 111] ECONNREFUSED"),
    ConnectionResetError(104, "reset by peer"),
    RuntimeError("This consumer has been disconnected, and can no longer be used"),
    RpcTimeout(8),
])
def test_a_broker_failure_is_a_503_with_retry_after_and_the_proxy_is_dropped(monkeypatch, error):
    pool, made = _pool_with(monkeypatch, error)
    with pytest.raises(ServiceUnavailable) as caught:
        pool.call("contacts", "ping", None)
    assert caught.value.status == 503
    assert caught.value.extra["retry_after"] == BROKER_RETRY_AFTER
    assert made[0]._reply_listener.queue_consumer.collected  # released, not pooled again
    assert pool._created == 0 and pool._idle.empty()


def test_a_broker_that_refuses_connections_is_a_503(monkeypatch):
    pool = RpcPool("amqp://unused", size=2, timeout=0.5)

    def refuse():
        raise ConnectionRefusedError(111, "ECONNREFUSED")

    monkeypatch.setattr(pool, "_new", refuse)
    with pytest.raises(ServiceUnavailable) as caught:
        pool.call("contacts", "ping", None)
    assert caught.value.extra["retry_after"] == BROKER_RETRY_AFTER
    assert pool._created == 0  # a slot is not lost to a failed connect


def test_a_healthy_proxy_is_reused_and_a_broken_idle_one_is_replaced(monkeypatch):
    pool, made = _pool_with(monkeypatch, None)
    assert pool.call("contacts", "ping", None) == "pong"
    assert pool.call("contacts", "ping", None) == "pong"
    assert len(made) == 1
    made[0]._reply_listener.queue_consumer.collected = True  # its connection went away while idle
    assert pool.call("contacts", "ping", None) == "pong"
    assert len(made) == 2 and pool._created == 1


def test_an_exhausted_pool_answers_503_instead_of_an_error(monkeypatch):
    pool, _made = _pool_with(monkeypatch, None)
    with pool._checkout(), pool._checkout():
        with pytest.raises(ServiceUnavailable) as caught:
            with pool._checkout():
                pass
    assert caught.value.extra["retry_after"] >= 1


# -- broken connections (real RabbitMQ through a proxy the test cuts) ---------------------------

@pytest.fixture
def cut_able_broker():
    vhost = fresh_vhost("mosaic_rpcpool")
    proxy = TcpProxy(("127.0.0.1", 5672)).start()
    try:
        yield proxy, f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}"
    finally:
        proxy.close()
        drop_vhost(vhost)


@pytest.mark.rabbitmq
def test_an_idle_proxy_whose_connection_was_cut_is_unhealthy(cut_able_broker):
    proxy, uri = cut_able_broker
    pool = RpcPool(uri, size=4, timeout=2)
    standalone = pool._new()
    try:
        assert proxy_is_healthy(standalone)
        proxy.cut()
        time.sleep(0.2)  # let the closed stream reach the proxy's socket
        assert not proxy_is_healthy(standalone)
    finally:
        rpc_module.drop_proxy(standalone)


@pytest.mark.rabbitmq
def test_the_pool_answers_503_while_the_broker_is_away_and_recovers_by_itself(cut_able_broker):
    proxy, uri = cut_able_broker
    pool = RpcPool(uri, size=4, timeout=2)
    try:
        with pytest.raises(ServiceUnavailable):  # no service in this vhost: reachable, nobody answers
            pool.call("nobody", "ping", None)
        with pool._checkout():
            pass  # one healthy proxy is pooled now
        proxy.cut()
        time.sleep(0.2)
        with pytest.raises(ServiceUnavailable) as caught:
            pool.call("nobody", "ping", None)
        assert "broker" in caught.value.detail and caught.value.extra["retry_after"] == BROKER_RETRY_AFTER
        assert pool._idle.empty()  # the cut proxy was dropped, not handed out again
        proxy.restore()
        with pool._checkout() as standalone:  # a new connection, made by the pool itself
            assert proxy_is_healthy(standalone)
    finally:
        pool.close()


def test_proxy_health_needs_no_broker_for_a_closed_socket():
    """A socket that was closed reports unhealthy instead of raising."""
    a, b = socket.socketpair()
    b.close()

    class Conn:
        connected = True
        transport = type("T", (), {"driver_type": "amqp"})()
        connection = type("C", (), {"sock": a})()

    standalone = _Standalone(None)
    standalone._reply_listener.queue_consumer.connection = Conn()
    assert not proxy_is_healthy(standalone)  # EOF waits on the socket
    a.close()


def test_an_in_process_broker_proxy_is_healthy_while_connected(memory_broker):
    """The embedded mode's broker has no socket: its proxies are judged by ``connected``."""
    pool = RpcPool(memory_broker, size=1, timeout=1)
    standalone = pool._new()
    try:
        assert proxy_is_healthy(standalone)
    finally:
        rpc_module.drop_proxy(standalone)


def test_without_recorded_spans_a_call_carries_the_current_trace_context(monkeypatch):
    from opentelemetry import context as otel_context

    from mosaic.telemetry import context_from_traceparent

    pool, made = _pool_with(monkeypatch, None)
    monkeypatch.setattr(rpc_module, "recording", lambda: False)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = otel_context.attach(context_from_traceparent(parent))
    try:
        assert pool.call("contacts", "ping", None) == "pong"
    finally:
        otel_context.detach(token)
    assert made[0]._worker_ctx.data["traceparent"] == parent


def test_parallel_calls_carry_the_callers_trace_context(monkeypatch):
    from opentelemetry import context as otel_context

    from mosaic.telemetry import context_from_traceparent

    pool, made = _pool_with(monkeypatch, None)
    monkeypatch.setattr(rpc_module, "recording", lambda: False)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = otel_context.attach(context_from_traceparent(parent))
    try:
        assert pool.call_many([("contacts", "ping"), ("sales", "ping")], None) == ["pong", "pong"]
    finally:
        otel_context.detach(token)
    assert made and all(s._worker_ctx.data["traceparent"] == parent for s in made)


# -- the request frames (byte for byte py-amqp's) ------------------------------------------------

class _Written:
    """A py-amqp transport that keeps what is written to it."""

    def __init__(self):
        self.data = b""

    def write(self, data):
        self.data += bytes(data)


def _py_amqp_frames(channel_id, frame_max, exchange, routing_key, body, headers, correlation_id, reply_to,
                    expiration):
    """What py-amqp writes for the same publish (``Channel.basic_publish``'s method and message)."""
    from types import SimpleNamespace

    import amqp
    from amqp import spec
    from amqp.method_framing import frame_writer
    from amqp.serialization import dumps

    written = _Written()
    write_frame = frame_writer(SimpleNamespace(frame_max=frame_max, bytes_sent=0), written)
    message = amqp.Message(body, content_type="application/json", content_encoding="utf-8",
                           application_headers=headers, delivery_mode=2, priority=0, reply_to=reply_to,
                           correlation_id=correlation_id, expiration=expiration)
    write_frame(1, channel_id, spec.Basic.Publish, dumps("Bssbb", (0, exchange, routing_key, True, False)), message)
    return written.data


_HEADERS = {"nameko.tenant_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "nameko.roles": "admin,sales",
            "nameko.request_id": "r:0f8fad5b:create_record", "nameko.note": "Zoë ✓",
            "nameko.call_id_stack": ["standalone_rpc_proxy.call.1f3c", "second"]}


@pytest.mark.parametrize("body", [b"", b'{"args": ["contact", {"first_name": "Ada"}], "kwargs": {}}',
                                  b'{"args": ["' + b"x" * 10_000 + b'"], "kwargs": {}}'],
                         ids=["empty", "small", "larger-than-a-frame"])
def test_request_frames_are_what_py_amqp_writes(body):
    expected = _py_amqp_frames(3, 4096, "nameko-rpc", "contacts.create_record", body, _HEADERS,
                               "c0rrelation", "rpc.reply-standalone_rpc_proxy-1", "30000")
    built = rpc_module.request_frames(3, 4096, "nameko-rpc", "contacts.create_record", body, "application/json",
                                      "utf-8", rpc_module.header_table(_HEADERS), "c0rrelation",
                                      "rpc.reply-standalone_rpc_proxy-1", "30000")
    assert built == expected


def test_header_table_leaves_other_values_to_py_amqp():
    assert rpc_module.header_table({"nameko.tenant_id": "t", "nameko.count": 3}) is None
    assert rpc_module.header_table({"nameko.call_id_stack": ["a", 1]}) is None
    assert rpc_module.header_table({}) == b"\x00\x00\x00\x00"


def test_a_request_carries_nameko_headers_and_its_json_body():
    from kombu.exceptions import EncodeError
    from nameko.messaging import HeaderEncoder
    from nameko.standalone.rpc import ClusterRpcProxy

    standalone = ClusterRpcProxy({"AMQP_URI": "memory://"}, timeout=1)  # not started: no connection
    standalone._worker_ctx.data = data = {"tenant_id": "t1", "roles": "a,b", "traceparent": "00-ab-cd-01"}
    assert rpc_module._message_headers(standalone, data) == HeaderEncoder().get_message_headers(standalone._worker_ctx)
    assert rpc_module._request_body(("contact", {"a": 1}), {"dedup_policy": "block"}) == (
        "application/json", "utf-8", b'{"args": ["contact", {"a": 1}], "kwargs": {"dedup_policy": "block"}}')
    with pytest.raises(EncodeError):  # as kombu's registry reports it
        rpc_module._request_body((object(),), {})


# -- reading a reply (py-amqp's frames, kombu's decoding) ----------------------------------------

def _reply_frames(channel_id, tag, body, correlation_id, **properties):
    """A reply's basic.deliver, content header and body frames as py-amqp's transport reads them."""
    import amqp
    from amqp.serialization import dumps

    deliver = pack(">HH", 60, 60) + dumps("sLbss", (tag, 7, False, "", "rpc.reply-standalone_rpc_proxy-1"))
    message = amqp.Message(body, content_type="application/json", content_encoding="utf-8",
                           correlation_id=correlation_id, **properties)
    header = pack(">HHQ", 60, 0, len(body)) + message._serialize_properties()
    return [(1, channel_id, deliver), (2, channel_id, header)] + [
        (3, channel_id, body[i:i + 10]) for i in range(0, len(body), 10)]


class _ReplyConsumer:
    """Enough of nameko's polling consumer, its kombu Consumer, channel and connection."""

    def __init__(self, frames):
        from contextlib import nullcontext
        from types import SimpleNamespace

        self.handled = []
        pending = list(frames)
        transport = SimpleNamespace(read_frame=lambda: pending.pop(0), having_timeout=lambda t: nullcontext())
        connection = SimpleNamespace(transport=transport, bytes_recv=0, on_inbound_frame=self.handled.append)
        self.consumer = SimpleNamespace(accept={"application/json"}, _receive_callback=self._kombu_callback)
        self.consumer.channel = SimpleNamespace(channel_id=2, connection=connection,
                                                callbacks={"ctag": self.consumer._receive_callback})
        self.timeout = 5
        self.replies = {}
        self.pending = pending

    def _kombu_callback(self, message):
        raise AssertionError("not called by the reader")


def test_a_reply_is_decoded_into_the_consumers_replies():
    body = b'{"result": {"id": "c1", "name": "Zo\\u00eb"}, "error": null}'
    consumer = _ReplyConsumer(_reply_frames(2, "ctag", body, "corr-1"))
    rpc_module._read_delivery(consumer)
    assert consumer.replies == {"corr-1": ({"result": {"id": "c1", "name": "Zoë"}, "error": None}, None)}
    assert consumer.handled == [] and consumer.pending == []
    assert consumer.consumer.channel.connection.bytes_recv == 2 + 6  # every frame counted, as py-amqp does


@pytest.mark.parametrize("case", ["another channel", "interleaved", "compressed", "another consumer", "no body"])
def test_anything_but_a_plain_reply_goes_to_py_amqp_in_order(case):
    body = b'{"result": 1, "error": null}'
    if case == "another channel":
        frames = _reply_frames(3, "ctag", body, "corr-1")
    elif case == "interleaved":
        frames = _reply_frames(2, "ctag", body, "corr-1")
        frames.insert(2, (1, 1, pack(">HH", 60, 50)))  # basic.return's method on the publish channel
    elif case == "compressed":
        frames = _reply_frames(2, "ctag", body, "corr-1", application_headers={"compression": "zlib"})
    elif case == "another consumer":
        frames = _reply_frames(2, "other", body, "corr-1")
    else:  # a bodyless delivery still reads only its two frames, and is py-amqp's
        frames = _reply_frames(2, "ctag", b"", "corr-1", application_headers={"compression": "zlib"})
    expected = list(frames[:3]) if case == "interleaved" else list(frames)
    consumer = _ReplyConsumer(frames)
    if case == "another channel":
        for _ in frames:
            rpc_module._read_delivery(consumer)
    else:
        rpc_module._read_delivery(consumer)
    assert consumer.handled == expected
    assert consumer.replies == {}


def test_a_reply_of_an_unaccepted_content_type_is_refused_as_kombu_refuses_it():
    from kombu.exceptions import ContentDisallowed

    frames = _reply_frames(2, "ctag", b"x", "corr-1")
    header = frames[1][2].replace(b"application/json", b"application/yaml")
    frames[1] = (2, 2, header)
    with pytest.raises(ContentDisallowed):
        rpc_module._read_delivery(_ReplyConsumer(frames))
