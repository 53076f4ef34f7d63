"""The contacts domain on SQLite, without a broker: the record engine with contacts' behaviours,
dedup keys, merge, timeline, and what every write leaves behind (audit, outbox, lifecycle)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from mosaic.audit import AuditEntry
from mosaic.context import RequestContext
from mosaic.db import tenant_session
from mosaic.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from mosaic.events.outbox import OutboxEvent
from mosaic.metadata.store import add_field, metadata_version, tenant_objects
from mosaic.records.store import RecordStore
from mosaic_contacts import dedup
from mosaic_contacts.behaviours import build_behaviours
from mosaic_contacts.merge import merge
from mosaic_contacts.models import LifecycleChange
from mosaic_contacts.objects import build_registry
from mosaic_contacts.timeline import timeline

REGISTRY = build_registry()


def make_store(session, user="u1", roles=("admin",)) -> RecordStore:
    ctx = RequestContext(tenant_id=session.info["tenant_id"], user_id=user, roles=roles, modules=("contacts",))
    return RecordStore(session, tenant_objects(session, REGISTRY), ctx, module="contacts",
                       metadata_version=metadata_version(session), behaviours=build_behaviours())


@pytest.fixture
def session(engine):
    with tenant_session(engine, "t1") as s:
        yield s


def test_normalised_keys():
    assert dedup.email_key("  Ann@Example.COM ") == "ann@example.com"
    assert dedup.phone_key("+86 138-0013 8000") == dedup.phone_key("0086 13800138000") == "8613800138000"
    assert dedup.name_key("  José ", "Núñez") == "jose nunez"
    assert dedup.score("jose nunez", "Acme Ltd", "jose nunez", "ACME") >= 90
    assert dedup.score("jose nunez", None, "john smith", None) < 50


def test_create_update_delete_leave_audit_events_and_lifecycle(session):
    store = make_store(session)
    c = store.create("contact", {"first_name": "Ann", "last_name": "Lee", "email": "Ann@X.com"})
    assert c["owner_id"] == "u1" and c["lifecycle_stage"] == "subscriber" and c["version"] == 1
    updated = store.update("contact", c["id"], {"lifecycle_stage": "lead"}, expected_version=1)
    assert updated["version"] == 2
    with pytest.raises(PreconditionFailed):
        store.update("contact", c["id"], {"title": "x"}, expected_version=1)
    store.delete("contact", c["id"])
    session.commit()
    types = [e.type for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]
    assert types == ["contact.created", "contact.updated", "contact.deleted"]
    actions = [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.at))]
    assert actions == ["create", "update", "delete"]
    stages = [(lc.from_stage, lc.to_stage) for lc in session.scalars(select(LifecycleChange).order_by(LifecycleChange.changed_at))]
    assert stages == [(None, "subscriber"), ("subscriber", "lead")]
    with pytest.raises(NotFound):
        store.get("contact", c["id"])


def test_a_contact_needs_an_identity_and_lookups_must_exist(session):
    store = make_store(session)
    with pytest.raises(ValidationFailed):
        store.create("contact", {"title": "Nobody"})
    with pytest.raises(ValidationFailed) as err:
        store.create("contact", {"last_name": "X", "account_id": "missing"})
    assert "account_id" in err.value.errors


def test_unique_custom_field_and_ownership(session):
    add_field(session, REGISTRY, "contact", {"name": "member_no", "type": "text", "unique": True})
    admin = make_store(session)
    admin.create("contact", {"last_name": "A", "member_no": "M1"})
    with pytest.raises(Conflict):
        make_store(session).create("contact", {"last_name": "B", "member_no": "M1"})
    rep = make_store(session, user="rep", roles=("sales",))
    theirs = admin.create("contact", {"last_name": "Admin's"})
    with pytest.raises(Forbidden):
        rep.update("contact", theirs["id"], {"title": "x"})
    mine = rep.create("contact", {"last_name": "Rep's"})
    assert rep.update("contact", mine["id"], {"title": "x"})["title"] == "x"
    with pytest.raises(Forbidden):
        make_store(session, roles=("readonly",)).create("contact", {"last_name": "no"})


def test_other_tenants_records_do_not_exist(engine):
    with tenant_session(engine, "t1") as s1:
        c = make_store(s1).create("contact", {"last_name": "Mine"})
        s1.commit()
    with tenant_session(engine, "t2") as s2:
        store = make_store(s2)
        with pytest.raises(NotFound):
            store.get("contact", c["id"])
        assert store.list("contact")["items"] == []


def test_duplicates_and_merge_repoint_everything(session):
    store = make_store(session)
    acc = store.create("account", {"name": "Acme"})
    keep = store.create("contact", {"first_name": "Maria", "last_name": "Garcia", "email": "m@acme.test",
                                    "company_name": "Acme"})
    other = store.create("contact", {"first_name": "María", "last_name": "García", "company_name": "ACME Ltd",
                                     "phone": "+34 600 000 000", "tags": ["vip"]})
    store.create("relationship", {"contact_id": other["id"], "account_id": acc["id"], "role": "champion"})
    store.create("activity", {"type": "call", "contact_id": other["id"], "subject": "hello"})
    found = dedup.find_contact_duplicates(session, keep, exclude_id=keep["id"], threshold=85)
    assert [d["id"] for d in found] == [other["id"]]

    merged = merge(store, "contact", keep["id"], [other["id"]])
    assert merged["phone"] == "+34600000000" and merged["tags"] == ["vip"] and merged["email"] == "m@acme.test"
    with pytest.raises(NotFound):
        store.get("contact", other["id"])
    assert [r["contact_id"] for r in store.list("relationship")["items"]] == [keep["id"]]
    assert [a["contact_id"] for a in store.list("activity")["items"]] == [keep["id"]]
    items = timeline(store, "contact", keep["id"], limit=50)["items"]
    assert any(i["kind"] == "activity" for i in items) and any(i.get("action") == "merge" for i in items)
    session.commit()
    assert "contact.merged" in {e.type for e in session.scalars(select(OutboxEvent))}


def test_list_pages_show_records_exactly_as_get_does(session):
    for name, definition in (("due", {"type": "date"}), ("seen", {"type": "datetime"}),
                             ("deal", {"type": "money", "currency": "EUR"}), ("rank", {"type": "integer"}),
                             ("share", {"type": "percent"}), ("flag", {"type": "boolean"}),
                             ("colours", {"type": "multi_picklist", "choices": ["red", "blue"]})):
        add_field(session, REGISTRY, "contact", {"name": name, **definition})
    store = make_store(session)
    store.create("contact", {"last_name": "Full", "birthday": "1990-01-02", "tags": ["a"], "due": "2027-03-04",
                             "seen": "2026-11-01T10:00:00+02:00", "deal": {"amount": 10.5}, "rank": 3,
                             "share": 12.5, "flag": True, "colours": ["blue"]})
    store.create("contact", {"last_name": "Sparse"})
    listed = store.list("contact", sort="last_name")["items"]
    assert listed == [store.get("contact", c["id"]) for c in listed]
    contact = store.obj("contact")  # the compiled read plan shows what the write path returns
    assert listed == [store.to_api(contact, store.values_of(contact, store.load_row(contact, c["id"])))
                      for c in listed]
    assert listed[0]["seen"] == "2026-11-01T08:00:00.000000+00:00" and listed[0]["deal"]["currency"] == "EUR"
    picked = store.list("contact", sort="last_name", fields=["due", "deal"])["items"][0]
    assert set(picked) == {"object", "id", "version", "due", "deal"}


def test_import_finds_fuzzy_name_and_company_duplicates(engine, session):
    from mosaic.imports import jobs as importer

    store = make_store(session)
    existing = store.create("contact", {"first_name": "José", "last_name": "Núñez", "company_name": "Acme Ltd"})
    session.commit()
    ctx = store.ctx
    job = importer.start_import(store, "contacts", "skip", "people.csv", ["first_name", "last_name", "company_name"])
    rows = "Jose,Nunez,ACME\nJose,Nunez,Globex Corporation\nAna,Ruiz,Initech\nAna,Ruiz,Initech Inc\n"
    importer.add_chunk(session, ctx, job["id"], 0, rows, 4)
    importer.commit_import(session, ctx, job["id"], 4)
    session.commit()
    importer.run_pending(engine, REGISTRY, build_behaviours(), module="contacts", budget=None, threshold=85)
    with tenant_session(engine, "t1") as check:
        done = importer.get_job(check, ctx, job["id"])
        # row 2 is the existing José at Acme; row 5 repeats row 4 (same person, same company)
        assert (done["created"], done["skipped"]) == (2, 2), done
        names = sorted((c["last_name"], c["company_name"]) for c in make_store(check).list("contact", limit=50)["items"])
    assert names == [("Nunez", "Globex Corporation"), ("Núñez", "Acme Ltd"), ("Ruiz", "Initech")]
    assert make_store(session).get("contact", existing["id"])["company_name"] == "Acme Ltd"  # untouched
