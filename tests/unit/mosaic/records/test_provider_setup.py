"""A service's record provider builds its write pipeline and job handlers when its container
starts: a replica that has served no request yet runs every kind of job its pipeline queues."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from mosaic.automation.actions import ACTIONS_JOB
from mosaic.config import Settings
from mosaic.logic.steps import default_steps
from mosaic.processes.engine import TIMER_JOB
from mosaic.records.provider import Records
from mosaic.metadata.registry import ObjectRegistry


class FakeContainer:
    def __init__(self, settings):
        self.config = {"MOSAIC_SETTINGS": settings}


def test_setup_builds_the_pipeline_once_with_every_job_kind(tmp_path):
    provider = Records("unit", lambda: ObjectRegistry("unit"))
    provider.container = FakeContainer(Settings(data_dir=tmp_path))
    provider.setup()
    assert provider.steps is default_steps()  # one pipeline per process, not one per request
    assert {ACTIONS_JOB, TIMER_JOB} <= set(provider.job_handlers)


def test_a_fresh_process_knows_every_job_kind_without_a_request(tmp_path):
    """In a new interpreter, nothing but the provider's start-up has imported the steps."""
    code = textwrap.dedent(f"""
        import sys
        from mosaic.config import Settings
        from mosaic.metadata.registry import ObjectRegistry
        from mosaic.records.provider import Records

        class C:
            config = {{"MOSAIC_SETTINGS": Settings(data_dir=__import__("pathlib").Path({str(tmp_path)!r}))}}

        before = "mosaic.processes.engine" in sys.modules
        provider = Records("unit", lambda: ObjectRegistry("unit"))
        provider.container = C()
        provider.setup()
        print(before, sorted(provider.job_handlers))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    before, kinds = out.stdout.strip().split(" ", 1)
    assert before == "False"
    assert ACTIONS_JOB in kinds and TIMER_JOB in kinds
