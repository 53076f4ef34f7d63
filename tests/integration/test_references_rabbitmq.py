"""Owners and records of other services checked by the writing service itself, on the real
PostgreSQL and RabbitMQ: the contacts service asks a second service (a small ``sales`` stand-in
hosting ``deal`` records) whether a record exists, from an RPC write and from an automation job
its own timer runs; and it checks owners against the users the gateway syncs to it (the gateway's
``UserSync`` with its real database), also after a sync that failed."""
from __future__ import annotations

import pytest
from nameko.containers import ServiceContainer
from sqlalchemy import select

from mosaic import services
from mosaic.config import load_settings
from mosaic.context import RequestContext, Tenancy
from mosaic.db import get_engine, system_session, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate_all
from mosaic.entrypoints import rpc
from mosaic.errors import NotFound, ServiceUnavailable, ValidationFailed
from mosaic.rpc import RpcPool
from mosaic.runtime import nameko_config, start_service
from mosaic_gateway import identity
from mosaic_gateway.user_sync import UserSync
from tests.conftest import drop_vhost, fresh_database, fresh_vhost

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

#: the deals the sales stand-in hosts, by tenant
DEALS = {"ta": {"d-1"}}


class Sales:
    """What the contacts service asks of the service hosting ``deal``: the same two RPCs every
    record service answers (``object_names``, ``get_record``), with the same module check."""

    name = "sales"
    ctx = Tenancy(module="sales")

    @rpc
    def object_names(self):
        self.ctx.tenant()
        return ["deal"]

    @rpc
    def get_record(self, object_name, record_id, fields=None):
        ctx = self.ctx.tenant()
        if object_name != "deal" or record_id not in DEALS.get(ctx.tenant_id, ()):
            raise NotFound(f"{object_name} {record_id} not found")
        return {"id": record_id}


@pytest.fixture(scope="module")
def env():
    vhost = fresh_vhost("mosaic_it_refs")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    settings = load_settings({"MOSAIC_MODE": "distributed", "MOSAIC_DATABASE_URL": fresh_database("mosaic_it_refs"),
                              "MOSAIC_AMQP_URI": amqp, "MOSAIC_SECRET_KEY": "it", "MOSAIC_RPC_TIMEOUT": "5",
                              "MOSAIC_JOBS_INTERVAL": "0.2"})
    migrate_all(settings)
    installed = dict(services.installed())
    # a deployment with a sales service installed (its read model of users is not ours to test)
    services._services = {**installed, "sales": services.ServiceSpec(name="sales", package="mosaic_gateway",
                                                                     platform_tables=False)}
    contacts = start_service(settings, "contacts")
    sales = ServiceContainer(Sales, nameko_config(settings))
    sales.start()
    pool = RpcPool(amqp, size=8, timeout=20)
    try:
        yield settings, pool, sales, contacts
    finally:
        pool.close()
        sales.stop()
        contacts.stop()
        services._services = installed
        dispose_engines()
        drop_vhost(vhost)


def ctx(tenant="ta", user="u-admin", roles=("admin",), modules=("contacts", "sales")) -> RequestContext:
    return RequestContext(tenant_id=tenant, user_id=user, roles=roles, modules=modules)


def system(tenant) -> RequestContext:
    return RequestContext(tenant_id=tenant, roles=("system",))


def activity(pool, tenant="ta", **values):
    return pool.call("contacts", "create_record", ctx(tenant), "activity",
                     {"type": "call", "subject": "s", **values})["record"]


def test_a_record_of_another_service_is_asked_of_it(env):
    _settings, pool, _sales, _contacts = env
    assert activity(pool, related_object="deal", related_id="d-1")["related_id"] == "d-1"
    with pytest.raises(ValidationFailed) as err:
        activity(pool, related_object="deal", related_id="d-404")
    assert err.value.errors == {"related_id": ["no deal with id d-404"]}
    with pytest.raises(ValidationFailed) as err:
        activity(pool, tenant="tb", related_object="deal", related_id="d-1")  # another tenant's deal
    assert list(err.value.errors) == ["related_id"]
    with pytest.raises(ValidationFailed) as err:
        activity(pool, related_object="starship", related_id="x")
    assert list(err.value.errors) == ["related_object"]


def test_an_automation_rule_about_a_missing_record_of_another_service_is_refused(env):
    _settings, pool, _sales, _contacts = env
    for name, deal in (("to_missing", "d-404"), ("to_real", "d-1")):
        pool.call("contacts", "put_definition", ctx("tj"), "automation_rule", {
            "name": name, "object": "activity", "trigger": {"type": "created"}, "condition": f"subject = '{name}'",
            "actions": [{"type": "set_field", "field": "related_object", "value": "deal"},
                        {"type": "set_field", "field": "related_id", "value": deal}]})
    DEALS["tj"] = {"d-1"}
    about = pool.call("contacts", "create_record", ctx("tj"), "contact", {"last_name": "Lee"})["record"]
    link = {"related_object": "contact", "related_id": about["id"]}
    with pytest.raises(ValidationFailed) as err:
        activity(pool, tenant="tj", subject="to_missing", **link)
    assert err.value.errors == {"related_id": ["no deal with id d-404"]}
    real = activity(pool, tenant="tj", subject="to_real", **link)
    assert (real["related_object"], real["related_id"]) == ("deal", "d-1")


def test_the_platform_checks_another_services_records_too(env):
    """Jobs, timers and event handlers write as the platform (role ``system``, only their own
    module in the context): the check still reaches the other service."""
    _settings, pool, _sales, _contacts = env
    DEALS["tp"] = {"d-1"}
    about = pool.call("contacts", "create_record", ctx("tp"), "contact", {"last_name": "Lee"})["record"]
    made = activity(pool, tenant="tp", related_object="contact", related_id=about["id"])
    provider = next(d for d in env[3].dependencies if type(d).__name__ == "Records")
    with provider.open_store("tp") as store:
        assert "system" in store.ctx.roles and store.ctx.modules == ("contacts",)
        with pytest.raises(ValidationFailed) as err:
            store.update("activity", made["id"], {"related_object": "deal", "related_id": "d-404"})
        assert list(err.value.errors) == ["related_id"]
        store.session.rollback()
        store.update("activity", made["id"], {"related_object": "deal", "related_id": "d-1"})
        store.session.commit()
    assert pool.call("contacts", "get_record", ctx("tp"), "activity", made["id"])["related_id"] == "d-1"


def test_another_service_down_is_a_503_not_a_pass(env):
    _settings, pool, sales, _contacts = env
    sales.stop()
    try:
        with pytest.raises(ServiceUnavailable):
            activity(pool, tenant="td", related_object="deal", related_id="d-1")
    finally:
        sales.start()


def test_owners_are_users_the_gateway_synced_and_of_this_tenant_only(env):
    settings, pool, _sales, _contacts = env
    gateway = get_engine(settings, "gateway")
    with system_session(gateway) as session:
        tenant, admin = identity.create_tenant(session, "refs-a", "A", "admin@refs-a.test", "correct horse battery")
        other, stranger = identity.create_tenant(session, "refs-b", "B", "admin@refs-b.test", "correct horse battery")
        session.commit()
        tenant_id, other_id, admin_id, stranger_id = tenant.id, other.id, admin.id, stranger.id
    sync = UserSync(pool)
    with system_session(gateway) as session:
        assert sync.catch_up(session) == []
    with tenant_session(gateway, tenant_id) as session:
        rep = identity.create_user(session, "rep@refs-a.test", "correct horse battery", roles=["sales"])
        session.commit()
        rep_row = {"id": rep.id, "active": True}
    assert sync.push(tenant_id, [rep_row])
    caller = ctx(tenant_id, user=admin_id, modules=("contacts",))
    made = pool.call("contacts", "create_record", caller, "contact", {"last_name": "Lee", "owner_id": rep.id})
    assert made["record"]["owner_id"] == rep.id  # a valid owner right after its creation
    for owner in (stranger_id, "nobody"):  # another tenant's user; no user at all
        with pytest.raises(ValidationFailed) as err:
            pool.call("contacts", "create_record", caller, "contact", {"last_name": "X", "owner_id": owner})
        assert list(err.value.errors) == ["owner_id"]
    assert other_id != tenant_id


def test_a_user_whose_sync_failed_is_refused_until_the_resync(env):
    settings, pool, _sales, _contacts = env
    gateway = get_engine(settings, "gateway")
    with system_session(gateway) as session:
        tenant, admin = identity.create_tenant(session, "refs-c", "C", "admin@refs-c.test", "correct horse battery")
        session.commit()
        tenant_id, admin_id = tenant.id, admin.id
    sync = UserSync(pool)
    with system_session(gateway) as session:
        sync.catch_up(session)
    # the push meets no service: an empty vhost, as when the broker has no consumer for them
    vhost = fresh_vhost("mosaic_it_refs_empty")
    nowhere = RpcPool(f"amqp://guest:guest@127.0.0.1:5672/{vhost}", size=2, timeout=5)
    try:
        with tenant_session(gateway, tenant_id) as session:
            late = identity.create_user(session, "late@refs-c.test", "correct horse battery")
            session.commit()
            late_id = late.id
        sync.rpc = nowhere
        assert sync.push(tenant_id, [{"id": late_id, "active": True}]) is False
    finally:
        nowhere.close()
        drop_vhost(vhost)
    assert sync.pending(tenant_id)
    caller = ctx(tenant_id, user=admin_id, modules=("contacts",))
    with pytest.raises(ValidationFailed) as err:  # never taken on trust
        pool.call("contacts", "create_record", caller, "contact", {"last_name": "Late", "owner_id": late_id})
    assert list(err.value.errors) == ["owner_id"]
    sync.rpc = pool  # the services answer again: the next readiness check resyncs the tenant
    with system_session(gateway) as session:
        assert sync.catch_up(session) == []
    made = pool.call("contacts", "create_record", caller, "contact", {"last_name": "Late", "owner_id": late_id})
    assert made["record"]["owner_id"] == late_id


def test_a_plugin_writing_through_the_store_names_only_users_of_the_tenant(env):
    """What a plugin's event handler or a job gets: a platform store of the running service."""
    _settings, pool, _sales, contacts = env
    pool.call("contacts", "sync_users", system("tq"), [{"id": "u-q", "active": True}])
    pool.call("contacts", "sync_users", system("tr"), [{"id": "u-r", "active": True}])
    provider = next(d for d in contacts.dependencies if type(d).__name__ == "Records")
    with provider.open_store("tq") as store:
        assert store.create("contact", {"last_name": "Ok", "owner_id": "u-q"})["owner_id"] == "u-q"
        for stranger in ("u-r", "nobody"):  # another tenant's user; no user at all
            with pytest.raises(ValidationFailed) as err:
                store.create("contact", {"last_name": "No", "owner_id": stranger})
            assert err.value.errors == {"owner_id": [f"no user {stranger!r} in this tenant"]}
        store.session.commit()
