"""Services and the gateway are found through entry points, never listed in the platform."""
from __future__ import annotations

import pytest

from mosaic import services
from mosaic.services import GatewaySpec, ServiceSpec


class FakeEntryPoint:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def load(self):
        return self.value


@pytest.fixture
def discovered(monkeypatch):
    """Replace what the installed distributions declare with ``groups`` (group -> {name: object})."""
    groups: dict[str, dict] = {}

    def fake_entry_points(group):
        return [FakeEntryPoint(n, v) for n, v in groups.get(group, {}).items()]

    monkeypatch.setattr(services, "entry_points", fake_entry_points)
    services.reset()
    yield groups
    services.reset()


def spec(name, **kw):
    return ServiceSpec(name=name, package=f"mosaic_{name}", service_class=f"mosaic_{name}.service:S", **kw)


def test_the_installed_contacts_service_and_gateway_are_found():
    assert "contacts" in services.names()
    contacts = services.get("contacts")
    assert contacts.load_class().name == "contacts"
    assert contacts.platform_tables and "contacts" in contacts.tables
    assert services.gateway().name == "gateway" and not services.gateway().platform_tables
    assert set(services.components()) == {"gateway", *services.running()}


def test_the_hub_is_a_platform_service_every_run_mode_starts_but_no_module():
    hub = services.get("hub")
    assert not hub.module and not hub.platform_tables and not hub.outbox
    assert hub.load_class().name == "hub"
    assert "hub" in services.running() and "hub" not in services.names()
    assert "hub" not in services.relayed() and "contacts" in services.relayed()
    assert services.enabled(["contacts", "hub"]) == ["contacts"]  # never "enabled": always there


def test_platform_services_are_run_but_never_modules(discovered):
    discovered[services.SERVICES_GROUP] = {"sales": spec("sales"), "inbox": spec("inbox", module=False,
                                                                                  platform_tables=False)}
    assert services.names() == ("sales",)
    assert services.running() == ("inbox", "sales")
    assert services.relayed() == ("sales",)
    assert services.enabled(["sales", "inbox"]) == ["sales"]


def test_services_come_in_name_order_and_enabled_keeps_only_installed(discovered):
    discovered[services.SERVICES_GROUP] = {"sales": spec("sales"), "billing": spec("billing")}
    assert services.names() == ("billing", "sales")
    assert services.enabled(["sales", "marketing", "billing"]) == ["billing", "sales"]
    assert services.enabled(None) == []
    with pytest.raises(KeyError, match="billing, sales"):
        services.get("marketing")


def test_an_entry_point_must_name_its_own_spec(discovered):
    discovered[services.SERVICES_GROUP] = {"sales": spec("billing")}
    with pytest.raises(ValueError, match="declares a component named 'billing'"):
        services.installed()


def test_an_entry_point_must_be_a_spec(discovered):
    discovered[services.SERVICES_GROUP] = {"sales": {"name": "sales"}}
    with pytest.raises(TypeError, match="not a ServiceSpec"):
        services.installed()


def test_exactly_one_gateway(discovered):
    discovered[services.GATEWAY_GROUP] = {}
    with pytest.raises(RuntimeError, match="expected one"):
        services.gateway()
    services.reset()
    discovered[services.GATEWAY_GROUP] = {"gateway": GatewaySpec(name="gateway", package="gw", app="gw:app")}
    assert services.gateway().app == "gw:app"


def test_a_service_brings_its_module_grants(discovered):
    from mosaic import permissions

    discovered[services.SERVICES_GROUP] = {"billing": spec("billing", grants={"sales": permissions.READ})}
    services.installed()
    assert permissions.can(["sales"], "invoice", "read", module="billing")
    assert not permissions.can(["sales"], "invoice", "create", module="billing")


def test_read_models_host_no_records(discovered):
    discovered[services.SERVICES_GROUP] = {"sales": spec("sales"), "analytics": spec("analytics", records=False)}
    assert services.get("sales").records and not services.get("analytics").records
    assert services.enabled(["analytics", "sales"]) == ["analytics", "sales"]
    assert services.hosting_records(["analytics", "sales", "marketing"]) == ["sales"]
    assert services.hosting_records(["analytics"]) == []
