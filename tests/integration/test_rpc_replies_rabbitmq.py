"""RPC replies on the real RabbitMQ (``mosaic.entrypoints``): they go out on one channel the
container keeps, and a channel the broker dropped costs no answer and no container."""
from __future__ import annotations

import socket

import pytest
from nameko.containers import ServiceContainer

from mosaic.entrypoints import FastRpcConsumer, rpc
from mosaic.rpc import RpcPool
from tests.conftest import drop_vhost, fresh_vhost

pytestmark = pytest.mark.rabbitmq


class Echo:
    name = "echo"

    @rpc
    def echo(self, value):
        return value


@pytest.fixture(scope="module")
def stack():
    vhost = fresh_vhost("mosaic_it_replies")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    container = ServiceContainer(Echo, {"AMQP_URI": amqp, "SERIALIZER": "json"})
    container.start()
    rpc_pool = RpcPool(amqp, size=2, timeout=10)
    try:
        yield container, rpc_pool
    finally:
        rpc_pool.close()
        container.stop()
        drop_vhost(vhost)


def replies_of(container):
    consumer = next(ext for ext in container.subextensions if isinstance(ext, FastRpcConsumer))
    return consumer.replies


def test_replies_go_out_on_one_kept_channel(stack):
    container, pool = stack
    assert [pool.call("echo", "echo", None, n) for n in range(5)] == list(range(5))
    kept = replies_of(container)._producer
    assert kept is not None
    assert pool.call("echo", "echo", None, "again") == "again"
    assert replies_of(container)._producer is kept


def test_a_reply_channel_the_broker_dropped_is_replaced_and_the_answer_arrives(stack):
    container, pool = stack
    pool.call("echo", "echo", None, "warm")
    dead = replies_of(container)._producer
    dead.connection.connection.sock.shutdown(socket.SHUT_RDWR)  # as a broker restart would leave it
    answers = [pool.call("echo", "echo", None, n) for n in range(3)]
    assert answers == [0, 1, 2]
    assert replies_of(container)._producer is not dead
    assert not container._died.ready()


def test_a_reply_goes_out_as_kombus_producer_would_send_it(stack):
    from kombu import Connection, Exchange, Producer, Queue

    from mosaic.entrypoints import _send

    container, _pool = stack
    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    with Connection(container.config["AMQP_URI"]) as conn:
        channel = conn.channel()
        queue = Queue("reply-shape-check", exchange=exchange, routing_key="reply-shape-check", auto_delete=True)
        queue(channel).declare()
        properties = {"content_type": "application/json", "content_encoding": "utf-8", "exchange": exchange,
                      "routing_key": "reply-shape-check", "correlation_id": "c-1"}
        body = '{"result": {"name": "Zo\u00eb"}, "error": null}'
        Producer(channel).publish(body, delivery_mode=2, priority=0, retry=False, **properties)
        _send(channel, body, **properties)
        got = [channel.basic_get("reply-shape-check", no_ack=True) for _ in range(2)]
        queue(channel).delete()
    kombus, ours = got
    assert ours.body == kombus.body and ours.body in (body, body.encode())
    assert ours.properties == kombus.properties
    assert ours.delivery_info["exchange"] == kombus.delivery_info["exchange"] == "nameko-rpc"
