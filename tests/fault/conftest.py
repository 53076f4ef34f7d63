"""The distributed stack under faults: real processes (``mosaic serve gateway``, ``mosaic serve
contacts``, ``mosaic relay contacts``) on PostgreSQL and a RabbitMQ vhost of their own, with a short
RPC timeout so an outage outlasts it within a bounded test. The stack can kill and restart its
contacts service; everything runs on 127.0.0.1 and stops the processes it started, by PID."""
from __future__ import annotations

import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import create_engine, text

from mosaic.localdev import stop_processes
from tests.conftest import drop_vhost, fresh_database, fresh_vhost
from tests.e2e.conftest import MOSAIC, OPERATOR_KEY, PASSWORD, ROOT, Stack, _base_env, login

#: the gateway's RPC timeout in these tests: an outage of a few seconds outlasts it
RPC_TIMEOUT = 3.0
#: how long a client waits for any answer: the RPC timeout and generous slack for a busy machine
HTTP_TIMEOUT = RPC_TIMEOUT + 27


class FaultStack(Stack):
    """The distributed stack, whose contacts service can be killed and started again."""

    def __init__(self, env: dict, log_dir, database_url: str):
        super().__init__("distributed", env, log_dir)
        self.database_url = database_url
        self.contacts: subprocess.Popen | None = None
        self.relay: subprocess.Popen | None = None
        self.gateway: subprocess.Popen | None = None
        self._starts = 0

    def spawn_named(self, label: str, *args: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{label}.log", "wb")
        proc = subprocess.Popen([MOSAIC, *args], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start_contacts(self) -> None:
        self._starts += 1
        self.contacts = self.spawn_named(f"contacts-{self._starts}", "serve", "contacts")

    def kill_contacts(self) -> None:
        """``kill -9`` the contacts service: no shutdown, unacked requests go back to the queue."""
        self.contacts.kill()
        self.contacts.wait(timeout=30)

    def stop_contacts(self) -> None:
        """Stop the contacts service the polite way (SIGTERM), as an orchestrator would."""
        stop_processes([self.contacts])

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in (self.gateway, self.relay, self.contacts):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{self.logs()}")
            try:
                if requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"stack not ready in {timeout}s:\n{self.logs()}")

    def sql(self, statement: str, **params) -> list[tuple]:
        """Rows of a read-only query on the contacts service's schema (what the test counts)."""
        engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                               connect_args={"options": "-csearch_path=mosaic_contacts"})
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(statement), params)]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fault-stack")
    env = _base_env(tmp)
    vhost = fresh_vhost("mosaic_fault")
    database_url = fresh_database("mosaic_fault")
    env.update(MOSAIC_MODE="distributed", MOSAIC_DATABASE_URL=database_url, MOSAIC_RPC_TIMEOUT=str(RPC_TIMEOUT),
               MOSAIC_AMQP_URI=f"amqp://guest:guest@127.0.0.1:5672/{vhost}", MOSAIC_RELAY_INTERVAL="0.2")
    stack = FaultStack(env, tmp, database_url)
    subprocess.run([MOSAIC, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    stack.start_contacts()
    stack.relay = stack.spawn_named("relay", "relay", "contacts")
    stack.hub = stack.spawn_named("hub", "serve", "hub")  # readiness pings it
    stack.gateway = stack.spawn_named("gateway", "serve", "gateway")
    try:
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()
        drop_vhost(vhost)


def new_tenant(stack: FaultStack):
    slug = "f-" + uuid.uuid4().hex[:10]
    email = f"admin@{slug}.test"
    resp = requests.post(stack.url + "/api/v1/tenants", headers={"X-Operator-Key": OPERATOR_KEY}, timeout=30,
                         json={"slug": slug, "name": slug.upper(), "modules": ["contacts"],
                               "admin": {"email": email, "password": PASSWORD, "name": "Admin"}})
    assert resp.status_code == 201, resp.text
    return login(stack.url, slug, email)


@dataclass
class Tally:
    """What the writers saw, shared between them."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # email -> record id of the 2xx
    answers: dict[int, int] = field(default_factory=dict)  # status -> how many
    unexpected: list[str] = field(default_factory=list)  # anything but 201 or 503, and no answers
    replays: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> None:
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1

    def acks(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def writer(api, run: str, n: int, writes: int, tally: Tally, deadline: float, pause: float = 0.0) -> None:
    """Create ``writes`` contacts one after the other, each with its own Idempotency-Key, retrying
    a 503 with the same key (as a client should) until it is acknowledged or ``deadline`` passes.
    ``pause`` seconds pass between two writes, so that a run outlasts the moment a fault starts."""
    http = requests.Session()  # a client of its own: sessions are not shared between threads
    http.headers.update(api.http.headers)
    for i in range(writes):
        if i:
            time.sleep(pause)
        email = f"w{n}-{i}@{run}.test"
        body = {"first_name": f"W{n}", "last_name": f"Write {i}", "email": email}
        headers = {"Idempotency-Key": f"{run}-{n}-{i}"}
        while True:
            if time.monotonic() > deadline:
                with tally.lock:
                    tally.unexpected.append(f"{email}: never acknowledged")
                return
            try:
                resp = http.post(api.url("contacts"), json=body, headers=headers, timeout=HTTP_TIMEOUT)
            except requests.RequestException as exc:
                with tally.lock:
                    tally.unexpected.append(f"{email}: no answer within {HTTP_TIMEOUT}s ({exc})")
                return
            tally.count(resp.status_code)
            if resp.status_code == 201:
                with tally.lock:
                    tally.acknowledged[email] = resp.json()["id"]
                    tally.replays += resp.headers.get("Idempotent-Replayed") == "true"
                break
            if resp.status_code != 503 or not resp.headers.get("Content-Type", "").startswith(
                    "application/problem+json"):
                with tally.lock:
                    tally.unexpected.append(f"{email}: {resp.status_code} {resp.text[:300]}")
                return
            time.sleep(0.2)


def assert_each_write_once(stack: FaultStack, run: str, tally: Tally) -> None:
    """Every acknowledged write exists exactly once, with exactly one contact.created event, and
    nothing else of this run exists."""
    rows = stack.sql("SELECT email, id FROM contacts WHERE email LIKE :pattern", pattern=f"%@{run}.test")
    stored: dict[str, list[str]] = {}
    for email, record_id in rows:
        stored.setdefault(email, []).append(record_id)
    twice = {e: ids for e, ids in stored.items() if len(ids) > 1}
    assert not twice, f"writes stored more than once: {twice}"
    missing = {e: rid for e, rid in tally.acknowledged.items() if stored.get(e) != [rid]}
    assert not missing, f"acknowledged writes not stored as acknowledged: {missing}"
    ids = [ids[0] for ids in stored.values()]
    events = dict(stack.sql("SELECT record_id, count(*) FROM outbox WHERE type = 'contact.created' "
                            "AND record_id = ANY(:ids) GROUP BY record_id", ids=ids))
    wrong = {rid: events.get(rid, 0) for rid in ids if events.get(rid, 0) != 1}
    assert not wrong, f"records without exactly one contact.created event: {wrong}"


def assert_recovered(stack: FaultStack, api, run: str) -> None:
    """Every process is up again by itself: the gateway is ready, a new write goes through, and the
    relay publishes every event of the run."""
    stack.wait_ready(timeout=60)
    for proc in (stack.gateway, stack.relay, stack.contacts):
        assert proc.poll() is None, f"{proc.args} exited:\n{stack.logs()}"
    resp = api.post("contacts", json={"last_name": "After", "email": f"after@{run}.test"})
    assert resp.status_code == 201, resp.text
    deadline = time.monotonic() + 60
    pending = None
    while time.monotonic() < deadline:
        pending = stack.sql("SELECT count(*) FROM outbox o JOIN contacts c ON c.id = o.record_id "
                            "WHERE c.email LIKE :pattern AND o.published_at IS NULL",
                            pattern=f"%@{run}.test")[0][0]
        if pending == 0:
            break
        time.sleep(0.3)
    assert pending == 0, f"{pending} events of the run never left the outbox:\n{stack.logs()}"
