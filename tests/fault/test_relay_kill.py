"""A real ``mosaic relay contacts`` process killed with SIGKILL mid-batch loses no event.

The contacts outbox (PostgreSQL, a database of this test's own) holds a large backlog; the relay
publishes it to the ``mosaic.events`` exchange of a RabbitMQ vhost of this test's own, where a
durable queue bound with ``#`` collects every message. The relay is killed while a batch is in
flight (the queue holds messages whose rows are not marked yet), then started again. In the end
every row is marked published, and the queue holds every event at least once and, deduplicated by
message id, exactly once.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pika
import pytest
from sqlalchemy import func, insert, select

from mosaic.db import make_engine, system_session, utcnow
from mosaic.events import OutboxEvent, make_envelope
from mosaic.localdev import stop_processes
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

ROOT = Path(__file__).resolve().parents[2]
MOSAIC = str(Path(sys.executable).parent / "mosaic")
EVENTS = 10_000
QUEUE = "fault.all-events"


def wait_until(predicate, deadline: float, what: str, procs=()):
    """Poll ``predicate`` until true; fail past ``deadline`` seconds (a bound, not a timing check)
    or as soon as one of ``procs`` exits on its own."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args} exited with {proc.returncode} while waiting for {what}")
        time.sleep(0.005)
    raise AssertionError(f"{what}: not reached within {deadline}s")


@pytest.fixture
def setup(tmp_path):
    vhost = fresh_vhost("mosaic_fault")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_")}
    env.update(MOSAIC_MODE="distributed", MOSAIC_DATABASE_URL=fresh_database("mosaic_fault_relay"),
               MOSAIC_AMQP_URI=amqp, MOSAIC_DATA_DIR=str(tmp_path / "var"), MOSAIC_LOG_LEVEL="WARNING",
               MOSAIC_RELAY_BATCH="500", MOSAIC_DEMO="0")
    subprocess.run([MOSAIC, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    connection = pika.BlockingConnection(pika.URLParameters(amqp))
    channel = connection.channel()
    channel.exchange_declare("mosaic.events", exchange_type="topic", durable=True)
    channel.queue_declare(QUEUE, durable=True)
    channel.queue_bind(QUEUE, "mosaic.events", routing_key="#")
    engine = make_engine(env["MOSAIC_DATABASE_URL"], "contacts")
    procs: list[subprocess.Popen] = []

    def spawn_relay() -> subprocess.Popen:
        log = open(tmp_path / f"relay-{len(procs)}.log", "wb")
        proc = subprocess.Popen([MOSAIC, "relay", "contacts"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    try:
        yield engine, channel, spawn_relay
    finally:
        stop_processes(procs)
        engine.dispose()
        connection.close()
        drop_vhost(vhost)


def fill_outbox(engine, n: int) -> list[str]:
    envelopes = [make_envelope(type="contact.created", tenant_id="t1", actor="user:u1", object="contact",
                               record_id=f"r{i}", data={"i": i, "note": "x" * 200}, version=1)
                 for i in range(n)]
    rows = [{"id": e["id"], "tenant_id": e["tenant_id"], "type": e["type"], "object": e["object"],
             "record_id": e["record_id"], "payload": e, "created_at": utcnow()} for e in envelopes]
    with system_session(engine) as session:
        session.execute(insert(OutboxEvent), rows)
        session.commit()
    return [e["id"] for e in envelopes]


def published_count(engine) -> int:
    with system_session(engine) as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.published_at.is_not(None)))


def queue_depth(channel) -> int:
    return channel.queue_declare(QUEUE, durable=True, passive=True).method.message_count


def drain(channel) -> list[str]:
    """Message ids of everything on the queue (consumed with a window, acknowledged in bulk)."""
    expected = queue_depth(channel)
    ids: list[str] = []
    channel.basic_qos(prefetch_count=1000)
    for method, props, _ in channel.consume(QUEUE, inactivity_timeout=10):
        if method is None:  # nothing more within the bound: the count below tells what is missing
            break
        ids.append(props.message_id)
        if len(ids) % 500 == 0 or len(ids) == expected:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if len(ids) == expected:
            break
    channel.cancel()
    return ids


def test_relay_killed_mid_batch_loses_nothing(setup):
    engine, channel, spawn_relay = setup
    ids = fill_outbox(engine, EVENTS)

    first = spawn_relay()
    # Mid-batch: the broker holds messages whose rows are not marked yet. The queue is read before
    # the table, so what it holds beyond the marked rows was in flight at both reads.
    wait_until(lambda: 0 < published_count(engine) < EVENTS, 120, "a first batch marked", [first])
    in_flight = wait_until(lambda: max(0, queue_depth(channel) - published_count(engine)), 60,
                           "a batch in flight", [first])
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    marked_at_kill = published_count(engine)
    assert in_flight > 0 and marked_at_kill < EVENTS

    second = spawn_relay()
    wait_until(lambda: published_count(engine) == EVENTS, 180, "every row published", [second])
    stop_processes([second])

    delivered = drain(channel)
    assert set(delivered) == set(ids)  # every event reached the queue at least once: none lost
    assert len(set(delivered)) == len(ids) == EVENTS  # after dedup by message id, exactly once each
    # Only the batch cut short by the kill can have been sent twice.
    assert len(delivered) - EVENTS <= 500
    with system_session(engine) as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.published_at.is_(None))) == 0
