"""`make run` as a newcomer meets it: the first start creates the demo tenant and prints its
login once; a restart keeps the data and prints no new password."""
from __future__ import annotations

import os
import re
import subprocess
import time

import requests

from mosaic.localdev import free_port, stop_processes
from tests.e2e.conftest import MOSAIC, ROOT


def start(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([MOSAIC, "run"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "mosaic run exited"
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError("mosaic run did not become ready")


def test_first_start_prints_the_demo_login_once_and_restarts_keep_data(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOSAIC_")}
    port = free_port()
    env.update(MOSAIC_DATA_DIR=str(tmp_path / "var"), MOSAIC_PORT=str(port), MOSAIC_LOG_LEVEL="WARNING")
    url = f"http://127.0.0.1:{port}"
    first_log = tmp_path / "first.log"
    with open(first_log, "wb") as log:
        proc = start(env, log)
        try:
            wait_ready(url, proc)
            text = first_log.read_text()
            found = re.search(r"tenant=demo email=(\S+) password=(\S+)", text)
            assert found, text
            email, password = found.groups()
            token = requests.post(url + "/api/v1/auth/login", timeout=10,
                                  json={"tenant": "demo", "email": email, "password": password}).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            made = requests.post(url + "/api/v1/contacts", json={"last_name": "Persisted"}, headers=auth, timeout=10)
            assert made.status_code == 201, made.text
            # the hub runs in the embedded process too: readiness pings it; it is no module of the demo
            assert requests.get(url + "/readyz", timeout=10).json()["services"]["hub"] == "ok"
            modules = requests.get(url + "/api/v1/admin/modules", headers=auth, timeout=10).json()
            assert "hub" not in modules["modules"] + modules["available"]
            inbox = requests.get(url + "/api/v1/notifications", headers=auth, timeout=10)
            assert inbox.status_code == 200 and {"items", "next_cursor", "unread"} <= set(inbox.json())
        finally:
            stop_processes([proc])
    second_log = tmp_path / "second.log"
    with open(second_log, "wb") as log:
        proc = start(env, log)
        try:
            wait_ready(url, proc)
            assert "password=" not in second_log.read_text()
            token = requests.post(url + "/api/v1/auth/login", timeout=10,
                                  json={"tenant": "demo", "email": email, "password": password}).json()["access_token"]
            got = requests.get(url + f"/api/v1/contacts/{made.json()['id']}",
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert got.status_code == 200 and got.json()["last_name"] == "Persisted"
        finally:
            stop_processes([proc])
