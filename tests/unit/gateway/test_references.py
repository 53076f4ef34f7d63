"""The gateway's reference checks: a related record another service hosts is asked of that
service (its ``get_record``), one of the activity's own service is left to the service, an
object the tenant lacks is a 422. The services here are recorded stand-ins: the e2e suite
drives the same checks against the real contacts service."""
from __future__ import annotations

import pytest

from mosaic.errors import NotFound, ValidationFailed
from mosaic_gateway import references

ACTIVITY = {"name": "activity", "service": "contacts",
            "fields": [{"name": "type"}, {"name": "related_object"}, {"name": "related_id"}]}
OBJECTS = {"contact": {"name": "contact", "service": "contacts", "label": "Contact"},
           "opportunity": {"name": "opportunity", "service": "sales", "label": "Opportunity"}}


class Directory:
    def by_name(self, _ctx, name):
        if name not in OBJECTS:
            raise NotFound(name)
        return OBJECTS[name]


@pytest.fixture
def calls(monkeypatch):
    made = []
    stored = {("sales", "opportunity", "o1"), ("contacts", "activity", "a1")}

    def call(service, method, name, record_id, fields=None):
        made.append((service, method, name, record_id))
        if (service, name, record_id) not in stored:
            raise NotFound(f"{name} {record_id} not found")
        if name == "activity":
            return {"related_object": "opportunity", "related_id": "o1"}
        return {"id": record_id}

    monkeypatch.setattr(references, "call", call)
    monkeypatch.setattr(references, "directory", Directory)
    monkeypatch.setattr(references, "context", lambda: None)
    return made


def test_another_services_record_is_asked_of_that_service(calls):
    references.check_related(ACTIVITY, {"related_object": "opportunity", "related_id": "o1"})
    assert calls == [("sales", "get_record", "opportunity", "o1")]
    with pytest.raises(ValidationFailed) as err:
        references.check_related(ACTIVITY, {"related_object": "opportunity", "related_id": "o2"})
    assert list(err.value.errors) == ["related_id"]


def test_own_services_records_are_left_to_the_service(calls):
    references.check_related(ACTIVITY, {"related_object": "contact", "related_id": "anything"})
    assert calls == []


def test_an_object_the_tenant_lacks_is_refused(calls):
    with pytest.raises(ValidationFailed) as err:
        references.check_related(ACTIVITY, {"related_object": "spaceship", "related_id": "x"})
    assert list(err.value.errors) == ["related_object"]


def test_a_patch_of_one_half_is_checked_with_the_stored_other_half(calls):
    with pytest.raises(ValidationFailed):
        references.check_related(ACTIVITY, {"related_id": "o9"}, record_id="a1")
    assert calls == [("contacts", "get_record", "activity", "a1"), ("sales", "get_record", "opportunity", "o9")]


def test_writes_without_the_pair_ask_nothing(calls):
    references.check_related(ACTIVITY, {"type": "call"})
    references.check_related({"name": "contact", "service": "contacts", "fields": [{"name": "last_name"}]},
                             {"related_object": "opportunity", "related_id": "o9"})
    assert calls == []
