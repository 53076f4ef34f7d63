"""PikaPublisher's batch-then-confirms protocol against a scripted stand-in for pika's
SelectConnection (no RabbitMQ here; tests/integration/test_events_rabbitmq.py runs the real one).

The stand-in's ioloop runs queued broker events in order; when nothing is queued the broker
"catches up" (answers what it held back) and only then do timers fire, so a time-out test takes
no real time.
"""
from __future__ import annotations

from collections import deque
from types import SimpleNamespace

import pika
import pytest

from mosaic.events import PikaPublisher, PublishError

TRACEPARENT = "00-" + "5" * 32 + "-" + "6" * 16 + "-01"


class FakeLoop:
    def __init__(self, connection):
        self.connection = connection
        self.ready: deque = deque()
        self.timers: list[list] = []
        self.stopping = False

    def call_later(self, delay, callback):
        timer = [delay, callback]
        self.timers.append(timer)
        return timer

    def remove_timeout(self, timer):
        if timer in self.timers:
            self.timers.remove(timer)

    def stop(self):
        self.stopping = True

    def start(self):
        self.stopping = False
        while not self.stopping:
            if self.ready:
                self.ready.popleft()()
            elif self.connection.catch_up():
                continue
            elif self.timers:
                timer = min(self.timers, key=lambda t: t[0])
                self.timers.remove(timer)
                timer[1]()
            else:
                raise AssertionError("the ioloop would block forever")


class Broker:
    """What the fake connections talk to. Knobs: ``down``, ``nack`` (message ids to refuse),
    ``drop_after`` (lose the connection once this many messages were confirmed in all),
    ``silent`` (never answer), ``multiple`` (hold acks back and answer them in one multiple ack)."""

    def __init__(self):
        self.down = False
        self.nack: set[str] = set()
        self.drop_after: int | None = None
        self.silent = False
        self.multiple = True
        self.connections: list[FakeConnection] = []
        self.received: list[tuple[str, str, dict]] = []  # (routing key, message id, headers)
        self.confirmed_total = 0

    def connect(self, params, on_open_callback, on_open_error_callback, on_close_callback):
        connection = FakeConnection(self, on_open_callback, on_open_error_callback, on_close_callback)
        self.connections.append(connection)
        return connection


class FakeConnection:
    def __init__(self, broker, on_open, on_open_error, on_close):
        self.broker = broker
        self.on_close = on_close
        self.ioloop = FakeLoop(self)
        self.is_open = self.is_closing = self.is_closed = False
        self.channels: list[FakeChannel] = []
        if broker.down:
            self.ioloop.ready.append(lambda: self._terminate(on_open_error, ConnectionRefusedError("down")))
        else:
            self.ioloop.ready.append(lambda: self._open(on_open))

    def _open(self, on_open):
        self.is_open = True
        on_open(self)

    def _terminate(self, callback, reason):
        self.is_open = self.is_closing = False
        self.is_closed = True
        for channel in self.channels:
            channel.closed(reason)
        callback(self, reason)

    def hold(self):
        """Frame coalescing is the real connection's business: nothing to hold here."""

    def release(self):
        """See :meth:`hold`."""

    def channel(self, on_open_callback):
        channel = FakeChannel(self)
        self.channels.append(channel)
        self.ioloop.ready.append(lambda: on_open_callback(channel))

    def close(self):
        self.is_open, self.is_closing = False, True
        self.ioloop.ready.append(lambda: self._terminate(self.on_close, "closed by client"))

    def lose(self):
        """The broker vanishes: queued answers are never read, the close callback reports it."""
        self.ioloop.ready.clear()
        self.held = []
        self._terminate(self.on_close, ConnectionResetError("connection reset by peer"))

    def catch_up(self) -> bool:
        held = [c for c in self.channels if c.held]
        for channel in held:
            channel.answer(channel.held[-1], multiple=True, acked=True)
            channel.held.clear()
        return bool(held)


class FakeChannel:
    def __init__(self, connection):
        self.connection = connection
        self.is_open = True
        self.tag = 0
        self.held: list[int] = []
        self.close_callbacks = []

    def add_on_close_callback(self, callback):
        self.close_callbacks.append(callback)

    def closed(self, reason):
        if self.is_open:
            self.is_open = False
            for callback in self.close_callbacks:
                callback(self, reason)

    def confirm_delivery(self, ack_nack_callback, callback):
        self.on_ack_nack = ack_nack_callback
        self.connection.ioloop.ready.append(lambda: callback(None))

    def exchange_declare(self, exchange, exchange_type, durable, callback):
        self.connection.ioloop.ready.append(lambda: callback(None))

    def answer(self, tag, multiple, acked):
        method = (pika.spec.Basic.Ack if acked else pika.spec.Basic.Nack)(delivery_tag=tag, multiple=multiple)
        self.on_ack_nack(SimpleNamespace(method=method))

    def basic_publish(self, exchange, routing_key, body, properties):
        assert self.is_open and self.connection.is_open
        broker = self.connection.broker
        self.tag += 1
        tag = self.tag
        broker.received.append((routing_key, properties.message_id, dict(properties.headers)))
        if broker.silent:
            return
        if broker.drop_after is not None and broker.confirmed_total >= broker.drop_after:
            self.connection.ioloop.ready.append(self.connection.lose)
            return
        broker.confirmed_total += properties.message_id not in broker.nack
        if properties.message_id in broker.nack:
            self.connection.ioloop.ready.append(lambda: self.answer(tag, multiple=False, acked=False))
        elif broker.multiple:
            self.held.append(tag)
        else:
            self.connection.ioloop.ready.append(lambda: self.answer(tag, multiple=False, acked=True))


@pytest.fixture
def broker(monkeypatch):
    fake = Broker()
    monkeypatch.setattr(PikaPublisher, "connection_class", staticmethod(fake.connect))
    return fake


@pytest.fixture
def publisher(broker):
    pub = PikaPublisher("amqp://guest:guest@127.0.0.1:5672/", "test_c.events", confirm_timeout=5)
    yield pub
    pub.close()


def ids(envs):
    return [e["id"] for e in envs]


def test_a_batch_goes_out_whole_in_order_and_returns_once_confirmed(broker, publisher, make_env):
    envs = [make_env(record_id=f"r{i}") for i in range(200)]  # past PUMP_EVERY: pumped mid-batch
    publisher.publish(envs, [TRACEPARENT] * len(envs))
    publisher.publish(envs[:3])
    assert [m for _, m, _ in broker.received] == ids(envs) + ids(envs[:3])
    assert len(broker.connections) == 1
    # each message carries its own producer span's context, in the row's trace
    headers = broker.received[0][2]
    assert headers["tenant_id"] == "t1" and headers["traceparent"].split("-")[1] == "5" * 32


def test_single_acks_work_as_well_as_multiple(broker, publisher, make_env):
    broker.multiple = False
    publisher.publish([make_env(), make_env()])
    assert len(broker.received) == 2


def test_a_nack_names_exactly_the_confirmed_ones_and_the_channel_stays(broker, publisher, make_env):
    envs = [make_env(record_id=f"r{i}") for i in range(5)]
    broker.nack = {envs[1]["id"], envs[3]["id"]}
    with pytest.raises(PublishError) as info:
        publisher.publish(envs)
    assert info.value.confirmed == [0, 2, 4]
    assert info.value.published == 3
    broker.nack = set()
    publisher.publish(envs[1:2])
    assert len(broker.connections) == 1


def test_connection_lost_mid_batch_keeps_the_confirmed_prefix_then_reconnects(broker, publisher, make_env):
    envs = [make_env(record_id=f"r{i}") for i in range(6)]
    broker.multiple = False
    broker.drop_after = 3
    with pytest.raises(PublishError) as info:
        publisher.publish(envs)
    assert info.value.confirmed == [0, 1, 2]
    broker.drop_after = None
    publisher.publish(envs[3:])  # a new connection, whose delivery tags start again at 1
    assert len(broker.connections) == 2
    assert [m for _, m, _ in broker.received][-3:] == ids(envs[3:])


def test_broker_outage_fails_fast_and_the_publisher_comes_back_by_itself(broker, publisher, make_env):
    broker.down = True
    for _ in range(2):
        with pytest.raises(PublishError) as info:
            publisher.publish([make_env()])
        assert info.value.confirmed == []
    broker.down = False
    after = make_env(record_id="after")
    publisher.publish([after])
    assert [m for _, m, _ in broker.received] == [after["id"]]
    assert len(broker.connections) == 3


def test_no_confirms_within_the_timeout_is_a_failure_and_a_fresh_start(broker, publisher, make_env):
    broker.silent = True
    with pytest.raises(PublishError) as info:
        publisher.publish([make_env(), make_env()])
    assert info.value.confirmed == [] and "unconfirmed" in str(info.value)
    assert broker.connections[0].is_closed  # late confirms cannot be mistaken for the next batch's
    broker.silent = False
    publisher.publish([make_env()])
    assert len(broker.connections) == 2


def test_keepalive_drops_a_dead_connection_for_the_next_publish(broker, publisher, make_env):
    publisher.publish([make_env()])
    publisher.keepalive()
    assert len(broker.connections) == 1 and broker.connections[0].is_open
    broker.connections[0].lose()
    publisher.keepalive()
    publisher.publish([make_env()])
    assert len(broker.connections) == 2


def test_nothing_to_publish_opens_nothing(broker, publisher):
    publisher.publish([])
    assert broker.connections == []


def test_two_batches_in_flight_each_get_their_own_confirms(broker, publisher, make_env):
    first = [make_env(record_id=f"a{i}") for i in range(3)]
    second = [make_env(record_id=f"b{i}") for i in range(4)]
    broker.nack = {second[1]["id"]}
    one, two = publisher.send(first), publisher.send(second)
    publisher.wait(one)  # a multiple ack reaching into the second batch settles only its own part here
    with pytest.raises(PublishError) as info:
        publisher.wait(two)
    assert info.value.confirmed == [0, 2, 3]
    assert [m for _, m, _ in broker.received] == ids(first) + ids(second)


def test_a_lost_connection_fails_every_batch_in_flight_with_its_own_confirmed(broker, publisher, make_env):
    first = [make_env(record_id=f"a{i}") for i in range(3)]
    second = [make_env(record_id=f"b{i}") for i in range(3)]
    broker.multiple = False
    broker.drop_after = 4  # the first batch and one of the second are confirmed, then the broker goes
    one, two = publisher.send(first), publisher.send(second)
    publisher.wait(one)
    with pytest.raises(PublishError) as info:
        publisher.wait(two)
    assert info.value.confirmed == [0]
    broker.drop_after = None
    publisher.publish(second[1:])
    assert len(broker.connections) == 2


def test_a_batch_sent_on_a_connection_since_replaced_is_reported_unconfirmed(broker, publisher, make_env):
    broker.silent = True
    stale = publisher.send([make_env()])
    with pytest.raises(PublishError):
        publisher.publish([make_env()])  # times out and drops the connection both were sent on
    with pytest.raises(PublishError) as info:
        publisher.wait(stale)
    assert info.value.confirmed == [] and "connection reset" in str(info.value)
