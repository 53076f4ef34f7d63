"""One service calling another on the real RabbitMQ (``mosaic.calls``): the caller's context
travels, typed errors come back typed, and a missing or slow service is a ServiceUnavailable."""
from __future__ import annotations

import eventlet
import pytest
from nameko.containers import ServiceContainer

from mosaic.calls import ServiceCalls
from mosaic.context import RequestContext, Tenancy
from mosaic.entrypoints import rpc
from mosaic.errors import NotFound, ServiceUnavailable
from mosaic.rpc import RpcPool
from tests.conftest import drop_vhost, fresh_vhost

pytestmark = pytest.mark.rabbitmq


class Callee:
    name = "callee"
    ctx = Tenancy()

    @rpc
    def whoami(self):
        ctx = self.ctx.tenant()
        return {"tenant": ctx.tenant_id, "user": ctx.user_id, "roles": list(ctx.roles)}

    @rpc
    def missing(self):
        raise NotFound("no such thing here", errors={"id": ["unknown"]})

    @rpc
    def slow(self):
        eventlet.sleep(3)
        return "late"


class Caller:
    name = "caller"
    ctx = Tenancy()
    services = ServiceCalls(timeout=1)

    @rpc
    def relay(self, method):
        self.ctx.tenant()
        return self.services.call("callee", method)

    @rpc
    def nobody(self):
        return self.services.call("nobody_home", "ping")

    @rpc
    def has_module(self, module):
        return self.services.enabled(module)


@pytest.fixture(scope="module")
def pool():
    vhost = fresh_vhost("mosaic_it_calls")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    config = {"AMQP_URI": amqp, "SERIALIZER": "json"}
    containers = [ServiceContainer(cls, config) for cls in (Callee, Caller)]
    for c in containers:
        c.start()
    rpc_pool = RpcPool(amqp, size=4, timeout=20)
    try:
        yield rpc_pool
    finally:
        rpc_pool.close()
        for c in containers:
            c.stop()
        drop_vhost(vhost)


CTX = RequestContext(tenant_id="t1", user_id="u1", roles=("sales",), modules=("contacts", "sales"))


def test_the_callers_context_travels(pool):
    assert pool.call("caller", "relay", CTX, "whoami") == {"tenant": "t1", "user": "u1", "roles": ["sales"]}
    assert pool.call("caller", "has_module", CTX, "sales") is True
    assert pool.call("caller", "has_module", CTX, "marketing") is False


def test_typed_errors_come_back_typed(pool):
    with pytest.raises(NotFound) as exc:
        pool.call("caller", "relay", CTX, "missing")
    assert exc.value.detail == "no such thing here" and exc.value.errors == {"id": ["unknown"]}


def test_a_missing_or_slow_service_is_unavailable(pool):
    with pytest.raises(ServiceUnavailable, match="nobody_home service is not running"):
        pool.call("caller", "nobody", CTX)
    with pytest.raises(ServiceUnavailable, match="did not answer in time"):
        pool.call("caller", "relay", CTX, "slow")
