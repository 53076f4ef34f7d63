"""The caller's identity as a worker reads it from nameko context data (``mosaic.context``)."""
from __future__ import annotations

from types import SimpleNamespace

from mosaic.context import RequestContext, Tenancy

DATA = {"tenant_id": "t1", "user_id": "u1", "roles": "admin,sales", "modules": "contacts",
        "plugins": "", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "request_id": "r1", "call_id_stack": ["gateway.1"]}


def test_a_worker_reads_its_context_once_for_every_dependency():
    worker = SimpleNamespace(data=dict(DATA))
    ctx = RequestContext.of_worker(worker)
    assert ctx == RequestContext.from_nameko(DATA)
    assert ctx.roles == ("admin", "sales") and ctx.plugins == ()
    worker.data["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"  # tracing's
    assert RequestContext.of_worker(worker) is ctx  # read once, as the dependencies were injected
    assert Tenancy(module="contacts").get_dependency(worker).tenant() is ctx


def test_each_worker_has_its_own_context():
    first, second = SimpleNamespace(data=dict(DATA)), SimpleNamespace(data={**DATA, "tenant_id": "t2"})
    assert RequestContext.of_worker(first).tenant_id == "t1"
    assert RequestContext.of_worker(second).tenant_id == "t2"
