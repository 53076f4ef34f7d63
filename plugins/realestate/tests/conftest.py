"""Fixtures for the real-estate plugin's tests: the plugin loaded in a fresh host, the contacts
service's record store on a SQLite file with the whole write pipeline, and the HTTP harness's
``mosaic_plugins`` override.

The plugin is importable from a source checkout too (``pip install -e plugins/realestate`` is
the normal way).
"""
from __future__ import annotations

import importlib.util
import itertools
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

if importlib.util.find_spec("mosaic_realestate") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_tenants = itertools.count(1)


@pytest.fixture
def mosaic_plugins():
    """The plugins the HTTP harness (``mosaic.testing.pytest_plugin``) enables for the tenant."""
    return ["realestate"]


@pytest.fixture
def host():
    """A fresh plugin host with the real-estate plugin, installed as the process's host."""
    import mosaic.plugins.host as host_module
    from mosaic.plugins import PluginHost, set_host

    previous = host_module._HOST
    h = PluginHost().load(["mosaic_realestate.plugin"], discover=False)
    set_host(h)
    yield h
    set_host(previous)


@pytest.fixture
def engine(tmp_path, host):
    """A SQLite database with every table the contacts service and the pipeline use."""
    import mosaic.audit  # noqa: F401 - tables
    import mosaic.automation.execute  # noqa: F401 - tables and the "actions" job handler
    import mosaic.automation.notifications  # noqa: F401
    import mosaic.events.outbox  # noqa: F401
    import mosaic.logic.models  # noqa: F401
    import mosaic.metadata.store  # noqa: F401
    import mosaic.processes.engine  # noqa: F401 - tables and the "process_timer" job handler
    import mosaic.records.models  # noqa: F401
    import mosaic.webhooks.delivery  # noqa: F401
    import mosaic.webhooks.subscriptions  # noqa: F401
    import mosaic_contacts.models  # noqa: F401
    from mosaic.db import Base, make_engine
    from mosaic.metadata.schema_factory import clear_schema_cache

    eng = make_engine(f"sqlite:///{tmp_path / 'realestate.db'}", "contacts")
    Base.metadata.create_all(eng)
    clear_schema_cache()
    yield eng
    eng.dispose()
    clear_schema_cache()



def pipeline_steps():
    """The platform's write pipeline (its steps as ``mosaic.logic.steps`` lists them)."""
    from mosaic.logic.steps import STEP_CLASSES

    steps = []
    for path in STEP_CLASSES:
        module, _, name = path.partition(":")
        mod = importlib.import_module(module)
        if not hasattr(mod, name) and module == "mosaic.formulas":
            mod = importlib.import_module("mosaic.formulas.step")  # not re-exported yet
        steps.append(getattr(mod, name)())
    return steps


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        from datetime import datetime, timezone

        self.now = datetime(2024, 5, 8, 9, 0, tzinfo=timezone.utc)  # a Wednesday

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def tenant():
    """A tenant id of this test's own (schemas are cached per tenant and metadata version)."""
    return f"re{next(_tenants)}"


@pytest.fixture
def open_store(engine, host, clock, tenant):
    """``open_store(user="u1", roles=("admin",), plugins=("realestate",))``: a context manager
    giving a record store of the test's tenant on a fresh session (the caller commits)."""
    from mosaic.context import RequestContext
    from mosaic.db import tenant_session
    from mosaic.records.provider import build_store
    from mosaic_contacts.behaviours import build_behaviours
    from mosaic_contacts.objects import build_registry

    registry = build_registry(host)

    @contextmanager
    def factory(user="u1", roles=("admin",), plugins=("realestate",), tenant_id=None):
        tid = tenant_id or tenant
        ctx = RequestContext(tenant_id=tid, user_id=user, roles=tuple(roles), modules=("contacts",),
                             plugins=tuple(plugins))
        with tenant_session(engine, tid) as session:
            yield build_store(session, registry, ctx, module="contacts", behaviours=build_behaviours(),
                              clock=clock, steps=pipeline_steps(), max_age=0)
    return factory


@pytest.fixture
def store(open_store):
    """A store of the test's tenant as user u1 (admin), with the plugin enabled."""
    with open_store() as s:
        yield s
