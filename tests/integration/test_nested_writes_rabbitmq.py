"""A write that makes writes in another service (``mosaic.calls``), on the real RabbitMQ and
PostgreSQL with the contacts service: each call carries a request id of its own, derived from the
caller's, so two creates in one request are two writes (not one answered twice, nor a 422), and a
redelivered or retried caller is answered with the writes it made the first time."""
from __future__ import annotations

import uuid

import pytest
from nameko.containers import ServiceContainer

from mosaic.calls import ServiceCalls
from mosaic.config import load_settings
from mosaic.context import RequestContext, Tenancy
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate_all
from mosaic.entrypoints import rpc
from mosaic.rpc import RpcPool
from mosaic.runtime import nameko_config, start_service
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


class Orchestrator:
    """A service whose one write creates contacts through the contacts service."""

    name = "orchestrator"
    ctx = Tenancy()
    services = ServiceCalls(timeout=20)

    @rpc
    def create_contacts(self, *payloads):
        self.ctx.tenant()
        return [self.services.call("contacts", "create_record", "contact", p)["record"]["id"] for p in payloads]

    @rpc
    def request_ids(self, *calls):
        return [self.services.request_id_for(service, method) for service, method in calls]


@pytest.fixture(scope="module")
def pool():
    vhost = fresh_vhost("mosaic_it_nested")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_nested"),
                              "MOSAIC_AMQP_URI": amqp, "MOSAIC_SECRET_KEY": "it-" + "s" * 40})
    migrate_all(settings)
    containers = [start_service(settings, "contacts"), ServiceContainer(Orchestrator, nameko_config(settings))]
    containers[1].start()
    rpc_pool = RpcPool(amqp, size=4, timeout=30)
    try:
        yield rpc_pool
    finally:
        rpc_pool.close()
        for c in containers:
            c.stop()
        dispose_engines()
        drop_vhost(vhost)


def ctx(tenant: str, request_id: str | None) -> RequestContext:
    return RequestContext(tenant_id=tenant, user_id="u1", roles=("admin",), modules=("contacts",),
                          request_id=request_id)


def names(pool, tenant: str) -> list[str]:
    items = pool.call("contacts", "list_records", ctx(tenant, None), "contact", limit=100)["items"]
    return sorted(c["last_name"] for c in items)


def test_two_different_writes_of_one_method_are_two_writes(pool):
    tenant = "n-" + uuid.uuid4().hex[:8]
    ids = pool.call("orchestrator", "create_contacts", ctx(tenant, "req-a"),
                    {"last_name": "Alpha"}, {"last_name": "Beta"})
    assert len(set(ids)) == 2
    assert names(pool, tenant) == ["Alpha", "Beta"]


def test_the_same_write_twice_in_one_request_is_two_writes(pool):
    tenant = "n-" + uuid.uuid4().hex[:8]
    ids = pool.call("orchestrator", "create_contacts", ctx(tenant, "req-b"),
                    {"last_name": "Twin"}, {"last_name": "Twin"})
    assert len(set(ids)) == 2
    assert names(pool, tenant) == ["Twin", "Twin"]


def test_a_repeated_caller_is_answered_with_its_first_writes(pool):
    tenant = "n-" + uuid.uuid4().hex[:8]
    payloads = ({"last_name": "Once"}, {"last_name": "Twice"})
    first = pool.call("orchestrator", "create_contacts", ctx(tenant, "req-c"), *payloads)
    again = pool.call("orchestrator", "create_contacts", ctx(tenant, "req-c"), *payloads)  # a redelivery
    assert again == first
    assert names(pool, tenant) == ["Once", "Twice"]
    other = pool.call("orchestrator", "create_contacts", ctx(tenant, "req-d"), *payloads)  # another request
    assert not set(other) & set(first)
    assert names(pool, tenant) == ["Once", "Once", "Twice", "Twice"]


def test_child_ids_are_derived_per_callee_method_and_call(pool):
    calls = (("contacts", "create_record"), ("contacts", "create_record"), ("contacts", "update_record"),
             ("sales", "create_record"))
    assert pool.call("orchestrator", "request_ids", ctx("t", "k:abc"), *calls) == [
        "k:abc>contacts.create_record", "k:abc>contacts.create_record:2", "k:abc>contacts.update_record",
        "k:abc>sales.create_record"]
    assert pool.call("orchestrator", "request_ids", ctx("t", None), *calls) == [None] * 4  # none to derive from
