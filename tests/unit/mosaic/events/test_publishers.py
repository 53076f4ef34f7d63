"""Publishers: the kombu one over the in-process memory:// broker, and the choice by URI."""
from __future__ import annotations

import json
import uuid

import pytest
from kombu import Connection, Exchange, Queue

from mosaic.config import Settings
from mosaic.events import KombuPublisher, PikaPublisher, make_publisher, message_properties

TRACEPARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"


@pytest.fixture
def memory_queue():
    """A fresh exchange + queue (bound with ``#``) on kombu's memory transport; yields
    ``(exchange_name, get_all)`` where ``get_all()`` returns the messages waiting."""
    name = f"test_c.{uuid.uuid4().hex}"
    exchange = Exchange(f"{name}.events", type="topic", durable=True)
    queue = Queue(f"{name}.q", exchange=exchange, routing_key="#")
    with Connection("memory://") as conn:
        queue(conn.channel()).declare()

        def get_all():
            out = []
            simple = conn.SimpleQueue(queue)
            while True:
                try:
                    message = simple.get(block=False)
                except simple.Empty:
                    return out
                message.ack()
                out.append(message)

        yield exchange.name, get_all
        queue(conn.channel()).delete()


def test_kombu_publisher_delivers_body_and_properties(memory_queue, make_env):
    exchange, get_all = memory_queue
    publisher = KombuPublisher("memory://", exchange)
    envs = [make_env(record_id="a"), make_env(record_id="b", type="contact.updated")]
    publisher.publish(envs, [TRACEPARENT, None])
    publisher.close()
    messages = get_all()
    assert [json.loads(m.body) for m in messages] == envs
    assert [m.delivery_info["routing_key"] for m in messages] == ["contact.created", "contact.updated"]
    first = messages[0]
    assert first.properties["message_id"] == envs[0]["id"]
    assert first.content_type == "application/json"
    assert first.headers["tenant_id"] == "t1"
    # The producer span continues the row's trace, and its context travels in the header.
    assert first.headers["traceparent"].split("-")[1] == "1" * 32
    assert first.properties["delivery_mode"] == 2


def test_producer_spans_are_recorded(memory_queue, make_env):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from mosaic.telemetry import setup_telemetry

    exporter = InMemorySpanExporter()
    setup_telemetry(Settings(), "test_c", exporter=exporter)
    exchange, get_all = memory_queue
    env = make_env()
    KombuPublisher("memory://", exchange).publish([env], [TRACEPARENT])
    [message] = get_all()
    spans = [s for s in exporter.get_finished_spans() if s.name == "event publish contact.created"]
    assert spans, "no producer span recorded"
    produced = spans[-1]
    assert produced.kind.name == "PRODUCER"
    assert format(produced.context.trace_id, "032x") == "1" * 32
    assert message.headers["traceparent"].split("-")[2] == format(produced.context.span_id, "016x")


def test_message_properties_are_shared(make_env):
    env = make_env()
    assert message_properties(env) == {
        "message_id": env["id"], "content_type": "application/json", "content_encoding": "utf-8",
        "headers": {"tenant_id": "t1", "event_type": "contact.created"}}


def test_make_publisher_chooses_by_scheme():
    assert isinstance(make_publisher("memory://"), KombuPublisher)
    amqp = make_publisher("amqp://guest:guest@127.0.0.1:5672/", "test_c.events")
    assert isinstance(amqp, PikaPublisher) and amqp.exchange == "test_c.events"
    settings = Settings(amqp_uri="memory://")
    assert isinstance(make_publisher(settings), KombuPublisher)
    with pytest.raises(ValueError):
        make_publisher("redis://127.0.0.1")
