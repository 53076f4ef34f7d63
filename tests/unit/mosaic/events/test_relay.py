"""The relay on SQLite: publishes each outbox row, keeps failures unpublished, shares safely."""
from __future__ import annotations

import json
import threading
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import select

from mosaic.db import make_engine, system_session
from mosaic.events import KombuPublisher, OutboxEvent, PublishError, Relay


class FlakyPublisher(KombuPublisher):
    """A real memory:// publisher whose broker 'fails' on the n-th message of its life."""

    def __init__(self, uri, exchange, fail_at):
        super().__init__(uri, exchange)
        self.fail_at = fail_at
        self.sent = 0

    def _send(self, routing_key, body, props):
        self.sent += 1
        if self.sent == self.fail_at:
            raise ConnectionError("broker went away")
        super()._send(routing_key, body, props)


@pytest.fixture
def broker():
    """An exchange and a bound queue on memory://; ``received()`` drains and returns event ids."""
    name = f"test_c.{uuid.uuid4().hex}"
    exchange = Exchange(f"{name}.events", type="topic", durable=True)
    queue = Queue(f"{name}.q", exchange=exchange, routing_key="#")
    conn = Connection("memory://")
    queue(conn.channel()).declare()
    simple = conn.SimpleQueue(queue)

    def received():
        ids = []
        while True:
            try:
                message = simple.get(block=False)
            except simple.Empty:
                return ids
            message.ack()
            ids.append(json.loads(message.body)["id"])

    yield exchange.name, received
    queue(conn.channel()).delete()
    conn.release()


def _published(engine):
    with system_session(engine) as session:
        return {r.id: r.published_at for r in session.scalars(select(OutboxEvent))}


def test_run_once_publishes_in_seq_order_and_marks(engine, add_events, broker):
    exchange, received = broker
    envs = add_events(7)
    relay = Relay(engine, KombuPublisher("memory://", exchange), batch=5)
    assert relay.run_once() == 5
    assert relay.run_once() == 2
    assert relay.run_once() == 0
    assert received() == [e["id"] for e in envs]
    assert all(_published(engine).values())


def test_partial_failure_marks_only_what_was_confirmed(engine, add_events, broker):
    exchange, received = broker
    envs = add_events(5)
    relay = Relay(engine, FlakyPublisher("memory://", exchange, fail_at=3))
    with pytest.raises(PublishError) as info:
        relay.run_once()
    assert info.value.published == 2
    published = _published(engine)
    assert [bool(published[e["id"]]) for e in envs] == [True, True, False, False, False]
    # The next round picks up exactly the rest.
    assert relay.run_once() == 3
    assert received() == [e["id"] for e in envs]


class RefusingPublisher(KombuPublisher):
    """Sends the whole batch, then reports that the broker refused the envelopes at ``refused``."""

    def __init__(self, uri, exchange, refused):
        super().__init__(uri, exchange)
        self.refused = refused

    def publish(self, envelopes, traceparents=None):
        super().publish(envelopes, traceparents)
        if self.refused:
            confirmed = [i for i in range(len(envelopes)) if i not in self.refused]
            raise PublishError("nack", confirmed=confirmed)


def test_exactly_the_confirmed_rows_are_marked_even_past_a_nack(engine, add_events, broker):
    exchange, received = broker
    envs = add_events(5)
    publisher = RefusingPublisher("memory://", exchange, refused={1, 3})
    relay = Relay(engine, publisher)
    with pytest.raises(PublishError):
        relay.run_once()
    published = _published(engine)
    assert [bool(published[e["id"]]) for e in envs] == [True, False, True, False, True]
    publisher.refused = set()
    assert relay.run_once() == 2  # the refused ones, in seq order
    ids = [e["id"] for e in envs]
    assert received() == ids + [ids[1], ids[3]]


def test_crash_before_marking_leaves_rows_for_the_next_round(engine, add_events, broker, monkeypatch):
    exchange, received = broker
    envs = add_events(3)
    relay = Relay(engine, KombuPublisher("memory://", exchange))

    def crash(session, rows):
        raise RuntimeError("killed between publish and commit")

    monkeypatch.setattr(relay, "_mark_published", crash)
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert not any(_published(engine).values())
    monkeypatch.undo()
    assert relay.run_once() == 3
    ids = [e["id"] for e in envs]
    assert received() == ids + ids  # at least once: republished, consumers dedup by id


def test_run_forever_relays_until_stopped(engine, add_events, broker):
    exchange, received = broker
    envs = add_events(3)
    relay = Relay(engine, KombuPublisher("memory://", exchange), interval=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,))
    thread.start()
    try:
        got = []
        for _ in range(500):
            got += received()
            if len(got) >= 3:
                break
            stop.wait(0.01)
    finally:
        relay.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert stop.is_set()
    assert got == [e["id"] for e in envs]


def test_run_forever_survives_errors(engine, add_events, broker):
    exchange, received = broker
    envs = add_events(2)
    relay = Relay(engine, FlakyPublisher("memory://", exchange, fail_at=1), interval=0.01, max_backoff=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,))
    thread.start()
    try:
        for _ in range(500):
            if all(_published(engine).values()):
                break
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(10)
    assert received() == [e["id"] for e in envs]


def test_two_relays_on_one_sqlite_file_publish_each_row_once(engine, add_events, broker, tmp_path):
    exchange, received = broker
    envs = add_events(200)
    url = str(engine.url)
    relays = [Relay(make_engine(url, "c"), KombuPublisher("memory://", exchange), batch=20)
              for _ in range(2)]
    errors = []

    def drain(relay):
        try:
            while relay.run_once():
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(r,)) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    ids = received()
    assert sorted(ids) == sorted(e["id"] for e in envs)
    assert len(ids) == len(set(ids))


def test_batch_must_be_positive(engine):
    with pytest.raises(ValueError):
        Relay(engine, KombuPublisher("memory://"), batch=0)
