"""A broker outage under load: every process rides it out, no write is lost or doubled.

The real distributed processes (``mosaic serve contacts``, ``mosaic relay contacts``, ``mosaic
serve gateway``) reach RabbitMQ only through a :class:`~tests.fault.proxy.TcpProxy` this test
runs on 127.0.0.1 (the machine's RabbitMQ is never restarted; the vhost is the test's own).
Concurrent writers create contacts while the proxy drops every broker connection and refuses
new ones for a few seconds, then lets them back. Then:

- every answer was a 201 or a 503 problem+json with ``Retry-After`` (never a 500, never a hang
  past the gateway's RPC timeout);
- every acknowledged (201) write exists exactly once, and its ``created`` event was written to
  the outbox and published to the broker after the outage;
- every process is still running, ``/readyz`` answers 200 and a new write succeeds, with no
  restart by hand.
"""
from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import Counter

import psycopg2
import pytest
import requests
from kombu import Connection, Exchange, Queue

from mosaic.db.engine import schema_for
from tests.conftest import drop_vhost, fresh_database, fresh_vhost
from tests.e2e.conftest import MOSAIC, ROOT, Stack, _base_env, make_tenant
from tests.fault.proxy import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.timeout(480)]

WRITERS = 10
RPC_TIMEOUT = 8  # the gateway's MOSAIC_RPC_TIMEOUT: no answer may take much longer
HTTP_TIMEOUT = RPC_TIMEOUT * 2 + 10  # a request still unanswered by then counts as a hang
OUTAGE = 6.0  # seconds every broker connection stays down
MAX_REQUESTS = 3000  # per writer: the load is bounded whatever happens


class Writer(threading.Thread):
    """Creates contacts one after another until told to stop; remembers every answer."""

    def __init__(self, api, prefix: str, index: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.api, self.prefix, self.index, self.stop = api, prefix, index, stop
        self.results: list[dict] = []

    def run(self):
        for n in range(MAX_REQUESTS):
            if self.stop.is_set():
                return
            marker = f"{self.prefix}-{self.index}-{n}"
            outcome = {"marker": marker, "at": time.monotonic()}
            try:
                resp = self.api.http.post(self.api.url("contacts"), json={"first_name": "Fault", "last_name": marker},
                                          timeout=HTTP_TIMEOUT)
                outcome.update(status=resp.status_code, headers=dict(resp.headers), body=resp.text)
                if resp.status_code == 201:
                    outcome["id"] = resp.json()["id"]
            except requests.RequestException as exc:  # a hang past HTTP_TIMEOUT, or a dropped connection
                outcome.update(status=None, error=repr(exc))
            self.results.append(outcome)
            if outcome["status"] != 201:
                time.sleep(0.2)  # keep a failing writer from spinning


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def _ok_count(writers, since: float = 0.0) -> int:
    return sum(1 for w in writers for r in list(w.results) if r.get("status") == 201 and r["at"] >= since)


@pytest.fixture
def outage_stack(tmp_path):
    """The three distributed processes, talking to RabbitMQ through a proxy; and the proxy."""
    vhost = fresh_vhost("mosaic_fault")
    proxy = TcpProxy(("127.0.0.1", 5672)).start()
    env = _base_env(tmp_path)
    env.update(MOSAIC_MODE="distributed", MOSAIC_DATABASE_URL=fresh_database("mosaic_fault"),
               MOSAIC_AMQP_URI=f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}",
               MOSAIC_RPC_TIMEOUT=str(RPC_TIMEOUT), MOSAIC_LOG_LEVEL="INFO")
    stack = Stack("distributed", env, tmp_path)
    subprocess.run([MOSAIC, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    # The probe queue sees every event the relay publishes (directly on RabbitMQ, not proxied).
    probe = Connection(f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
    events = Queue("fault-probe", Exchange("mosaic.events", type="topic", durable=True), routing_key="#",
                   durable=True)
    events(probe.channel()).declare()
    for args in (("serve", "contacts"), ("relay", "contacts"), ("serve", "hub"), ("serve", "gateway")):
        stack.spawn(*args)
    try:
        stack.wait_ready()
        yield stack, proxy, probe, events
    finally:
        stack.stop()
        proxy.close()
        probe.release()
        drop_vhost(vhost)


def test_every_process_rides_out_a_broker_outage(outage_stack):
    stack, proxy, probe, events = outage_stack
    api = make_tenant(stack)
    prefix = "fault-" + uuid.uuid4().hex[:8]
    stop = threading.Event()
    writers = [Writer(api, prefix, i, stop) for i in range(WRITERS)]
    for w in writers:
        w.start()
    try:
        _wait_for(lambda: _ok_count(writers) >= 2 * WRITERS, 60, "writes before the outage")
        dropped = proxy.cut()
        outage_started = time.monotonic()
        time.sleep(OUTAGE / 3)
        during = requests.get(stack.url + "/readyz", timeout=HTTP_TIMEOUT)
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - outage_started)))
        proxy.restore()
        outage_ended = time.monotonic()
        # The processes must reconnect by themselves and serve writes again.
        _wait_for(lambda: _ok_count(writers, since=outage_ended) >= 2 * WRITERS, 120,
                  f"writes after the outage\n{stack.logs()}")
    finally:
        stop.set()
        for w in writers:
            w.join(HTTP_TIMEOUT + 5)
    assert dropped >= 3, "the processes were not connected through the proxy"
    assert during.status_code == 503, f"/readyz during the outage: {during.status_code} {during.text}"
    results = [r for w in writers for r in w.results]

    # 1. Callers got 201 or a 503 problem+json with Retry-After: never a 500, never a hang.
    statuses = Counter(r.get("status") for r in results)
    print(f"answers: {dict(statuses)}; connections dropped by the outage: {dropped}")
    bad = [r for r in results if r.get("status") not in (201, 503)]
    assert not bad, f"{statuses}: {bad[:3]}\n{stack.logs()}"
    unavailable = [r for r in results if r["status"] == 503]
    assert unavailable, f"no write failed while the broker was away ({statuses}): was the outage real?"
    for r in unavailable:
        assert r["headers"]["Content-Type"].startswith("application/problem+json"), r
        assert int(r["headers"]["Retry-After"]) >= 1, r
        assert "Traceback" not in r["body"]
    assert any(outage_started <= r["at"] <= outage_ended for r in unavailable)

    # 2. Every acknowledged write exists exactly once.
    acknowledged = {r["marker"]: r["id"] for r in results if r["status"] == 201}
    schema = schema_for("contacts")
    with psycopg2.connect(stack.env["MOSAIC_DATABASE_URL"]) as db, db.cursor() as cur:
        cur.execute(f"SELECT last_name, count(*) FROM {schema}.contacts WHERE last_name LIKE %s GROUP BY last_name",
                    (prefix + "-%",))
        stored = dict(cur.fetchall())
    twice = {m: stored.get(m, 0) for m in acknowledged if stored.get(m, 0) != 1}
    assert not twice, f"acknowledged writes not stored exactly once: {twice}"

    # 3. Their events reached the outbox, and the relay published them once the broker was back.
    ids = set(acknowledged.values())

    def unpublished() -> set:
        with psycopg2.connect(stack.env["MOSAIC_DATABASE_URL"]) as db, db.cursor() as cur:
            cur.execute(f"SELECT record_id, published_at IS NOT NULL FROM {schema}.outbox WHERE type = 'contact.created'"
                        " AND record_id = ANY(%s)", (list(ids),))
            rows = cur.fetchall()
        return (ids - {rid for rid, _ in rows}) | {rid for rid, published in rows if not published}

    _wait_for(lambda: not unpublished(), 60, "the relay to publish the outbox")
    seen = set()
    queue = events(probe.channel())
    while (message := queue.get(no_ack=True)) is not None:
        envelope = message.decode()
        if envelope.get("type") == "contact.created":
            seen.add(envelope["record_id"])
    assert ids <= seen, f"{len(ids - seen)} acknowledged writes have no event on the broker"

    # 4. Every process is still the one we started, ready, and serving writes.
    for proc in stack.procs:
        assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}\n{stack.logs()}"
    _wait_for(lambda: requests.get(stack.url + "/readyz", timeout=HTTP_TIMEOUT).status_code == 200, 60,
              "/readyz after the outage")
    resp = api.post("contacts", {"first_name": "After", "last_name": prefix + "-after"})
    assert resp.status_code == 201, resp.text
