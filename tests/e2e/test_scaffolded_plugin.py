"""A plugin fresh from ``mosaic plugin new`` passes its own tests, as its author would run them:
pytest in the plugin's directory, the ``mosaic`` pytest plugin starting the embedded stack, the
plugin loaded through ``MOSAIC_PLUGINS`` (no pip install needed)."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

from mosaic.plugins.scaffold import scaffold


def _harness_args() -> list[str]:
    # Once mosaic-crm is installed with its pytest11 entry point, pytest loads the harness by
    # itself, and naming it again with -p would register it twice.
    if entry_points(group="pytest11", name="mosaic"):
        return []
    return ["-p", "mosaic.testing.pytest_plugin"]


def test_a_scaffolded_plugin_passes_its_generated_tests(tmp_path):
    root = scaffold("demo_scaffold", tmp_path / "plugins")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOSAIC_", "PYTEST_"))}
    env.update(PYTHONPATH=str(root), MOSAIC_PLUGINS="mosaic_demo_scaffold.plugin")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_harness_args(),
         "--basetemp", str(tmp_path / "pytest-tmp"),
         "tests/test_demo_scaffold_plugin.py"],
        cwd=root, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert "2 passed" in done.stdout, done.stdout[-3000:]
