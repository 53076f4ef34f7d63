"""events_since(): the retained log, paged by cursor."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from mosaic.db import system_session, tenant_session, utcnow
from mosaic.errors import BadRequest
from mosaic.events import OutboxEvent, events_since


def test_pages_published_events_in_seq_order(engine, add_events):
    envs = add_events(5, published=True)
    with system_session(engine) as session:
        page1 = events_since(session, limit=3)
        page2 = events_since(session, after_seq=page1["next_cursor"], limit=3)
        page3 = events_since(session, after_seq=page2["next_cursor"], limit=3)
    got = page1["items"] + page2["items"]
    assert [e["id"] for e in got] == [e["id"] for e in envs]
    assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)
    assert {k: v for k, v in got[0].items() if k != "seq"} == envs[0]
    assert page2["next_cursor"] == got[-1]["seq"]
    assert page3 == {"items": [], "next_cursor": page2["next_cursor"]}


def test_unpublished_events_are_not_in_the_log(engine, add_events):
    add_events(2, published=False)
    with system_session(engine) as session:
        assert events_since(session) == {"items": [], "next_cursor": 0}


def test_page_stops_before_an_event_still_waiting_for_the_relay(engine, add_events):
    first = add_events(1, published=True)
    add_events(1, published=False)
    add_events(1, published=True)
    with system_session(engine) as session:
        page = events_since(session)
    assert [e["id"] for e in page["items"]] == [first[0]["id"]]
    with system_session(engine) as session:
        session.execute(update(OutboxEvent).values(published_at=utcnow()))
        session.commit()
        assert len(events_since(session, after_seq=page["next_cursor"])["items"]) == 2


def test_filter_by_types(engine, add_events):
    add_events(2, published=True, type="contact.created")
    deals = add_events(2, published=True, type="deal.won", object="deal")
    with system_session(engine) as session:
        page = events_since(session, types=["deal.won"])
    assert [e["id"] for e in page["items"]] == [e["id"] for e in deals]


def test_platform_internal_events_are_never_in_the_log(engine, add_events):
    """A ``platform.*`` event (a notification asked of the hub) is no domain event: read models
    replaying the log never see it, even when they ask for its type."""
    add_events(2, published=True, type="platform.notification.requested", object="notification")
    domain = add_events(1, published=True)
    with system_session(engine) as session:
        assert [e["id"] for e in events_since(session)["items"]] == [domain[0]["id"]]
        assert events_since(session, types=["platform.notification.requested"])["items"] == []


def test_system_session_sees_all_tenants_a_tenant_session_its_own(engine, add_events):
    a = add_events(2, published=True, tenant_id="t1")
    b = add_events(2, published=True, tenant_id="t2")
    with system_session(engine) as session:
        assert len(events_since(session)["items"]) == 4
    with tenant_session(engine, "t2") as session:
        page = events_since(session)
    assert [e["id"] for e in page["items"]] == [e["id"] for e in b]
    assert not {e["id"] for e in a} & {e["id"] for e in page["items"]}


def test_another_tenants_backlog_does_not_hold_back_a_tenant_reader(engine, add_events):
    add_events(1, published=False, tenant_id="t1")
    mine = add_events(1, published=True, tenant_id="t2")
    with tenant_session(engine, "t2") as session:
        assert [e["id"] for e in events_since(session)["items"]] == [mine[0]["id"]]


@pytest.mark.parametrize("kwargs", [{"after_seq": -1}, {"limit": 0}, {"limit": 10_000}, {"after_seq": "3"}])
def test_bad_cursor_or_limit(engine, kwargs):
    with system_session(engine) as session, pytest.raises(BadRequest):
        events_since(session, **kwargs)
