"""The entrypoints every record-hosting service inherits (``mosaic.records.service``), called as
plain methods on a lab service: each checks the context, calls the engine, commits what it
wrote and nothing when it fails. (Over real RabbitMQ: tests/integration/test_contacts_rpc.py.)"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from mosaic.context import RequestContext
from mosaic.errors import BadRequest, PreconditionFailed, Unauthorized, ValidationFailed
from mosaic.records.models import Record
from mosaic.records.service import RecordService, _body, _process_summary


class Ctx:
    def __init__(self, tenant):
        self.tenant_id = tenant

    def tenant(self):
        if not self.tenant_id:
            raise Unauthorized("no tenant")
        return self


class Data:
    """The worker's handle as the entrypoints (and ``write_once``) use it: the caller's context
    (no request id: every call is a write of its own), its session and store."""

    def __init__(self, store, tenant="t1"):
        self._store, self.session = store, store.session
        self.ctx = RequestContext(tenant_id=tenant, user_id="u1", roles=("admin",))

    def store(self):
        return self._store


class LabService(RecordService):
    name = "lab"

    def __init__(self, store, tenant="t1"):
        self.ctx, self.data = Ctx(tenant), Data(store, tenant)


@pytest.fixture
def service(store):
    return LabService(store)


def test_record_rpcs_commit_their_writes(service, make_store):
    made = service.create_record("gadget", {"name": "A", "size": 1})
    assert made["duplicates"] == [] and made["record"]["version"] == 1
    rid = made["record"]["id"]
    assert service.update_record("gadget", rid, {"size": 2}, expected_version=1)["version"] == 2
    assert make_store().get("gadget", rid)["size"] == 2  # committed: another session sees it
    with pytest.raises(PreconditionFailed):
        service.update_record("gadget", rid, {"size": 3}, expected_version=1)
    service.data.session.rollback()
    page = service.list_records("gadget", sort="size", limit=1, count=True)
    assert page["total"] == 1 and page["items"][0]["id"] == rid
    assert service.get_record("gadget", rid, ["size"])["size"] == 2
    service.delete_record("gadget", rid, expected_version=2)
    assert make_store().list("gadget", count=True)["total"] == 0


def test_a_failed_write_commits_nothing(service, make_store):
    with pytest.raises(ValidationFailed):
        service.create_record("part", {"weight": 1})  # label is required
    service.data.session.rollback()
    reader = make_store()
    assert reader.session.scalar(select(func.count()).select_from(Record)) == 0


def test_history_pages_newest_first_with_the_shared_cursor(service):
    rid = service.create_record("gadget", {"name": "H", "size": 0})["record"]["id"]
    for size in range(1, 5):
        service.update_record("gadget", rid, {"size": size})
    first = service.record_history("gadget", rid, limit=3)
    rest = service.record_history("gadget", rid, cursor=first["next_cursor"], limit=3)
    sizes = [e["changes"].get("size", [None, None])[1] for e in first["items"] + rest["items"]]
    assert sizes == [4, 3, 2, 1, 0] and rest["next_cursor"] is None
    with pytest.raises(BadRequest):
        service.record_history("gadget", rid, cursor="garbage")


def test_a_caller_without_a_tenant_is_refused(store):
    with pytest.raises(Unauthorized):
        LabService(store, tenant=None).list_records("gadget")


def test_action_bodies_and_process_summaries():
    assert _body(None, {"to"}) == {}
    with pytest.raises(ValidationFailed):
        _body(["to"], {"to"})
    with pytest.raises(ValidationFailed) as err:
        _body({"to": "b", "sneaky": 1}, {"to"})
    assert list(err.value.errors) == ["sneaky"]
    summary = _process_summary({"name": "p", "field": "stage", "stages": [{"name": "a"}, {"name": "b"}],
                                "transitions": [{"from": "a", "to": "b", "approval": 1}]})
    assert summary["label"] == "p" and summary["stages"] == ["a", "b"]
    assert summary["transitions"] == [{"name": None, "from": "a", "to": "b", "approval": True}]
