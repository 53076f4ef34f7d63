"""The processes a benchmark measures, started the way an operator starts them.

The distributed stack is ``mosaic migrate`` then ``mosaic serve`` and ``mosaic relay`` of every installed service
and ``mosaic serve gateway`` as separate processes, on a PostgreSQL database (``mosaic_bench*``) and
a RabbitMQ vhost (``mosaic_bench_*``) of the benchmark's own, both removed again at the end. The
embedded stack is ``mosaic run``. Every benchmark works in a fresh tenant made through the operator
API, so no figure depends on what another benchmark left behind.

Everything here binds and connects to 127.0.0.1 only.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from mosaic import localdev, services
from mosaic.localdev import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MOSAIC = str(BIN / "mosaic")
PG_BASE = os.environ.get("MOSAIC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
AMQP_BASE = "amqp://guest:guest@127.0.0.1:5672"
OPERATOR_KEY = "bench-operator-" + uuid.uuid4().hex[:12]
PASSWORD = "bench horse battery staple"


def fresh_database(name: str) -> str:
    """Drop and create the PostgreSQL database ``name`` (must start with ``mosaic_bench``); its URL."""
    if not name.startswith("mosaic_bench"):
        raise ValueError(f"benchmarks only touch mosaic_bench* databases, not {name!r}")
    return localdev.fresh_database(name, PG_BASE)


def drop_database(name: str) -> None:
    """Remove a benchmark database (end of run)."""
    localdev.drop_database(name, PG_BASE)


def fresh_vhost() -> str:
    """A RabbitMQ vhost of the benchmark's own, so nothing else answers its RPCs."""
    return localdev.fresh_vhost("mosaic_bench")


def drop_vhost(vhost: str) -> None:
    """Delete a benchmark vhost (queues and all)."""
    if vhost.startswith("mosaic_bench_"):
        localdev.drop_vhost(vhost)


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB, from ``/proc/<pid>/status`` (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Processes:
    """Child processes started by one benchmark run; stopped (SIGTERM, then SIGKILL) by pid."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        """Start ``argv`` with its output in ``<log_dir>/<name>.log``."""
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def check_alive(self) -> None:
        """Raise, with the logs, if a child has exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        """The end of every child's log."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}"
                         for p in sorted(self.log_dir.glob("*.log")))

    def stop(self, name: str | None = None) -> None:
        """Stop one child, or all of them."""
        names = [name] if name else list(self.procs)
        localdev.stop_processes([self.procs.pop(n) for n in names])


def base_env(data_dir: Path) -> dict:
    """The environment of every process: no inherited MOSAIC_*, no rate limits, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_")}
    env.update(MOSAIC_PORT=str(free_port()), MOSAIC_HOST="127.0.0.1", MOSAIC_OPERATOR_KEY=OPERATOR_KEY,
               MOSAIC_DEMO="0", MOSAIC_DATA_DIR=str(data_dir), MOSAIC_RATE_LIMIT="0",
               MOSAIC_KEY_RATE_LIMIT="0", MOSAIC_LOG_LEVEL="WARNING", MOSAIC_OTEL_EXPORTER="none",
               MOSAIC_SECRET_KEY="bench-secret-" + uuid.uuid4().hex)
    return env


class Stack:
    """One running mode of the product: its processes and its gateway URL."""

    def __init__(self, mode: str):
        self.mode = mode
        self.tmp = Path(tempfile.mkdtemp(prefix=f"mosaic-bench-{mode}-"))
        self.env = base_env(self.tmp / "var")
        self.url = f"http://127.0.0.1:{self.env['MOSAIC_PORT']}"
        self.procs = Processes(self.tmp)
        self.database: str | None = None
        self.vhost: str | None = None
        #: the base URL of bench.thin_gateway once started (start_thin_gateway)
        self.thin_url: str | None = None

    @property
    def database_url(self) -> str:
        return self.env["MOSAIC_DATABASE_URL"]

    @property
    def amqp_uri(self) -> str:
        return self.env["MOSAIC_AMQP_URI"]

    def start(self, timeout: float = 120) -> "Stack":
        """Start every process of the mode and wait until the gateway is ready."""
        if self.mode == "embedded":
            self.env["MOSAIC_MODE"] = "embedded"
            self.procs.spawn("embedded", [MOSAIC, "run"], self.env)
        else:
            self.database = f"mosaic_bench_{uuid.uuid4().hex[:8]}"
            self.vhost = fresh_vhost()
            self.env.update(MOSAIC_MODE="distributed", MOSAIC_DATABASE_URL=fresh_database(self.database),
                            MOSAIC_AMQP_URI=f"{AMQP_BASE}/{self.vhost}")
            done = subprocess.run([MOSAIC, "migrate"], env=self.env, cwd=ROOT, capture_output=True, timeout=180)
            if done.returncode != 0:
                raise RuntimeError(f"mosaic migrate failed:\n{done.stdout.decode()}{done.stderr.decode()}")
            for service in services.running():  # every installed service, the hub too (entry points)
                self.procs.spawn(service, [MOSAIC, "serve", service], self.env)
            for service in services.relayed():  # each one with an outbox
                self.procs.spawn(f"relay-{service}", [MOSAIC, "relay", service], self.env)
            self.procs.spawn("gateway", [MOSAIC, "serve", services.gateway().name], self.env)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll ``/readyz`` until it answers 200 (readiness includes the RPC round trip)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.procs.check_alive()
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.mode} stack not ready in {timeout}s:\n{self.procs.logs()}")

    def pids(self) -> dict[str, int]:
        """name -> pid of each process of the stack."""
        return {name: proc.pid for name, proc in self.procs.procs.items()}

    def tenant(self, modules=("contacts",)) -> "Client":
        """A fresh tenant through the operator API, logged in as its admin."""
        slug = "b-" + uuid.uuid4().hex[:10]
        email = f"admin@{slug}.test"
        resp = requests.post(self.url + "/api/v1/tenants", headers={"X-Operator-Key": OPERATOR_KEY}, timeout=30,
                             json={"slug": slug, "name": slug.upper(), "modules": list(modules),
                                   "admin": {"email": email, "password": PASSWORD, "name": "Bench admin"}})
        if resp.status_code != 201:
            raise RuntimeError(f"creating a tenant failed: {resp.status_code} {resp.text}")
        login = requests.post(self.url + "/api/v1/auth/login", timeout=30,
                              json={"tenant": slug, "email": email, "password": PASSWORD})
        if login.status_code != 200:
            raise RuntimeError(f"login failed: {login.status_code} {login.text}")
        client = Client(self.url, login.json()["access_token"])
        client.tenant_id = client.get("me").json()["tenant"]["id"]
        return client

    def stop(self, keep_logs: bool = False) -> None:
        """Stop the processes, then drop the database and the vhost this stack created, and its
        temporary directory (unless ``keep_logs``: the processes' logs are in it)."""
        self.procs.stop()
        if self.vhost:
            drop_vhost(self.vhost)
        if self.database:
            drop_database(self.database)
        if keep_logs:
            print(f"logs of the {self.mode} stack kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Client:
    """A logged-in HTTP client of one tenant (set-up calls; load is generated elsewhere)."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.token = token
        self.tenant_id = ""
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        """``contacts`` -> ``<base>/api/v1/contacts``; absolute paths and URLs are kept."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base + (path if path.startswith("/") else "/api/v1/" + path)

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url(path), timeout=60, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return self.http.post(self.url(path), json=json, timeout=300, **kw)

    def expect(self, resp: requests.Response, status: int) -> dict:
        """The JSON body of ``resp``, or an error naming what went wrong."""
        if resp.status_code != status:
            raise RuntimeError(f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:500]}")
        return resp.json() if resp.content else {}


class Stacks:
    """Stacks started on demand and shared by the benchmarks of one run (start-up is slow on
    2 cores); each benchmark still works in a tenant of its own."""

    def __init__(self):
        self._stacks: dict[str, Stack] = {}

    def get(self, mode: str = "distributed") -> Stack:
        """The running stack of ``mode``, started on first use."""
        if mode not in self._stacks:
            stack = Stack(mode)
            self._stacks[mode] = stack
            stack.start()
        return self._stacks[mode]

    def stop(self, mode: str | None = None, keep_logs: bool = False) -> None:
        """Stop one stack, or all of them, and remove what they created."""
        for name in [mode] if mode else list(self._stacks):
            stack = self._stacks.pop(name, None)
            if stack is not None:
                stack.stop(keep_logs)


#: the RPC that says a baseline service is up (the insert's table exists before it starts)
_READY_CALLS = {"ping": ("bench_ping", "ping", ()), "sleeper": ("bench_sleeper", "sleep", (0,)),
                "insert": ("bench_insert", "insert", ({"first_name": "ready"},))}


def start_thin_gateway(stack: Stack, timeout: float = 60) -> tuple[str, int]:
    """Start ``python -m bench.thin_gateway`` (with the ping and insert baselines it calls) on
    ``stack``'s broker; its base URL and pid once ``GET /ping`` answers."""
    from bench.create_contact import create_plain_table

    create_plain_table(stack.database_url)
    start_baseline(stack, "ping")
    start_baseline(stack, "insert")
    running = stack.procs.procs.get("thin-gateway")
    if running is not None and running.poll() is None:
        return stack.thin_url, running.pid
    port = free_port()
    proc = stack.procs.spawn("thin-gateway", [sys.executable, "-m", "bench.thin_gateway", str(port)], stack.env)
    stack.thin_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.procs.check_alive()
        try:
            if requests.get(f"{stack.thin_url}/ping", timeout=5).status_code == 200:
                return stack.thin_url, proc.pid
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the thin gateway did not answer in {timeout}s:\n{stack.procs.logs()}")


def start_baseline(stack: Stack, kind: str, *, name: str | None = None, extra_env: dict | None = None,
                   timeout: float = 60) -> int:
    """Start ``python -m bench.services <kind>`` on ``stack``'s broker and database, as a process of
    its own, and wait until it answers an RPC; returns its pid."""
    from mosaic.errors import ServiceUnavailable
    from mosaic.rpc import RpcPool

    name = name or f"baseline-{kind}"
    running = stack.procs.procs.get(name)
    if running is not None and running.poll() is None:
        return running.pid
    env = {**stack.env, **(extra_env or {})}
    proc = stack.procs.spawn(name, [sys.executable, "-m", "bench.services", kind], env)
    service, method, args = _READY_CALLS[kind]
    pool = RpcPool(stack.amqp_uri, size=1, timeout=5)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            stack.procs.check_alive()
            try:
                pool.call(service, method, None, *args)
                return proc.pid
            except ServiceUnavailable:
                time.sleep(0.3)
    finally:
        pool.close()
    raise RuntimeError(f"{name} did not answer in {timeout}s:\n{stack.procs.logs()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far, from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(pids: dict[str, int], run, count_of) -> tuple[dict, dict]:
    """Call ``run()``; returns (its result, CPU milliseconds each process in ``pids`` spent per
    request, ``count_of(result)`` being the number of requests): where a request's cost goes."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run()
    count = max(1, count_of(result))
    return result, {name: 1000 * (cpu_seconds(pid) - before[name]) / count for name, pid in pids.items()}
