"""What a service's RPC answers for failures that are not its own errors (``mosaic.entrypoints``)."""
from __future__ import annotations

import sys

from nameko.rpc import get_rpc_exchange
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mosaic.entrypoints import FastResponder, ReplyChannel, ReplyPublisher, typed_exc_info
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
