"""The product as a user meets it: real processes, real HTTP, in both run modes.

``stack`` starts either the embedded mode (``mosaic run``: one process, SQLite, in-process broker)
or the distributed mode (``mosaic migrate``, then ``mosaic serve`` of every installed service,
modules and the hub, ``mosaic relay`` of each with an outbox, and ``mosaic serve gateway``, against PostgreSQL and a RabbitMQ vhost of its own).
Each test gets a fresh tenant through the operator API, so tests never see each other's data.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from mosaic import services
from mosaic.localdev import free_port, stop_processes
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

ROOT = Path(__file__).resolve().parents[2]
MOSAIC = str(Path(sys.executable).parent / "mosaic")
OPERATOR_KEY = "e2e-operator-key"
PASSWORD = "correct horse battery staple"


class Stack:
    """Processes of one run mode, and the base URL of its gateway."""

    def __init__(self, mode: str, env: dict, log_dir: Path):
        self.mode = mode
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.url = f"http://127.0.0.1:{env['MOSAIC_PORT']}"

    def spawn(self, *args: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{'-'.join(args)}.log", "wb")
        proc = subprocess.Popen([MOSAIC, *args], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{self.logs()}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.mode} stack not ready in {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.log_dir.glob("*.log"))

    def stop(self) -> None:
        stop_processes(self.procs)


def _base_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_")}
    env.update(MOSAIC_PORT=str(free_port()), MOSAIC_OPERATOR_KEY=OPERATOR_KEY, MOSAIC_DEMO="0",
               MOSAIC_DATA_DIR=str(tmp / "var"), MOSAIC_RATE_LIMIT="100000", MOSAIC_KEY_RATE_LIMIT="100000",
               MOSAIC_LOG_LEVEL="WARNING", MOSAIC_SECRET_KEY="e2e-secret-" + uuid.uuid4().hex,
               MOSAIC_JOBS_INTERVAL="0.3", MOSAIC_WEBHOOK_ALLOW="127.0.0.1/32")
    return env


@pytest.fixture(scope="session", params=["embedded", "distributed"])
def stack(request, tmp_path_factory):
    mode = request.param
    tmp = tmp_path_factory.mktemp(f"stack-{mode}")
    env = _base_env(tmp)
    vhost = None
    if mode == "embedded":
        env["MOSAIC_MODE"] = "embedded"
        s = Stack(mode, env, tmp)
        s.spawn("run")
    else:
        vhost = fresh_vhost("mosaic_e2e")
        env.update(MOSAIC_MODE="distributed", MOSAIC_DATABASE_URL=fresh_database("mosaic_e2e"),
                   MOSAIC_AMQP_URI=f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
        s = Stack(mode, env, tmp)
        subprocess.run([MOSAIC, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
        for service in services.running():  # every installed service (the hub too), by entry point
            s.spawn("serve", service)
        for service in services.relayed():  # each one with an outbox
            s.spawn("relay", service)
        s.spawn("serve", services.gateway().name)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()
        if vhost:
            drop_vhost(vhost)


class Api:
    """A logged-in HTTP client of one tenant."""

    def __init__(self, base: str, tenant: str, email: str, token: str | None = None):
        self.base = base
        self.tenant = tenant
        self.email = email
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return self.base + (path if path.startswith("/") else "/api/v1/" + path)

    def get(self, path, **kw):
        return self.http.get(self.url(path), timeout=30, **kw)

    def post(self, path, json=None, **kw):
        return self.http.post(self.url(path), json=json, timeout=60, **kw)

    def patch(self, path, json=None, **kw):
        return self.http.patch(self.url(path), json=json, timeout=30, **kw)

    def put(self, path, json=None, **kw):
        return self.http.put(self.url(path), json=json, timeout=30, **kw)

    def delete(self, path, **kw):
        return self.http.delete(self.url(path), timeout=30, **kw)


def login(base: str, tenant: str, email: str, password: str = PASSWORD) -> Api:
    resp = requests.post(base + "/api/v1/auth/login", json={"tenant": tenant, "email": email, "password": password},
                         timeout=30)
    assert resp.status_code == 200, resp.text
    return Api(base, tenant, email, resp.json()["access_token"])


def make_tenant(stack: Stack, modules=("contacts",)) -> Api:
    slug = "t-" + uuid.uuid4().hex[:10]
    email = f"admin@{slug}.test"
    resp = requests.post(stack.url + "/api/v1/tenants", headers={"X-Operator-Key": OPERATOR_KEY}, timeout=30,
                         json={"slug": slug, "name": slug.upper(), "modules": list(modules),
                               "admin": {"email": email, "password": PASSWORD, "name": "Admin"}})
    assert resp.status_code == 201, resp.text
    return login(stack.url, slug, email)


@pytest.fixture
def api(stack) -> Api:
    """The admin of a fresh tenant."""
    return make_tenant(stack)


@pytest.fixture
def other_api(stack) -> Api:
    """The admin of a second fresh tenant."""
    return make_tenant(stack)


def assert_problem(resp, status: int):
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    assert resp.headers["Content-Type"].startswith("application/problem+json"), resp.headers
    body = resp.json()
    assert body["status"] == status and body["title"] and "detail" in body
    assert "Traceback" not in resp.text
    return body
