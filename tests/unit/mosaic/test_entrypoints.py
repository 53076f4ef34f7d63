"""A service's RPC entrypoint (``mosaic.entrypoints``): what it answers for failures that are not
its own errors, how it checks and routes a request, and a reply it cannot send."""
from __future__ import annotations

import functools
import inspect
import socket
import sys

import pytest
from nameko.containers import ServiceContainer
from nameko.exceptions import IncorrectSignature, MethodNotFound
from nameko.rpc import get_rpc_exchange
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mosaic.entrypoints import FastResponder, ReplyChannel, ReplyPublisher, rpc, typed_exc_info
from mosaic.errors import ServiceUnavailable


def exc_info_of(exc: BaseException):
    try:
        raise exc
    except BaseException:
        return sys.exc_info()


def test_a_worker_that_got_no_database_connection_in_time_answers_503():
    cls, exc, _tb = typed_exc_info(exc_info_of(PoolTimeout("QueuePool limit of size 20 overflow 10 reached")))
    assert cls is ServiceUnavailable and isinstance(exc, ServiceUnavailable)
    assert exc.extra == {"reason": "database_busy", "retry_after": 1}
    assert isinstance(exc.__cause__, PoolTimeout)


def test_other_failures_are_answered_as_they_are():
    info = exc_info_of(ValueError("a bug"))
    assert typed_exc_info(info) is info
    assert typed_exc_info(None) is None


class _Request:
    """What a responder reads of the request it answers."""

    properties = {"content_type": "application/json", "reply_to": "rpc.reply-caller-1", "correlation_id": "c1"}


class _NoRetries(ReplyPublisher):
    transport_options = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
    retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}


def test_a_reply_that_cannot_be_sent_anywhere_is_logged_not_raised(monkeypatch, caplog):
    monkeypatch.setattr(FastResponder, "publisher_cls", _NoRetries)
    replies = ReplyChannel("amqp://guest:guest@127.0.0.1:1//")  # nothing listens there
    responder = FastResponder(replies, get_rpc_exchange({}), "json", _Request())
    assert responder.send_response({"id": 1}, None) == ({"id": 1}, None)
    assert "could not send the reply to rpc.reply-caller-1" in caplog.text
    assert replies._producer is None  # the next reply tries to open a channel again


def _takes_anything(fn):
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    return wrapper


class Signatures:
    name = "sig"

    @rpc
    def create(self, object_name, payload, *, dry_run=False):
        return None

    @rpc
    @_takes_anything
    def wrapped(self, object_name):
        return None


def _entrypoint(container, method):
    found = next(ep for ep in container.entrypoints if ep.method_name == method)
    found.setup()
    return found


def test_requests_are_checked_against_the_methods_signature_in_nameko_s_words():
    container = ServiceContainer(Signatures, {"AMQP_URI": "memory://"})
    create = _entrypoint(container, "create")
    create.check_signature(["contact", {}], {})
    create.check_signature(["contact"], {"payload": {}, "dry_run": True})
    with pytest.raises(IncorrectSignature) as refused:
        create.check_signature(["contact"], {})
    with pytest.raises(TypeError) as nameko_says:
        inspect.getcallargs(Signatures.create, None, "contact")
    assert str(refused.value) == str(nameko_says.value)
    with pytest.raises(IncorrectSignature):
        create.check_signature(["contact", {}], {"colour": "red"})
    # as in nameko, a wrapper taking *args is checked as it is, not as what it wraps
    _entrypoint(container, "wrapped").check_signature([1, 2, 3], {"more": 4})


def test_a_request_finds_its_method_by_routing_key_and_an_unknown_one_is_refused():
    container = ServiceContainer(Signatures, {"AMQP_URI": "memory://"})
    create = _entrypoint(container, "create")
    consumer = create.rpc_consumer
    assert consumer.get_provider_for_method("sig.create") is create
    assert consumer.get_provider_for_method("sig.create") is create  # remembered
    with pytest.raises(MethodNotFound):
        consumer.get_provider_for_method("sig.delete")


def test_a_container_stopped_before_it_started_has_no_reply_channel_to_close():
    container = ServiceContainer(Signatures, {"AMQP_URI": "memory://"})
    consumer = next(iter(container.entrypoints)).rpc_consumer
    consumer.stop()
    consumer.kill()


class _Connection:
    """What ``_send`` asks of a py-amqp connection."""

    def __init__(self, transport, blocked_notices=True):
        self.transport = transport
        self.client_properties = {"capabilities": {"connection.blocked": blocked_notices}}
        self.drained = 0

    def drain_events(self, timeout=None):
        assert timeout == 0
        self.drained += 1
        raise socket.timeout()


class _Channel:
    def __init__(self, connection):
        self.connection = connection
        self.sent = []

    def send_method(self, sig, argsig, args, message):
        self.sent.append((sig, argsig, args, message))


def test_a_reply_reads_what_the_broker_sent_only_when_something_waits():
    from amqp import spec
    from amqp.transport import TCPTransport
    from kombu import Exchange

    from mosaic.entrypoints import _send

    ours, broker = socket.socketpair()
    try:
        transport = TCPTransport("127.0.0.1:5672")
        transport.sock = ours
        connection = _Connection(transport)
        channel = _Channel(connection)
        properties = {"content_type": "application/json", "content_encoding": "utf-8",
                      "exchange": Exchange("nameko-rpc"), "routing_key": "rpc.reply-1", "correlation_id": "c1"}
        _send(channel, '{"result": 1, "error": null}', **properties)
        assert connection.drained == 0  # nothing sent by the broker: nothing to read
        [(sig, argsig, args, message)] = channel.sent
        assert (sig, argsig, args) == (spec.Basic.Publish, "Bssbb", (0, "nameko-rpc", "rpc.reply-1", False, False))
        assert message.body == b'{"result": 1, "error": null}'
        assert message.properties == {"priority": 0, "content_type": "application/json", "content_encoding": "utf-8",
                                      "application_headers": {}, "delivery_mode": 2, "correlation_id": "c1"}
        broker.sendall(b"\x08")  # a frame begins (a blocked notice, a channel closed): read it first
        _send(channel, b"{}", **properties)
        assert connection.drained == 1
        ours.recv(1)  # (the fake drain read nothing)
        transport._read_buffer = b"\x01"  # left over from an earlier read
        _send(channel, b"{}", **properties)
        assert connection.drained == 2
        no_notices = _Connection(transport, blocked_notices=False)  # py-amqp reads only for those
        _send(_Channel(no_notices), b"{}", **properties)
        assert no_notices.drained == 0
    finally:
        ours.close()
        broker.close()
