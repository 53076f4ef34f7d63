"""The approvers' inbox in the hub: fed by the services' approval events (exactly once, a late
event never undoes a newer one), paged oldest request first with the deciding service's rule of
who may decide (``mosaic.processes.approvals.may_decide``)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mosaic.context import RequestContext
from mosaic.errors import BadRequest, ValidationFailed
from mosaic.processes.approvals import may_decide

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ctx(user="u1", *roles) -> RequestContext:
    return RequestContext(tenant_id="t1", user_id=user, roles=roles, modules=("sales",))


def ids(page) -> list[str]:
    return [a["id"] for a in page["items"]]


def test_requested_then_decided_leaves_pending(deliver, approval_event, inbox):
    deliver(approval_event("requested", "a1", "pending", at=at(0)))
    boss = ctx("boss", "manager")
    (item,) = inbox(boss)["items"]
    assert (item["service"], item["object"], item["record_id"], item["status"]) == ("sales", "deal", "r-a1", "pending")
    assert item["approvers"] == {"roles": ["manager"], "users": []}
    decided = approval_event("decided", "a1", "approved", at=at(1))
    assert deliver(decided) is True and deliver(decided) is False
    assert inbox(boss)["items"] == []
    (done,) = inbox(boss, status="approved")["items"]
    assert (done["decided_by"], done["approvers"]) == ("user:boss", {"roles": ["manager"], "users": []})


def test_a_late_request_never_reopens_a_decided_approval(deliver, approval_event, inbox):
    deliver(approval_event("voided", "a1", "rejected", at=at(2)))
    deliver(approval_event("requested", "a1", "pending", at=at(0), roles=("manager",)))
    boss = ctx("boss", "manager")
    assert inbox(boss)["items"] == []
    (rejected,) = inbox(boss, status="rejected")["items"]
    # what the late request brought that the inbox lacked: who may decide
    assert rejected["approvers"] == {"roles": ["manager"], "users": []}


@pytest.mark.parametrize("who", [ctx("boss", "manager"), ctx("u5", "sales"), ctx("u9", "sales"),
                                 ctx("root", "admin"), ctx(None, "readonly")])
def test_who_sees_an_approval_is_who_may_decide_it(deliver, approval_event, inbox, who):
    deliver(approval_event("requested", "by-role", "pending", at=at(0), roles=("manager",)))
    deliver(approval_event("requested", "by-user", "pending", at=at(1), roles=(), users=("u5",)))
    rules = {"by-role": {"roles": ["manager"], "users": []}, "by-user": {"roles": [], "users": ["u5"]}}
    expected = [a for a in ("by-role", "by-user") if may_decide(who, rules[a])]
    assert ids(inbox(who)) == expected


def test_pages_oldest_request_first_with_no_gap_nor_duplicate(deliver, approval_event, inbox):
    for i in range(23):  # pairs requested at the same instant: the id breaks the tie
        deliver(approval_event("requested", f"a{i:02d}", "pending", at=at(i), requested_at=at(i // 2)))
    boss, seen, cursor = ctx("boss", "manager"), [], None
    while True:
        page = inbox(boss, limit=5, cursor=cursor)
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(set(seen)) == 23


def test_objects_limit_the_inbox_to_what_the_caller_may_read(deliver, approval_event, inbox):
    deliver(approval_event("requested", "d1", "pending", at=at(0), object="deal"))
    deliver(approval_event("requested", "t1", "pending", at=at(1), object="ticket"))
    boss = ctx("boss", "manager")
    assert ids(inbox(boss, objects=["deal"])) == ["d1"]
    assert ids(inbox(boss, objects=[])) == []


def test_bad_arguments_are_clear_errors(inbox):
    boss = ctx("boss", "manager")
    with pytest.raises(ValidationFailed):
        inbox(boss, status="maybe")
    with pytest.raises(ValidationFailed):
        inbox(boss, limit=500)
    with pytest.raises(BadRequest):
        inbox(boss, cursor="garbage")


def test_an_event_without_its_approval_is_dropped_once_not_retried(deliver, approval_event, inbox, caplog):
    missing = approval_event("requested", "a1", "pending", at=at(0))
    missing["data"] = {"service": "sales"}
    broken = approval_event("requested", "a2", "pending", at=at(0))
    del broken["data"]["approval"]["process"]
    assert [deliver(missing), deliver(broken)] == [True, True]
    assert [deliver(missing), deliver(broken)] == [False, False]
    assert inbox(ctx("root", "admin"))["items"] == []
    assert sum("not an approval event" in r.getMessage() for r in caplog.records) == 2
