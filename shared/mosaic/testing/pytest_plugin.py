"""The ``mosaic`` pytest plugin: test a Mosaic plugin against the real embedded stack over HTTP.

Registered as the ``pytest11`` entry point ``mosaic``, so any project with ``mosaic-crm``
installed has these fixtures::

    # tests/conftest.py of a plugin
    @pytest.fixture
    def mosaic_plugins():
        return ["realestate"]

    # tests/test_realestate_http.py
    def test_property(mosaic_client):
        prop = mosaic_client.json("POST", "/realestate__properties", expected=201, json={...})

    @pytest.mark.mosaic_plugins()          # this test's tenant has no plugin enabled
    def test_hidden(mosaic_client): ...

- ``mosaic_stack`` (session): ``mosaic run`` in a subprocess (embedded mode, its own data
  directory and port, no demo data), with ``MOSAIC_PLUGINS`` passed through so plugins that are
  not pip-installed load too; ``.url``, ``.operator_key``, ``.tenant(plugins=..., modules=...)``.
- ``mosaic_plugins`` (function): the plugins of ``mosaic_client``'s tenant; ``[]`` here.
- ``mosaic_client`` (function): the admin of a fresh tenant (every installed module) with those plugins
  enabled, a :class:`~mosaic.testing.client.MosaicClient`.

Nothing runs at import: the stack starts when a test first asks for it, so loading this plugin
into a suite that never uses it (Mosaic's own) costs nothing.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

import pytest
import requests

from mosaic.testing.client import MosaicClient, create_tenant

READY_TIMEOUT = 90.0
MARKER = "mosaic_plugins"


def mosaic_command() -> list[str]:
    """How to run ``mosaic``: the script beside this interpreter (the same virtualenv), else the
    one on PATH, else the module."""
    beside = Path(sys.executable).parent / "mosaic"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("mosaic")
    return [found] if found else [sys.executable, "-m", "mosaic.cli"]


class EmbeddedStack:
    """A ``mosaic run`` process of the test session and the HTTP address of its gateway."""

    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None):
        from mosaic.localdev import free_port

        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.operator_key = secrets.token_urlsafe(24)
        self.log_path = self.data_dir / "mosaic.log"
        # The caller's own MOSAIC_* settings (a developer's shell) must not leak into the stack;
        # MOSAIC_PLUGINS alone is the caller's way to load plugins that are not pip-installed.
        source = os.environ if env is None else env
        self.env = {k: v for k, v in source.items() if not k.startswith("MOSAIC_")}
        self.env.update(
            MOSAIC_MODE="embedded", MOSAIC_DATA_DIR=str(self.data_dir / "var"), MOSAIC_PORT=str(self.port),
            MOSAIC_OPERATOR_KEY=self.operator_key, MOSAIC_DEMO="0",
            MOSAIC_SECRET_KEY=secrets.token_urlsafe(32), MOSAIC_LOG_LEVEL="WARNING",
            # tests log in and call far more often than a person; the limits are not under test
            MOSAIC_RATE_LIMIT="100000", MOSAIC_KEY_RATE_LIMIT="100000",
            # a test's webhook receiver listens on loopback, which webhooks may call only if allowed
            MOSAIC_WEBHOOK_ALLOW="127.0.0.1/32",
            MOSAIC_PLUGINS=source.get("MOSAIC_PLUGINS", ""))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = READY_TIMEOUT) -> "EmbeddedStack":
        """Start ``mosaic run`` and wait until ``GET /readyz`` answers 200."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([*mosaic_command(), "run"], env=self.env, cwd=self.data_dir,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosaic run exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass  # not listening yet
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mosaic run was not ready within {timeout:.0f}s:\n{self.logs()}")

    def stop(self) -> None:
        """Terminate the process; kill it if it outlives the grace period."""
        from mosaic.localdev import stop_processes

        if self.proc is not None:
            stop_processes([self.proc])

    def logs(self, tail: int = 8000) -> str:
        """The end of the process's output."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return "(no log)"

    def tenant(self, plugins: Iterable[str] = (), modules: Iterable[str] | None = None) -> MosaicClient:
        """The admin of a fresh tenant with ``modules`` (default: every installed service) and
        ``plugins`` enabled."""
        return create_tenant(self.url, self.operator_key, plugins=plugins, modules=modules)

    def __repr__(self) -> str:
        return f"<EmbeddedStack {self.url}>"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so ``--strict-markers`` suites accept it."""
    config.addinivalue_line(
        "markers", f"{MARKER}(*names, modules=None): the plugins (and modules, default every installed service) "
                   "enabled for mosaic_client's tenant; overrides the mosaic_plugins fixture")


@pytest.fixture(scope="session")
def mosaic_stack(tmp_path_factory: pytest.TempPathFactory):
    """Mosaic's embedded stack, started once per test session."""
    stack = EmbeddedStack(tmp_path_factory.mktemp("mosaic-stack"))
    try:
        stack.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def mosaic_plugins() -> list[str]:
    """The plugins enabled for ``mosaic_client``'s tenant: none here; a plugin's conftest
    overrides this fixture to return its own name."""
    return []


@pytest.fixture
def mosaic_client(request: pytest.FixtureRequest, mosaic_stack: EmbeddedStack,
                  mosaic_plugins: list[str]) -> MosaicClient:
    """The admin of a fresh tenant with the plugins of ``@pytest.mark.mosaic_plugins(...)`` if
    the test has the marker, else of the ``mosaic_plugins`` fixture."""
    marker = request.node.get_closest_marker(MARKER)
    plugins, modules = list(mosaic_plugins), None
    if marker is not None:
        plugins = list(marker.args)
        modules = marker.kwargs.get("modules") or modules
    return mosaic_stack.tenant(plugins=plugins, modules=modules)
