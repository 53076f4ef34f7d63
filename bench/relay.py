"""Relay N outbox rows from PostgreSQL to RabbitMQ, against a bare pika publisher with confirms.

The figure: a real ``mosaic relay contacts`` process (batch ``--batch``, default 500) on a database
and a vhost of the benchmark's own, with a durable queue bound to every event so the broker really
routes and stores each message. The relay is started and warmed up on an empty outbox; then N rows
are committed in one transaction and the clock runs from that commit until the last row is
stamped published. The baseline, in the same run: the same N bodies and properties published by
plain pika to the same exchange and queue, the best plain pika does with confirms: a
``SelectConnection`` in confirm mode, every message written without waiting, the ioloop turned
every 64 messages, confirms (``multiple`` included) collected asynchronously, no outbox, no span.
The two sides take turns for ``--rounds`` rounds (default 2); each side's best round counts.
Ratio: relay events/s / bare pika events/s. Target >= 0.5.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pika
from sqlalchemy import func, insert, select

from bench.report import Check, Measure, Report, ratio
from bench.stack import (AMQP_BASE, MOSAIC, ROOT, Processes, base_env, cpu_seconds, drop_database,
                         drop_vhost, fresh_database, fresh_vhost)

NAME = "relay"
EXCHANGE = "mosaic.events"
QUEUE = "bench.all-events"


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--events", type=int, default=20_000, help="outbox rows relayed (default 20000)")
    parser.add_argument("--batch", type=int, default=500, help="the relay's MOSAIC_RELAY_BATCH (default 500)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measure each side this many times, alternately; the best of each counts (default 2)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")


def make_envelopes(n: int) -> list[dict]:
    """``n`` contact events of a realistic size (a few custom fields' worth of data)."""
    from mosaic.events import make_envelope

    return [make_envelope(type="contact.created", tenant_id="bench", actor="user:bench", object="contact",
                          record_id=f"r{i}", version=1,
                          data={"first_name": f"Ada{i}", "last_name": "Lovelace", "email": f"ada{i}@bench.test",
                                "custom": {"region_code": f"r{i % 100:04d}", "score": i % 1000}})
            for i in range(n)]


def bare_pika_seconds(amqp_uri: str, envelopes: list[dict], timeout: float) -> tuple[float, float]:
    """Publish every envelope with plain pika (SelectConnection, confirms collected asynchronously);
    (seconds from the first publish to the last confirm, CPU seconds this process spent meanwhile)."""
    from mosaic.events import encode_body, message_properties

    bodies = [(e["type"], encode_body(e), pika.BasicProperties(delivery_mode=2, **message_properties(e)))
              for e in envelopes]
    state = {"acked": 0, "nacked": 0, "channel": None, "failed": None}
    connection = pika.SelectConnection(
        pika.URLParameters(amqp_uri),
        on_open_callback=lambda conn: conn.channel(on_open_callback=on_channel),
        on_open_error_callback=lambda conn, err: fail(err),
        on_close_callback=lambda conn, reason: fail(reason))
    loop = connection.ioloop

    def fail(reason):
        state["failed"] = reason
        loop.stop()

    def on_channel(channel):
        state["channel"] = channel
        channel.confirm_delivery(ack_nack_callback=on_confirm, callback=lambda _frame: loop.stop())

    last_tag = {"seen": 0}

    def on_confirm(frame):
        method = frame.method
        count = method.delivery_tag - last_tag["seen"] if method.multiple else 1
        last_tag["seen"] = max(last_tag["seen"], method.delivery_tag)
        state["acked" if isinstance(method, pika.spec.Basic.Ack) else "nacked"] += count
        if state["acked"] + state["nacked"] >= len(bodies):
            loop.stop()

    def turn():
        loop.call_later(0, loop.stop)
        loop.start()

    loop.call_later(30, lambda: fail("no channel within 30s"))
    loop.start()  # until the confirmed channel is open
    if state["failed"] is not None:
        raise RuntimeError(f"bare pika publisher could not connect: {state['failed']!r}")
    channel = state["channel"]
    t0, cpu0 = time.monotonic(), time.process_time()
    for i, (routing_key, body, props) in enumerate(bodies):
        channel.basic_publish(EXCHANGE, routing_key, body, props)
        if i % 64 == 63:
            turn()
    loop.call_later(timeout, lambda: fail("confirms timed out"))
    loop.start()
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    if state["failed"] is not None or state["nacked"]:
        raise RuntimeError(f"bare pika publisher failed: {state}")
    connection.close()
    loop.call_later(5, loop.stop)
    loop.start()
    return elapsed, cpu


def fill_outbox(engine, envelopes: list[dict]) -> None:
    """Commit one outbox row per envelope, in one transaction."""
    from mosaic.db import system_session, utcnow
    from mosaic.events import OutboxEvent

    rows = [{"id": e["id"], "tenant_id": e["tenant_id"], "type": e["type"], "object": e["object"],
             "record_id": e["record_id"], "payload": e, "created_at": utcnow()} for e in envelopes]
    with system_session(engine) as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(OutboxEvent), rows[start:start + 5000])
        session.commit()


def unpublished(engine) -> int:
    """Outbox rows not yet stamped published."""
    from mosaic.db import system_session
    from mosaic.events import OutboxEvent

    with system_session(engine) as session:
        return session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None)))


def wait_drained(engine, procs: Processes, timeout: float) -> float:
    """Poll until the outbox is empty; the monotonic time it was first seen empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if unpublished(engine) == 0:
            return time.monotonic()
        procs.check_alive()
        time.sleep(0.02)
    raise RuntimeError(f"the relay did not drain the outbox in {timeout}s:\n{procs.logs()}")


def run(args, stacks) -> Report:
    """Set up a database, a vhost and a relay process of the benchmark's own; measure both sides."""
    from mosaic.db import make_engine

    database = f"mosaic_bench_relay_{uuid.uuid4().hex[:8]}"
    url = fresh_database(database)
    vhost = fresh_vhost()
    amqp = f"{AMQP_BASE}/{vhost}"
    tmp = Path(tempfile.mkdtemp(prefix="mosaic-bench-relay-"))
    env = base_env(tmp / "var")
    env.update(MOSAIC_MODE="distributed", MOSAIC_DATABASE_URL=url, MOSAIC_AMQP_URI=amqp,
               MOSAIC_RELAY_BATCH=str(args.batch), MOSAIC_RELAY_INTERVAL="0.02")
    procs = Processes(tmp)
    engine = None
    connection = None
    try:
        done = subprocess.run([MOSAIC, "migrate"], env=env, cwd=ROOT, capture_output=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"mosaic migrate failed:\n{done.stdout.decode()}{done.stderr.decode()}")
        connection = pika.BlockingConnection(pika.URLParameters(amqp))
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
        channel.queue_declare(QUEUE, durable=True)
        channel.queue_bind(QUEUE, EXCHANGE, routing_key="#")
        engine = make_engine(url, "contacts")
        envelopes = make_envelopes(args.events)

        relay = procs.spawn("relay", [MOSAIC, "relay", "contacts"], env)
        fill_outbox(engine, make_envelopes(1))  # warm-up: the relay is connected once this is out
        wait_drained(engine, procs, 120)
        channel.queue_purge(QUEUE)
        # The two sides take turns, so a burst of load from elsewhere on the machine does not
        # land on one side only; each side's best round counts.
        rounds = []
        for _ in range(max(1, args.rounds)):
            baseline_s, baseline_cpu = bare_pika_seconds(amqp, envelopes, args.timeout)
            depths = [channel.queue_purge(QUEUE).method.message_count]
            envelopes = make_envelopes(args.events)  # new ids for the relay's turn
            cpu_before = cpu_seconds(relay.pid)
            fill_outbox(engine, envelopes)
            t0 = time.monotonic()
            relay_s = wait_drained(engine, procs, args.timeout) - t0
            relay_cpu = cpu_seconds(relay.pid) - cpu_before
            depths.append(channel.queue_purge(QUEUE).method.message_count)
            if depths != [args.events, args.events]:
                raise RuntimeError(f"expected {args.events} messages on the queue per side, got {depths}")
            rounds.append({"relay_seconds": relay_s, "bare_pika_seconds": baseline_s,
                           "relay_cpu_ms_per_event": 1000 * relay_cpu / args.events,
                           "bare_pika_cpu_ms_per_event": 1000 * baseline_cpu / args.events})
    finally:
        procs.stop()
        if connection is not None and connection.is_open:
            connection.close()
        if engine is not None:
            engine.dispose()
        drop_vhost(vhost)
        drop_database(database)
        shutil.rmtree(tmp, ignore_errors=True)
    relay_s = min(r["relay_seconds"] for r in rounds)
    baseline_s = min(r["bare_pika_seconds"] for r in rounds)
    figure = args.events / relay_s
    baseline = args.events / baseline_s
    value = ratio(figure, baseline)
    return Report(
        name=NAME,
        figure=Measure(f"mosaic relay process, {args.events:,} outbox rows PostgreSQL -> RabbitMQ "
                       f"(batch {args.batch}, confirmed, rows stamped)", figure, "events/s"),
        baseline=Measure("bare pika SelectConnection, same bodies, confirms collected asynchronously "
                         "(all in flight)", baseline, "events/s"),
        ratio=value,
        ratio_meaning="relay events/s / bare pika events/s",
        checks=[Check("relay / bare pika throughput", value, ">=", 0.5)],
        params={"events": args.events, "batch": args.batch, "rounds": len(rounds)},
        details={"rounds": rounds},
    )
