"""mosaic.audit: field-level diffs, one entry per change, newest-first cursor pages."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from mosaic.audit import AuditEntry, diff, history, record_change
from mosaic.db import Base, make_engine, tenant_session
from mosaic.errors import BadRequest


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'audit.db'}", "audit")
    Base.metadata.create_all(eng, tables=[AuditEntry.__table__])
    yield eng
    eng.dispose()


@pytest.fixture
def make_session(engine):
    """``make_session(tenant="t1")``: a tenant session, closed after the test."""
    sessions = []

    def factory(tenant: str = "t1"):
        s = tenant_session(engine, tenant)
        sessions.append(s)
        return s
    yield factory
    for s in sessions:
        s.close()


def make_change(session, **overrides):
    """Record a change (an update of contact c1 by user u1 unless overridden)."""
    values = dict(ctx_actor="user:u1", object="contact", record_id="c1", action="update",
                  before={"name": "Ann"}, after={"name": "Anna"})
    values.update(overrides)
    return record_change(session, **values)


def test_diff_lists_changed_fields_with_json_safe_values():
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    before = {"name": "Ann", "tags": ("a",), "born": date(1990, 1, 1), "same": 1, "version": 1,
              "updated_at": when}
    after = {"name": "Anna", "tags": ["a"], "born": date(1990, 1, 2), "same": 1, "version": 2,
             "updated_at": when + timedelta(seconds=1), "score": Decimal("1.5"), "seen": when}
    assert diff(before, after) == {
        "born": ["1990-01-01", "1990-01-02"], "name": ["Ann", "Anna"], "score": [None, 1.5],
        "seen": [None, "2024-01-02T03:04:05.000000+00:00"]}


def test_diff_of_create_and_delete():
    assert diff({}, {"a": 1, "b": None}) == {"a": [None, 1]}
    assert diff({"a": 1}, None) == {"a": [1, None]}


def test_record_change_writes_an_entry(make_session):
    s = make_session()
    entry = make_change(s, action="create", before={}, after={"name": "Ann", "version": 1})
    s.commit()
    stored = s.get(AuditEntry, entry.id)
    assert (stored.tenant_id, stored.object, stored.record_id, stored.action, stored.actor) == \
        ("t1", "contact", "c1", "create", "user:u1")
    assert stored.changes == {"name": [None, "Ann"]}
    assert stored.at.tzinfo is not None


def test_write_change_stores_what_record_change_stores(make_session):
    from mosaic.audit import write_change

    s = make_session()
    kept = make_change(s, action="create", before={}, after={"name": "Ann", "version": 1})
    s.flush()
    entry_id = write_change(s, "user:u1", "contact", "c1", "create", {}, {"name": "Ann", "version": 1})
    assert write_change(s, "user:u1", "contact", "c1", "update", {"name": "Ann", "version": 1},
                        {"name": "Ann", "version": 2}) is None  # nothing changed: nothing written
    s.commit()
    a, b = s.get(AuditEntry, kept.id), s.get(AuditEntry, entry_id)
    assert b.to_dict() == {**a.to_dict(), "id": entry_id, "at": b.to_dict()["at"]}
    assert b.tenant_id == "t1" and b.at.tzinfo is not None
    assert {i["id"] for i in history(s, "contact", "c1")["items"]} == {kept.id, entry_id}


def test_an_update_without_changes_writes_nothing(make_session):
    s = make_session()
    assert make_change(s, before={"name": "Ann", "version": 1},
                       after={"name": "Ann", "version": 2}) is None
    s.commit()
    assert history(s, "contact", "c1")["items"] == []
    # a delete is always recorded, even of an empty record
    assert make_change(s, action="delete", before={}, after={}) is not None


def test_unknown_action_is_a_programming_error(make_session):
    with pytest.raises(ValueError):
        make_change(make_session(), action="rename")


def test_history_is_newest_first_and_paginated(make_session):
    s = make_session()
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    entries = []
    for i in range(5):
        entry = make_change(s, before={"n": i}, after={"n": i + 1})
        entry.at = base + timedelta(minutes=i // 2)  # pairs share a timestamp: ties by id
        entries.append(entry)
    make_change(s, record_id="other")
    s.commit()
    pages, cursor = [], None
    while True:
        page = history(s, "contact", "c1", cursor=cursor, limit=2)
        pages.append([item["changes"]["n"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    flat = [n for page in pages for n in page]
    assert [len(p) for p in pages] == [2, 2, 1]
    expected = sorted(entries, key=lambda e: (e.at, e.id), reverse=True)
    assert flat == [e.changes["n"] for e in expected]
    item = history(s, "contact", "c1", limit=1)["items"][0]
    assert set(item) == {"id", "object", "record_id", "action", "actor", "at", "changes"}
    assert item["at"] == "2024-01-01T00:02:00.000000+00:00"


def test_history_is_tenant_scoped(make_session):
    a = make_session("tenant-a")
    make_change(a)
    a.commit()
    a.close()
    assert history(make_session("tenant-b"), "contact", "c1")["items"] == []


def test_a_bad_cursor_is_a_bad_request(make_session):
    with pytest.raises(BadRequest):
        history(make_session(), "contact", "c1", cursor="not-a-cursor")
