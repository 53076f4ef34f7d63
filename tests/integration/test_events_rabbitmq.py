"""Outbox -> relay -> RabbitMQ -> idempotent consumers, against the real PostgreSQL and RabbitMQ.

Database ``mosaic_test_c`` (schema ``mosaic_c``); exchanges and queues are named ``test_c.<random>``
and deleted afterwards. The nameko scenarios run in a child process (this file run as a script)
because nameko needs eventlet's monkey patching, which must not leak into the pytest process.
"""
if __name__ == "__main__":  # the child process: green everything before anything opens a socket
    import eventlet

    eventlet.monkey_patch()

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

import pika
import pytest
from sqlalchemy import Integer, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mosaic.db import Base, TenantScoped, make_engine, system_session, tenant_session
from mosaic.events import (OutboxEvent, PikaPublisher, ProcessedEvent, PublishError, Relay,
                           apply_once, domain_events, emit, make_envelope)
from mosaic.localdev import ensure_database, checkout_database

PG_URL = os.environ.get("MOSAIC_TEST_C_PG", "postgresql://postgres@127.0.0.1:5432/" + checkout_database("mosaic_test_c"))
AMQP_URI = os.environ.get("MOSAIC_TEST_C_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
TRACEPARENT = "00-" + "3" * 32 + "-" + "4" * 16 + "-01"

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


class _TestBase(DeclarativeBase):
    """Apart from mosaic.db.Base so the test table never reaches other schemas."""


class Tally(TenantScoped, _TestBase):
    """The 'change' of a test: how many times each record's event was applied."""

    __tablename__ = "test_c_tally"

    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


def increment(session, envelope) -> None:
    """Handler: count one application of ``envelope`` for its record."""
    row = session.get(Tally, envelope["record_id"])
    if row is None:
        session.add(Tally(record_id=envelope["record_id"], count=1))
    else:
        row.count += 1


def make_env(**overrides) -> dict:
    """Envelope factory with overrides."""
    args = {"type": "contact.created", "tenant_id": "t1", "actor": "user:u1", "object": "contact",
            "record_id": "r1", "data": {"name": "Ada"}, "version": 1}
    args.update(overrides)
    return make_envelope(**args)


def tallies(engine) -> dict:
    with system_session(engine) as session:
        return {t.record_id: t.count for t in session.scalars(select(Tally))}


def unpublished(engine) -> int:
    with system_session(engine) as session:
        return len(session.scalars(select(OutboxEvent.seq).where(OutboxEvent.published_at.is_(None))).all())


def wait_until(predicate, deadline: float = 30.0, step: float = 0.02):
    """Poll ``predicate`` until true (fails the test past ``deadline``; never asserts on time)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached")


def write_events(engine, n: int, **overrides) -> list[dict]:
    envs = [make_env(**{"record_id": f"r{i}", **overrides}) for i in range(n)]
    with system_session(engine) as session:
        for env in envs:
            emit(session, env)
        session.commit()
    return envs


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg():
    """Engine on mosaic_test_c / schema mosaic_c with fresh outbox, processed_events, tally."""
    server, name = PG_URL.rsplit("/", 1)
    ensure_database(name, server)
    engine = make_engine(PG_URL, "c")
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS mosaic_c"))
    tables = [OutboxEvent.__table__, ProcessedEvent.__table__]
    Base.metadata.drop_all(engine, tables=tables)
    _TestBase.metadata.drop_all(engine)
    Base.metadata.create_all(engine, tables=tables)
    _TestBase.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(pg):
    """The engine, with empty tables for this test."""
    with pg.begin() as conn:
        conn.execute(text("TRUNCATE outbox, processed_events, test_c_tally RESTART IDENTITY"))
    return pg


class Rabbit:
    """A test exchange and a durable queue bound with ``#``, read with basic_get."""

    def __init__(self):
        name = f"test_c.{uuid.uuid4().hex[:12]}"
        self.exchange = f"{name}.events"
        self.queue = f"{name}.q"
        self.extra_queues: list[str] = []
        self.connection = pika.BlockingConnection(pika.URLParameters(AMQP_URI))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        self.channel.queue_declare(self.queue, durable=True)
        self.channel.queue_bind(self.queue, self.exchange, routing_key="#")

    def drain(self, queue: str | None = None) -> list[tuple[pika.spec.BasicProperties, dict]]:
        """Every message waiting on the queue, acked, in order."""
        out = []
        while True:
            method, props, body = self.channel.basic_get(queue or self.queue, auto_ack=False)
            if method is None:
                return out
            self.channel.basic_ack(method.delivery_tag)
            out.append((props, json.loads(body)))

    def close(self):
        for queue in [self.queue, *self.extra_queues]:
            self.channel.queue_delete(queue)
        self.channel.exchange_delete(self.exchange)
        self.connection.close()


@pytest.fixture
def rabbit():
    broker = Rabbit()
    yield broker
    broker.close()


@pytest.fixture
def start_relay(db, rabbit):
    """``start_relay(**kw)`` runs a Relay in a thread; ``stop()`` on the result joins it."""
    running = []

    def start(uri: str = AMQP_URI, **kwargs):
        relay = Relay(db, PikaPublisher(uri, rabbit.exchange), interval=0.02, **kwargs)
        stop = threading.Event()
        thread = threading.Thread(target=relay.run_forever, args=(stop,), daemon=True)
        thread.start()

        def halt():
            stop.set()
            thread.join(30)
            assert not thread.is_alive()

        relay.halt = halt
        running.append(relay)
        return relay

    yield start
    for relay in running:
        relay.halt()


# -- scenarios ---------------------------------------------------------------------------------

def test_a_change_and_its_event_commit_together_and_arrive_once(db, rabbit, start_relay):
    env = make_env(record_id="r1")
    with tenant_session(db, "t1") as session:
        session.add(Tally(record_id="r1", count=0))
        emit(session, env, traceparent=TRACEPARENT)
        session.commit()
    with tenant_session(db, "t1") as session:  # a rolled-back change leaves no event either
        session.add(Tally(record_id="r2", count=0))
        emit(session, make_env(record_id="r2"))
        session.rollback()
    assert rabbit.drain() == []  # no relay yet: nothing left the database

    relay = start_relay()
    wait_until(lambda: unpublished(db) == 0)
    relay.halt()
    [(props, body)] = rabbit.drain()
    assert body == env
    assert props.message_id == env["id"]
    assert props.delivery_mode == 2
    assert props.content_type == "application/json"
    assert props.headers["tenant_id"] == "t1"
    assert props.headers["traceparent"].split("-")[1] == "3" * 32


def test_b_events_written_while_the_relay_is_down_arrive_once_in_order(db, rabbit, start_relay):
    first = start_relay()
    first.halt()
    envs = write_events(db, 50)
    assert unpublished(db) == 50
    start_relay()
    wait_until(lambda: unpublished(db) == 0)
    ids = [body["id"] for _, body in rabbit.drain()]
    assert ids == [e["id"] for e in envs]


def test_c_crash_between_publish_and_commit_republishes_and_apply_once_dedups(db, rabbit, monkeypatch):
    envs = write_events(db, 50)
    relay = Relay(db, PikaPublisher(AMQP_URI, rabbit.exchange))

    def crash(session, rows):
        raise RuntimeError("relay killed after publishing, before marking")

    monkeypatch.setattr(relay, "_mark_published", crash)
    with pytest.raises(RuntimeError):
        relay.run_once()
    assert unpublished(db) == 50
    monkeypatch.undo()
    assert relay.run_once() == 50  # the restarted relay
    relay.publisher.close()

    delivered = [body for _, body in rabbit.drain()]
    assert len(delivered) == 100  # every event twice: at least once
    applied = [apply_once(db, "tally", env, increment) for env in delivered]
    assert applied.count(True) == 50
    assert tallies(db) == {e["record_id"]: 1 for e in envs}


def test_e_two_relays_side_by_side_publish_each_row_exactly_once(db, rabbit):
    envs = write_events(db, 500)
    relays = [Relay(make_engine(PG_URL, "c"), PikaPublisher(AMQP_URI, rabbit.exchange), batch=50)
              for _ in range(2)]
    counts: list[int] = []
    errors: list[BaseException] = []

    def drain(relay):
        try:
            while (n := relay.run_once()):
                counts.append(n)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            relay.publisher.close()
            relay.engine.dispose()

    threads = [threading.Thread(target=drain, args=(r,)) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    # One relay may finish while the other still holds its last batch; finish any leftovers.
    Relay(db, PikaPublisher(AMQP_URI, rabbit.exchange)).run_once()
    ids = [props.message_id for props, _ in rabbit.drain()]
    assert len(ids) == 500
    assert set(ids) == {e["id"] for e in envs}


@pytest.fixture
def refusing_deals(rabbit):
    """A queue bound to ``deal.*`` that refuses every message: the broker nacks deal events."""
    full = f"{rabbit.queue}.full"
    rabbit.channel.queue_declare(full, durable=True, arguments={"x-max-length": 0,
                                                                "x-overflow": "reject-publish"})
    rabbit.channel.queue_bind(full, rabbit.exchange, routing_key="deal.*")
    rabbit.extra_queues.append(full)
    return full


def test_pika_publisher_raises_on_nack_and_names_what_was_confirmed(db, rabbit, refusing_deals):
    publisher = PikaPublisher(AMQP_URI, rabbit.exchange)
    ok, refused, later = make_env(), make_env(type="deal.won", object="deal"), make_env(record_id="r2")
    with pytest.raises(PublishError) as info:
        publisher.publish([ok, refused, later])
    # The batch went out whole; the broker confirmed the first and the third.
    assert info.value.confirmed == [0, 2]
    # The channel survives a nack, and unroutable messages are fine.
    publisher.publish([make_env(type="nobody.listens")])
    publisher.close()
    publisher.publish([make_env(record_id="after-close")])  # reconnects
    publisher.close()
    # The nacked message still reached the '#' queue (a nack means "not every queue took it").
    assert [(b["type"], b["record_id"]) for _, b in rabbit.drain()] == [
        ("contact.created", "r1"), ("deal.won", "r1"), ("contact.created", "r2"),
        ("nobody.listens", "r1"), ("contact.created", "after-close")]


def test_relay_keeps_rows_when_the_broker_refuses_them(db, rabbit, refusing_deals):
    write_events(db, 2)
    write_events(db, 1, type="deal.won", object="deal")
    relay = Relay(db, PikaPublisher(AMQP_URI, rabbit.exchange))
    with pytest.raises(PublishError):
        relay.run_once()
    relay.publisher.close()
    assert unpublished(db) == 1
    assert [b["type"] for _, b in rabbit.drain()] == ["contact.created", "contact.created", "deal.won"]


class BrokerProxy:
    """A TCP proxy on 127.0.0.1 in front of RabbitMQ, so a test can make the broker vanish for
    its client without touching the shared server. ``down`` refuses new connections (accepts and
    closes them); ``cut_after`` forwards that many client bytes of the next connection, passes on
    the broker's next answer (confirms of what it got), then cuts the connection both ways: what a
    broker crash mid-batch looks like to the publisher."""

    def __init__(self, upstream=("127.0.0.1", 5672)):
        self.upstream = upstream
        self.down = False
        self.cut_after: int | None = None
        self.refused = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.listener.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                self.refused += 1
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            budget, self.cut_after = self.cut_after, None
            cut, ended = threading.Event(), threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, budget, cut, ended), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, cut, ended), daemon=True).start()

    @staticmethod
    def _end(*socks):
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _upstream(self, client, server, budget, cut, ended):
        try:
            while (data := client.recv(65536)):
                if cut.is_set():
                    continue  # swallowed: never reaches the broker, but the client's writes succeed
                if budget is not None:
                    data, budget = data[:budget], budget - len(data)
                server.sendall(data)
                if budget is not None and budget <= 0:
                    cut.set()
        except (OSError, EOFError):  # the other direction closed this socket (green sockets say EOF)
            pass
        ended.wait(10)
        self._end(client, server)

    def _downstream(self, server, client, cut, ended):
        try:
            while (data := server.recv(65536)):
                client.sendall(data)
                if cut.is_set():
                    # The broker's answer to what it got (its confirms) went back first; now an
                    # end of stream: the client reads both in order, then sees the broker vanish.
                    client.shutdown(socket.SHUT_WR)
                    break
        except (OSError, EOFError):
            pass
        ended.set()
        server.close()

    def close(self):
        self.listener.close()


@pytest.fixture
def proxy():
    broker = BrokerProxy()
    yield broker
    broker.close()


def published_ids(engine) -> set[str]:
    with system_session(engine) as session:
        return set(session.scalars(select(OutboxEvent.id).where(OutboxEvent.published_at.is_not(None))))


def test_connection_lost_mid_batch_marks_only_what_the_broker_confirmed(db, rabbit, proxy):
    envs = write_events(db, 400)
    relay = Relay(db, PikaPublisher(proxy.uri, rabbit.exchange), batch=400)
    # The handshake takes well under 4 kB and the 400 messages some 200 kB: the cut falls mid-batch.
    proxy.cut_after = 60_000
    with pytest.raises(PublishError):
        relay.run_once()
    marked = published_ids(db)
    queued = [props.message_id for props, _ in rabbit.drain()]
    assert marked <= set(queued)  # whatever was marked, the broker had confirmed (so it is queued)
    assert 0 < len(marked) < 400  # the head was confirmed; the tail never reached the broker
    assert relay.run_once() == 400 - len(marked)  # the same publisher reconnects by itself
    relay.publisher.close()
    assert unpublished(db) == 0
    second = [props.message_id for props, _ in rabbit.drain()]
    all_ids = [e["id"] for e in envs]
    assert set(queued) | set(second) == set(all_ids)  # at least once, none lost
    assert second == [i for i in all_ids if i not in marked]  # the rest, again in seq order


def test_drain_overlaps_batches_and_keeps_seq_order(db, rabbit):
    envs = write_events(db, 1234)
    relay = Relay(db, PikaPublisher(AMQP_URI, rabbit.exchange), batch=100)
    assert relay.drain() == 1234
    relay.publisher.close()
    assert unpublished(db) == 0
    assert [props.message_id for props, _ in rabbit.drain()] == [e["id"] for e in envs]


def test_drain_losing_the_connection_marks_only_confirmed_rows_of_every_batch_in_flight(db, rabbit, proxy):
    envs = write_events(db, 1000)
    relay = Relay(db, PikaPublisher(proxy.uri, rabbit.exchange), batch=200)
    proxy.cut_after = 150_000  # some 300 messages in: batch 2 is cut while batch 3 may be in flight
    with pytest.raises(PublishError):
        relay.drain()
    marked = published_ids(db)
    queued = [props.message_id for props, _ in rabbit.drain()]
    assert marked <= set(queued)
    assert 0 < len(marked) < 1000
    assert relay.drain() == 1000 - len(marked)
    relay.publisher.close()
    second = [props.message_id for props, _ in rabbit.drain()]
    all_ids = [e["id"] for e in envs]
    assert set(queued) | set(second) == set(all_ids)
    assert second == [i for i in all_ids if i not in marked]


def test_relay_rides_out_a_broker_outage(db, rabbit, proxy, start_relay):
    proxy.down = True
    envs = write_events(db, 50)
    relay = start_relay(proxy.uri, max_backoff=0.1)
    wait_until(lambda: proxy.refused >= 2)
    assert unpublished(db) == 50
    proxy.down = False
    wait_until(lambda: unpublished(db) == 0)
    relay.halt()
    assert [props.message_id for props, _ in rabbit.drain()] == [e["id"] for e in envs]


def test_d_f_nameko_consumer_under_eventlet(db, rabbit):
    """(d) the same message delivered three times applies once; (f) a handler that fails twice is
    requeued and applied once; and the relay runs as a green thread under monkey patching."""
    queue = f"{rabbit.queue}.nameko"
    rabbit.extra_queues.append(queue)
    proc = subprocess.run([sys.executable, __file__, rabbit.exchange, queue], capture_output=True,
                          text=True, timeout=240, cwd=os.path.dirname(__file__))
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result["calls"]) == {"dup", "flaky"}  # the malformed message reached no handler
    assert result["left_on_queue"] == 0
    assert result["calls"]["dup"] == 3
    # Redeliveries are consumed concurrently, so which of them applies varies: exactly one does.
    assert sorted(result["applied"]["dup"]) == [False, False, True]
    assert result["calls"]["flaky"] == 3  # failed, failed, applied
    assert result["applied"]["flaky"] == [True]
    assert result["tallies"] == {"dup": 1, "flaky": 1}
    assert result["unpublished"] == 0
    assert result["consumer_trace_ids"] and set(result["consumer_trace_ids"]) == {"3" * 32}


# -- the child process -------------------------------------------------------------------------

def _child(exchange: str, queue: str) -> dict:
    """Run a nameko service consuming domain events and a green relay; report what happened."""
    import eventlet
    from nameko.containers import ServiceContainer
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from mosaic.config import Settings
    from mosaic.telemetry import setup_telemetry

    spans = InMemorySpanExporter()
    setup_telemetry(Settings(), "test_c", exporter=spans)
    engine = make_engine(PG_URL, "c")
    calls: dict[str, int] = {}
    applied: dict[str, list[bool]] = {}

    class Tallier:
        name = "test_c_tallier"

        @domain_events("test_c_tallier", "contact.*", exchange=exchange, queue=queue, retry_delay=0.05)
        def on_contact(self, envelope):
            key = envelope["record_id"]
            calls[key] = calls.get(key, 0) + 1
            if envelope["data"].get("fail_times", 0) >= calls[key]:
                raise RuntimeError("handler not ready yet")
            applied.setdefault(key, []).append(apply_once(engine, "tallier", envelope, increment))

    container = ServiceContainer(Tallier, {"AMQP_URI": AMQP_URI})
    container.start()
    relay = Relay(engine, PikaPublisher(AMQP_URI, exchange), interval=0.02)
    stop = threading.Event()
    relay_thread = eventlet.spawn(relay.run_forever, stop)
    try:
        # Not an envelope: rejected without requeue, so it cannot block the queue.
        raw = pika.BlockingConnection(pika.URLParameters(AMQP_URI))
        raw.channel().basic_publish(exchange, "contact.bad", b'{"type": "contact.bad"}',
                                    pika.BasicProperties(content_type="application/json"))
        raw.close()
        dup = make_env(record_id="dup")
        with tenant_session(engine, "t1") as session:
            emit(session, dup, traceparent=TRACEPARENT)
            emit(session, make_env(record_id="flaky", data={"fail_times": 2}), traceparent=TRACEPARENT)
            session.commit()
        # Redeliveries of the relayed message: the same envelope, the same message id.
        again = PikaPublisher(AMQP_URI, exchange)
        again.publish([dup, dup], [TRACEPARENT, TRACEPARENT])
        again.close()
        wait_until(lambda: calls.get("dup") == 3 and applied.get("flaky"), deadline=60)
    finally:
        stop.set()
        relay_thread.wait()
        container.stop()
    check = pika.BlockingConnection(pika.URLParameters(AMQP_URI))
    left = check.channel().queue_declare(queue, passive=True).method.message_count
    check.close()
    consumer_spans = [s for s in spans.get_finished_spans() if s.name.startswith("event consume")]
    return {"calls": calls, "applied": applied, "tallies": tallies(engine), "left_on_queue": left,
            "unpublished": unpublished(engine),
            "consumer_trace_ids": sorted({format(s.context.trace_id, "032x") for s in consumer_spans})}


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], sys.argv[2])))
