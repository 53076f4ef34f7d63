"""The record engine's writes on the lab objects: what each leaves behind (audit, outbox), the
checks every write makes (versions, lost races, lookups, related records, unique fields,
permissions and ownership) and tenant isolation."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from mosaic.audit import AuditEntry
from mosaic.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from mosaic.events.outbox import OutboxEvent
from mosaic.records.pipeline import Step
from tests.unit.mosaic.records.conftest import make_gadget


def test_create_get_update_delete_leave_audit_and_events(store):
    g = make_gadget(store, size=3, price={"amount": 9.5}, made_on="2026-01-02", tags=["red"])
    assert g["version"] == 1 and g["owner_id"] == "u1" and g["price"] == {"amount": 9.5, "currency": "EUR"}
    assert store.get("gadget", g["id"]) == g
    assert store.get("gadgets", g["id"], fields=["size"]) == {"object": "gadget", "id": g["id"], "version": 1, "size": 3}
    updated = store.update("gadget", g["id"], {"size": 4, "made_on": None}, expected_version=1)
    assert updated["version"] == 2 and updated["size"] == 4 and updated["made_on"] is None
    assert store.update("gadget", g["id"], {"size": 4}) == updated  # no change: no new version
    store.delete("gadget", g["id"], expected_version=2)
    store.session.commit()
    events = [e.type for e in store.session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]
    assert events == ["gadget.created", "gadget.updated", "gadget.deleted"]
    audit = store.session.scalars(select(AuditEntry).order_by(AuditEntry.at)).all()
    assert [a.action for a in audit] == ["create", "update", "delete"]
    assert audit[1].changes == {"made_on": ["2026-01-02", None], "size": [3, 4]}
    with pytest.raises(NotFound):
        store.get("gadget", g["id"])


def test_custom_objects_live_in_the_records_table(store, make_store):
    p = store.create("part", {"label": "Bolt", "weight": 1.25})
    store.session.commit()
    assert store.get("part", p["id"])["weight"] == 1.25
    with pytest.raises(NotFound):
        store.get("gadget", p["id"])  # another object's id
    with pytest.raises(NotFound):
        make_store(tenant="t2").get("part", p["id"])  # another tenant's record
    with pytest.raises(NotFound):
        store.obj("widget")


def test_a_stale_version_is_412_and_names_the_current_one(store):
    g = make_gadget(store)
    store.update("gadget", g["id"], {"size": 1})
    with pytest.raises(PreconditionFailed) as err:
        store.update("gadget", g["id"], {"size": 2}, expected_version=1)
    assert err.value.extra["current_version"] == 2
    with pytest.raises(PreconditionFailed):
        store.delete("gadget", g["id"], expected_version=1)


@pytest.mark.parametrize("if_match, expected", [(1, PreconditionFailed), (None, Conflict)])
def test_a_write_that_loses_a_race_after_its_check_is_412_or_409(make_store, if_match, expected):
    """Writer A reads version 1 and passes the version check; B commits version 2; A's UPDATE
    then matches no row. A's answer is a typed error, built without touching the failed session."""
    first = make_store()
    g = make_gadget(first)
    first.session.commit()
    a = make_store()
    row = a.load_row(a.obj("gadget"), g["id"])
    a._check_version(row, if_match)
    b = make_store()
    b.update("gadget", g["id"], {"size": 2})
    b.session.commit()
    with pytest.raises(expected) as err:
        a.update_values(a.obj("gadget"), row, {"size": 3}, expected_version=if_match)
    assert g["id"] in err.value.detail


def test_a_delete_that_loses_a_race_is_409(make_store):
    first = make_store()
    g = make_gadget(first)
    first.session.commit()
    a = make_store()
    row = a.load_row(a.obj("gadget"), g["id"])
    b = make_store()
    b.delete("gadget", g["id"])
    b.session.commit()
    with pytest.raises(Conflict):
        a.delete_row(a.obj("gadget"), row)


def test_lookups_must_name_a_record_of_the_tenant(store, make_store):
    other = make_store(tenant="t2")  # SQLite: one writer at a time, so t2 writes and commits first
    foreign = other.create("part", {"label": "Theirs"})
    other.session.commit()
    part = store.create("part", {"label": "Nut"})
    assert make_gadget(store, part_id=part["id"])["part_id"] == part["id"]
    for bad in ("nope", foreign["id"]):
        with pytest.raises(ValidationFailed) as err:
            make_gadget(store, part_id=bad)
        assert list(err.value.errors) == ["part_id"]


def test_related_records_are_checked_when_this_service_hosts_them(store):
    part = store.create("part", {"label": "Gear"})
    g = make_gadget(store, related_object="part", related_id=part["id"])
    cases = [({"related_object": "part", "related_id": "nope"}, "related_id"),
             ({"related_id": part["id"]}, "related_object"),
             ({"related_object": "part"}, "related_id")]
    for values, field in cases:
        with pytest.raises(ValidationFailed) as err:
            make_gadget(store, **values)
        assert list(err.value.errors) == [field], values
    # a PATCH of one half is checked with the other half as stored
    with pytest.raises(ValidationFailed):
        store.update("gadget", g["id"], {"related_id": "nope"})
    # another service's object: a bare store has no RemoteRecords to ask (test_remote_references.py)
    assert make_gadget(store, related_object="opportunity", related_id="o-1")["related_id"] == "o-1"


def test_unique_fields_refuse_a_second_record_with_the_value(store):
    g = make_gadget(store, name="Solo")
    with pytest.raises(Conflict) as err:
        make_gadget(store, name="Solo")
    assert "name" in err.value.errors
    assert store.update("gadget", g["id"], {"name": "Solo", "size": 1})["size"] == 1  # its own value


def test_roles_and_ownership(make_store, users):
    users("t1", "someone-else", "rep")
    admin = make_store(module="contacts")
    theirs = make_gadget(admin, owner_id="someone-else")
    mine = make_gadget(admin, owner_id="rep")
    admin.session.commit()
    rep = make_store(user="rep", roles=("sales",), module="contacts")
    assert rep.update("gadget", mine["id"], {"size": 1})["size"] == 1
    with pytest.raises(Forbidden):
        rep.update("gadget", theirs["id"], {"size": 1})
    with pytest.raises(Forbidden):
        rep.delete("gadget", theirs["id"])
    reader = make_store(user="r", roles=("readonly",), module="contacts")
    assert reader.get("gadget", theirs["id"])["id"] == theirs["id"]
    with pytest.raises(Forbidden):
        make_gadget(reader)
    with pytest.raises(Forbidden):
        make_store(roles=("sales",), module="lab").get("gadget", theirs["id"])  # no grant in that module


def test_bad_values_name_their_field(store):
    with pytest.raises(ValidationFailed) as err:
        store.create("gadget", {"size": "big"})
    assert set(err.value.errors) >= {"name", "size"}
    with pytest.raises(ValidationFailed) as err:
        make_gadget(store, price={"amount": "lots"})
    assert "price" in err.value.errors


class _RenameAfterWrite(Step):
    """A pipeline step that changes the record it was told about, after the insert."""

    def after_write(self, store, w):
        if w.action == "create" and w.obj.name == "gadget":
            store.update_values(w.obj, w.row, {"notes": "renamed by a step"}, action="automation")


def test_a_create_answers_the_record_as_it_ends_the_write(make_store):
    plain = make_store()
    made = plain.create("gadget", {"name": "as-inserted"})
    assert made == plain.get("gadget", made["id"])  # the form built once at the insert is the record
    plain.session.commit()
    stepped = make_store(steps=[_RenameAfterWrite()])
    changed = stepped.create("gadget", {"name": "changed-after"})
    assert (changed["notes"], changed["version"]) == ("renamed by a step", 2)
    assert changed == stepped.get("gadget", changed["id"])


def test_a_new_rows_columns_are_read_from_its_mapper_once():
    from sqlalchemy import Column, Integer, MetaData, String, Table, text
    from sqlalchemy.orm import registry

    from mosaic.records.store import _SERVER_DEFAULT, _column_plan

    class Thing:
        pass

    table = Table("plan_things", MetaData(), Column("id", String(36), primary_key=True),
                  Column("n", Integer, default=1), Column("label", String(10)),
                  Column("made", Integer, server_default=text("0")), Column("col_name", String(5), key="attr"))
    registry().map_imperatively(Thing, table)
    plan = _column_plan(Thing)
    assert plan is _column_plan(Thing)
    by_key = {key: (name, default) for key, name, default in plan}
    assert by_key["id"] == ("id", None) and by_key["label"] == ("label", None)
    assert by_key["n"][1].arg == 1
    assert by_key["made"] == ("made", _SERVER_DEFAULT)
    assert by_key["attr"] == ("col_name", None)
