"""References to records another service hosts (mosaic.records.references), checked by the
writing store. The transport is replaced by a table of what each service would answer; the real
RPC path is tests/integration/test_references_rabbitmq.py."""
from __future__ import annotations

from dataclasses import replace

import pytest

from mosaic import services
from mosaic.errors import Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from mosaic.records.references import RemoteRecords
from tests.unit.mosaic.records.conftest import make_gadget


class Answers(RemoteRecords):
    """RemoteRecords whose calls are answered from ``hosted`` ({service: {object: {ids}}});
    a service named in ``down`` is not running."""

    def __init__(self, hosted: dict, down=()):
        super().__init__(container=None, reply_listener=None, own="lab", timeout=1)
        self.hosted, self.down, self.calls = hosted, set(down), []

    def call(self, ctx, service, method, *args):
        self.calls.append((service, method, self._context(ctx, service).modules))
        if service in self.down:
            raise ServiceUnavailable(f"the {service} service is not running")
        objects = self.hosted[service]
        if method == "object_names":
            return sorted(objects)
        name, record_id, _fields = args
        if record_id not in objects[name]:
            raise NotFound(f"{name} {record_id} not found")
        return {"id": record_id}


@pytest.fixture(autouse=True)
def installed(monkeypatch):
    found = {name: services.ServiceSpec(name=name, package="mosaic_gateway") for name in ("lab", "sales", "desk")}
    monkeypatch.setattr(services, "_services", found)


def ctx_modules(make_store, *modules):
    """An admin's store of tenant t1 whose tenant enabled ``modules``."""
    store = make_store()
    store.ctx = replace(store.ctx, modules=modules)
    return store


def test_a_record_of_another_service_must_exist(make_store):
    remote = Answers({"sales": {"deal": {"d-1"}}, "desk": {"ticket": set()}})
    store = ctx_modules(make_store, "lab", "sales", "desk")
    store.remote = remote
    assert make_gadget(store, related_object="deal", related_id="d-1")["related_id"] == "d-1"
    with pytest.raises(ValidationFailed) as err:
        make_gadget(store, related_object="deal", related_id="d-404")
    assert err.value.errors == {"related_id": ["no deal with id d-404"]}
    with pytest.raises(ValidationFailed) as err:
        make_gadget(store, related_object="spaceship", related_id="s-1")
    assert err.value.errors == {"related_object": ["no object 'spaceship' in this tenant"]}
    # where objects live is asked once per service, not on every write
    assert sum(1 for c in remote.calls if c[1] == "object_names") == 2


def test_a_disabled_module_is_not_asked_and_its_objects_are_unknown(make_store):
    store = ctx_modules(make_store, "lab")
    store.remote = Answers({"sales": {"deal": {"d-1"}}})
    with pytest.raises(ValidationFailed) as err:
        make_gadget(store, related_object="deal", related_id="d-1")
    assert "related_object" in err.value.errors and store.remote.calls == []


def test_the_platform_asks_every_service_carrying_its_module(make_store):
    remote = Answers({"sales": {"deal": {"d-1"}}, "desk": {}})
    store = ctx_modules(make_store, "lab")
    store.ctx = replace(store.ctx, roles=("system",), user_id=None)
    store.remote = remote
    assert make_gadget(store, related_object="deal", related_id="d-1")["related_id"] == "d-1"
    assert ("sales", "get_record", ("lab", "sales")) in remote.calls


def test_a_host_that_is_down_is_a_503_not_a_pass(make_store):
    store = ctx_modules(make_store, "lab", "sales", "desk")
    store.remote = Answers({"sales": {"deal": {"d-1"}}, "desk": {}}, down={"sales"})
    with pytest.raises(ServiceUnavailable):
        make_gadget(store, related_object="deal", related_id="d-1")
    # another service hosting the object answers although one is down
    store.remote = Answers({"sales": {}, "desk": {"ticket": {"t-1"}}}, down={"sales"})
    assert make_gadget(store, related_object="ticket", related_id="t-1")["related_id"] == "t-1"


def test_the_hosts_typed_errors_pass_through(make_store):
    class Refusing(Answers):
        def call(self, ctx, service, method, *args):
            if method == "get_record":
                raise Forbidden("your roles may not read Deal records")
            return super().call(ctx, service, method, *args)

    store = ctx_modules(make_store, "lab", "sales")
    store.remote = Refusing({"sales": {"deal": {"d-1"}}, "desk": {}})
    with pytest.raises(Forbidden):
        make_gadget(store, related_object="deal", related_id="d-1")


def test_same_service_references_stay_in_the_transaction(make_store):
    store = ctx_modules(make_store, "lab", "sales")
    store.remote = Answers({"sales": {}, "desk": {}})
    part = store.create("part", {"label": "bolt"})
    assert make_gadget(store, related_object="part", related_id=part["id"])["related_id"] == part["id"]
    assert store.remote.calls == []
