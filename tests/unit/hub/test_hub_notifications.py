"""The hub's notifications: stored once per request event, paged newest first by a keyset cursor,
read per user and per role, counted."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from mosaic.db import tenant_session
from mosaic.errors import BadRequest, ValidationFailed
from mosaic_hub import notifications
from mosaic_hub.models import HubNotification

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def count(engine, tenant="t1") -> int:
    with tenant_session(engine, tenant) as s:
        return s.scalar(select(func.count()).select_from(HubNotification))


def test_a_request_is_stored_once_under_the_events_id(engine, deliver, request_event):
    event = request_event("user:u7", "Lee is yours")
    assert deliver(event) is True
    assert deliver(event) is False  # the redelivery
    assert count(engine) == 1
    with tenant_session(engine, "t1") as s:
        row = s.get(HubNotification, event["id"])
        assert (row.recipient, row.message, row.object, row.record_id, row.source, row.service) == (
            "user:u7", "Lee is yours", "contact", "c1", "rule:r1", "contacts")
        assert row.read_at is None


def test_a_request_that_is_no_notification_is_dropped_once_not_retried(engine, deliver, request_event, caplog):
    bad = [request_event("everyone", "hi"), request_event("user:u1", None)]
    assert [deliver(e) for e in bad] == [True, True]  # handled: dropped with an error logged
    assert [deliver(e) for e in bad] == [False, False]  # and never again
    assert count(engine) == 0
    assert sum("dropping notification request" in r.getMessage() for r in caplog.records) == 2


def test_the_inbox_is_the_users_and_their_roles_newest_first(engine, deliver, request_event, session):
    deliver(request_event("user:u7", "mine", at=T0))
    deliver(request_event("role:manager", "team", at=T0 + timedelta(seconds=1)))
    deliver(request_event("user:u9", "theirs", at=T0 + timedelta(seconds=2)))
    deliver(request_event("user:u7", "other tenant", tenant="t2"))
    page = notifications.list_for(session, "u7", ["manager"])
    assert [n["message"] for n in page["items"]] == ["team", "mine"]
    assert page["next_cursor"] is None
    assert [n["message"] for n in notifications.list_for(session, "u9", [])["items"]] == ["theirs"]


def test_pages_have_no_gap_nor_duplicate_even_with_equal_times(deliver, request_event, session):
    # a third of them at the same instant: the id breaks the tie, in the cursor too
    ids = [deliver(request_event("user:u1", f"m{i}", at=T0 + timedelta(seconds=i // 3))) for i in range(25)]
    assert all(ids)
    seen, cursor = [], None
    while True:
        page = notifications.list_for(session, "u1", [], limit=4, cursor=cursor)
        seen += [n["id"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 25
    everything = notifications.list_for(session, "u1", [], limit=200)["items"]
    assert seen == [n["id"] for n in everything]
    times = [n["created_at"] for n in everything]
    assert times == sorted(times, reverse=True)


def test_limits_and_cursors_are_checked(session):
    for bad in (0, 201, "x", True):
        with pytest.raises(ValidationFailed):
            notifications.list_for(session, "u1", [], limit=bad)
    with pytest.raises(BadRequest):
        notifications.list_for(session, "u1", [], cursor="garbage")


def test_marking_read_is_ones_own_once_and_a_roles_for_the_role(deliver, request_event, session):
    mine, team, theirs = (request_event("user:u7", "mine"), request_event("role:manager", "team"),
                          request_event("user:u9", "theirs"))
    for e in (mine, team, theirs):
        deliver(e)
    assert notifications.unread_count(session, "u7", ["manager"]) == 2
    assert notifications.mark_read(session, "u7", ["manager"], [mine["id"], theirs["id"], "nope"]) == 1
    assert notifications.mark_read(session, "u7", ["manager"], [mine["id"]]) == 0
    unread = notifications.list_for(session, "u7", ["manager"], unread_only=True)["items"]
    assert [n["message"] for n in unread] == ["team"]
    # another manager reads the team's notification: read for the role
    assert notifications.mark_read(session, "u8", ["manager"], [team["id"]]) == 1
    assert notifications.unread_count(session, "u7", ["manager"]) == 0
    assert notifications.unread_count(session, "u9", []) == 1
    with pytest.raises(ValidationFailed):
        notifications.mark_read(session, "u7", [], [str(i) for i in range(notifications.MAX_MARK + 1)])


def test_the_purge_drops_every_tenants_notifications_read_long_ago_and_keeps_unread_ones(
        engine, deliver, request_event):
    old_read, old_unread, new_read = (request_event("user:u7", "old, read"), request_event("user:u7", "old, unread"),
                                      request_event("user:u7", "new, read"))
    other_tenant = request_event("user:u1", "old, read, elsewhere", tenant="t2")
    for e in (old_read, old_unread, new_read, other_tenant):
        deliver(e)
    with tenant_session(engine, "t1") as s:
        notifications.mark_read(s, "u7", [], [old_read["id"]], now=T0 - timedelta(days=100))
        notifications.mark_read(s, "u7", [], [new_read["id"]], now=T0 - timedelta(days=10))
        s.commit()
    with tenant_session(engine, "t2") as s:
        notifications.mark_read(s, "u1", [], [other_tenant["id"]], now=T0 - timedelta(days=100))
        s.commit()
    assert notifications.purge_read(engine, T0 - timedelta(days=90)) == 2
    with tenant_session(engine, "t1") as s:
        assert {n.message for n in s.scalars(select(HubNotification))} == {"old, unread", "new, read"}
    assert count(engine, "t2") == 0


def test_the_hubs_hourly_housekeeping_runs_the_purge_with_the_configured_keep(engine, deliver, request_event):
    from types import SimpleNamespace

    from mosaic.config import load_settings
    from mosaic_hub.service import HubService

    read = request_event("user:u7", "read 40 days ago")
    deliver(read)
    with tenant_session(engine, "t1") as s:
        notifications.mark_read(s, "u7", [], [read["id"]], now=T0 - timedelta(days=40))
        s.commit()
    settings = load_settings({"MOSAIC_NOTIFICATIONS_KEEP_DAYS": "30"})
    service = SimpleNamespace(data=SimpleNamespace(engine=engine),
                              container=SimpleNamespace(config={"MOSAIC_SETTINGS": settings}))
    for purge in HubService.purges:
        purge(service, T0)
    assert count(engine) == 0
