"""mosaic.webhooks.delivery: queueing in the event's transaction, signed POSTs to a real HTTP
receiver, retries with backoff, the lease, and the delivery log."""
from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select

from mosaic.db import system_session
from mosaic.errors import BadRequest, NotFound, ValidationFailed
from mosaic.webhooks import (BACKOFF, MAX_ATTEMPTS, WebhookDelivery, create_subscription, delivery_log,
                             enqueue_direct, purge_deliveries, run_due_deliveries, update_subscription,
                             verify)
from mosaic.webhooks.delivery import LEASE, UNREADABLE_SECRET, enqueue_subscribed
from mosaic.webhooks.sealing import SecretBox
from mosaic.webhooks.egress import CONNECTION_FAILED, EgressPolicy
from tests.unit.mosaic.webhooks.conftest import BOX

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
TIMEOUT = 2.0  # every real request in these tests is bounded by this

#: the receivers of these tests listen on loopback, which webhooks may call only when allowed
LOCAL = EgressPolicy.parse(["127.0.0.1/32"])


def subscribe(session, url, events=("contact.*",), **extra):
    """Create a subscription, commit; ``(row, secret)``."""
    row, secret = create_subscription(session, {"url": url, "events": list(events), **extra}, box=BOX,
                                      policy=LOCAL)
    session.commit()
    return row, secret


def queue(session, make_env, **env):
    """Enqueue one event for the tenant's active subscriptions (what the hub does with a consumed
    event) and commit; the deliveries."""
    envelope = make_env(**env)
    enqueue_subscribed(session, envelope, now=NOW)
    rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == envelope["id"])
                           .order_by(WebhookDelivery.id)).all()
    session.commit()  # and free SQLite's one connection for the runner
    return rows


def run(engine, at=NOW, **kwargs):
    return run_due_deliveries(engine, now=at, timeout=kwargs.pop("timeout", TIMEOUT),
                              policy=kwargs.pop("policy", LOCAL), box=kwargs.pop("box", BOX), **kwargs)


def load(engine, delivery_id) -> WebhookDelivery:
    with system_session(engine) as session:
        return session.get(WebhookDelivery, delivery_id)


def recorder(*statuses):
    """A ``post`` stand-in answering ``statuses`` in order (200 after), remembering each call."""
    calls, answers = [], list(statuses)

    def post(url, body, headers, timeout):
        calls.append({"url": url, "body": body, "headers": headers})
        return (answers.pop(0) if answers else 200), None
    post.calls = calls
    return post


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- queueing ------------------------------------------------------------------------------------

def test_only_matching_active_subscriptions_get_a_delivery(make_session, make_env):
    session = make_session()
    contacts, _ = subscribe(session, "http://127.0.0.1:9/a", ["contact.*"])
    subscribe(session, "http://127.0.0.1:9/b", ["account.*"])
    subscribe(session, "http://127.0.0.1:9/c", ["*"], active=False)
    rows = queue(session, make_env)
    assert [(r.subscription_id, r.event_type, r.status, r.attempts) for r in rows] == [
        (contacts.id, "contact.created", "pending", 0)]
    assert rows[0].payload["data"] == {"first_name": "Ada"} and rows[0].next_attempt_at == NOW


def test_nothing_is_written_when_no_subscription_matches(engine, make_session, make_env):
    session = make_session()
    subscribe(session, "http://127.0.0.1:9/b", ["account.*"])
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert enqueue_subscribed(session, make_env()) == []
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    sql = [s.lstrip().upper() for s in statements if s.strip().upper() != "BEGIN"]
    assert len(sql) == 1 and sql[0].startswith("SELECT")  # the subscriptions read, no INSERT


def test_an_event_is_queued_once_per_subscription(make_session, make_env):
    session = make_session()
    sub, _ = subscribe(session, "http://127.0.0.1:9/a")
    envelope = make_env()
    assert enqueue_subscribed(session, envelope) == [sub.id]
    session.commit()
    assert enqueue_subscribed(session, envelope) == []  # the unique (subscription, event) key
    session.commit()
    assert len(session.scalars(select(WebhookDelivery)).all()) == 1


def test_a_rolled_back_event_sends_nothing(engine, make_session, make_env):
    session = make_session()
    subscribe(session, "http://127.0.0.1:9/a")
    enqueue_subscribed(session, make_env())
    session.rollback()
    post = recorder()
    assert run(engine, post=post) == 0 and post.calls == []


def test_a_direct_webhook_needs_a_valid_url(make_session, make_env):
    with pytest.raises(ValidationFailed) as info:
        enqueue_direct(make_session(), "ftp://x", "s3cr3t", make_env())
    assert "url" in info.value.errors


# --- posting to a real receiver ------------------------------------------------------------------

def test_a_failed_post_is_retried_after_the_backoff_and_the_log_shows_both(
        engine, make_session, make_env, receiver):
    session = make_session()
    sub, secret = subscribe(session, receiver.url)
    receiver.answer(500, 200)
    [delivery] = queue(session, make_env)

    assert run(engine) == 1
    first = receiver.requests[0]
    headers = first["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Mosaic-Event"] == "contact.created"
    assert headers["Mosaic-Delivery"] == delivery.id
    assert verify(secret, first["body"], headers["Mosaic-Signature"], now=NOW)
    assert not verify("wrong-secret-0123456789", first["body"], headers["Mosaic-Signature"], now=NOW)
    assert json.loads(first["body"]) == delivery.payload
    row = load(engine, delivery.id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert row.next_attempt_at == NOW + BACKOFF[0]

    assert run(engine, at=NOW + BACKOFF[0] - timedelta(seconds=1)) == 0  # not due yet
    assert len(receiver.requests) == 1
    later = NOW + BACKOFF[0] + timedelta(seconds=1)
    assert run(engine, at=later) == 1
    assert len(receiver.requests) == 2
    assert verify(secret, receiver.requests[1]["body"],
                  receiver.requests[1]["headers"]["Mosaic-Signature"], now=later)

    log = delivery_log(session, sub.id)
    [item] = log["items"]
    assert log["next_cursor"] is None
    assert (item["status"], item["attempts"], item["last_status_code"]) == ("delivered", 2, 200)
    assert item["delivered_at"] is not None and item["next_attempt_at"] is None
    assert [(h["attempt"], h["status_code"], h["error"]) for h in item["history"]] == [
        (1, 500, "HTTP 500"), (2, 200, None)]
    assert all(h["duration_ms"] >= 0 for h in item["history"])
    assert "secret" not in json.dumps(item)


def test_an_unreachable_url_records_the_error_and_is_retried(engine, make_session, make_env):
    session = make_session()
    sub, _ = subscribe(session, f"http://127.0.0.1:{free_port()}/hooks")
    [delivery] = queue(session, make_env)
    assert run(engine) == 1
    row = load(engine, delivery.id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error == CONNECTION_FAILED  # not the socket's error: no port-scan oracle
    assert run(engine, at=NOW + BACKOFF[0]) == 1
    history = delivery_log(session, sub.id)["items"][0]["history"]
    assert [(h["attempt"], h["status_code"]) for h in history] == [(1, None), (2, None)]
    assert all(h["error"] == CONNECTION_FAILED and h["duration_ms"] == 0 for h in history)


def test_a_slow_endpoint_times_out(engine, make_session, make_env, receiver):
    session = make_session()
    subscribe(session, receiver.url)
    receiver.delay = 1.0
    [delivery] = queue(session, make_env)
    assert run(engine, timeout=0.2) == 1
    row = load(engine, delivery.id)
    assert (row.status, row.last_error) == ("pending", CONNECTION_FAILED)
    assert delivery_log(session, delivery.subscription_id)["items"][0]["history"][0]["duration_ms"] == 0


def test_a_redirect_is_not_followed(engine, make_session, make_env, receiver):
    session = make_session()
    subscribe(session, receiver.url)
    receiver.answer(302)
    [delivery] = queue(session, make_env)
    run(engine)
    row = load(engine, delivery.id)
    assert (row.status, row.last_status_code, row.last_error) == ("pending", 302, "HTTP 302")
    assert len(receiver.requests) == 1


def test_a_direct_webhook_is_signed_with_its_own_secret(engine, make_session, make_env, receiver):
    session = make_session()
    signed = enqueue_direct(session, receiver.url, "s3cr3t", make_env(), now=NOW)
    unsigned = enqueue_direct(session, receiver.url, None, make_env(), now=NOW)
    session.commit()
    assert run(engine) == 2
    by_id = {r["headers"]["Mosaic-Delivery"]: r for r in receiver.requests}
    request = by_id[signed.id]
    assert verify("s3cr3t", request["body"], request["headers"]["Mosaic-Signature"], now=NOW)
    assert "Mosaic-Signature" not in by_id[unsigned.id]["headers"]
    assert load(engine, signed.id).status == "delivered"


# --- retries, lease, subscription changes --------------------------------------------------------

def test_after_six_failed_attempts_the_delivery_fails(engine, make_session, make_env):
    session = make_session()
    sub, _ = subscribe(session, "http://127.0.0.1:9/a")
    [delivery] = queue(session, make_env)
    post = recorder(*[503] * 10)
    at = NOW
    for wait in (timedelta(0),) + BACKOFF:
        at += wait
        assert run(engine, at=at, post=post) == 1
    row = load(engine, delivery.id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", MAX_ATTEMPTS, None)
    assert run(engine, at=at + timedelta(days=2), post=post) == 0
    assert len(post.calls) == MAX_ATTEMPTS == 6
    assert len(delivery_log(session, sub.id)["items"][0]["history"]) == 6


def test_a_crashed_runner_holds_its_claim_until_the_lease_ends(engine, make_session, make_env):
    session = make_session()
    subscribe(session, "http://127.0.0.1:9/a")
    queue(session, make_env)

    def crash(*args):
        raise KeyboardInterrupt  # the process dies after claiming, before recording

    with pytest.raises(KeyboardInterrupt):
        run(engine, post=crash)
    post = recorder()
    assert run(engine, at=NOW + timedelta(seconds=30), post=post) == 0  # still claimed
    lease_end = NOW + LEASE + timedelta(seconds=TIMEOUT)
    assert run(engine, at=lease_end, post=post) == 1
    assert len(post.calls) == 1


def test_a_runner_whose_lease_ran_out_does_not_undo_the_next_ones_outcome(
        engine, make_session, make_env):
    session = make_session()
    subscribe(session, "http://127.0.0.1:9/a")
    [delivery] = queue(session, make_env)
    after_lease = NOW + LEASE + timedelta(seconds=TIMEOUT + 1)
    other = recorder(200)

    def slow_post(*args):
        # While this endpoint hangs past the lease, another runner claims and delivers.
        assert run(engine, at=after_lease, post=other) == 1
        return 500, None

    run(engine, post=slow_post)
    row = load(engine, delivery.id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert len(other.calls) == 1


def test_a_rotated_secret_signs_what_is_still_queued(engine, make_session, make_env):
    session = make_session()
    sub, old = subscribe(session, "http://127.0.0.1:9/a")
    queue(session, make_env)
    _, new = update_subscription(session, sub.id, {"rotate_secret": True,
                                                   "url": "http://127.0.0.1:9/moved"}, box=BOX,
                                   policy=LOCAL)
    session.commit()
    post = recorder()
    run(engine, post=post)
    [call] = post.calls
    assert call["url"] == "http://127.0.0.1:9/moved"
    assert verify(new, call["body"], call["headers"]["Mosaic-Signature"], now=NOW)
    assert not verify(old, call["body"], call["headers"]["Mosaic-Signature"], now=NOW)


def test_a_subscription_secret_the_runner_cannot_open_fails_the_attempt_never_posts_unsigned(
        engine, make_session, make_env):
    session = make_session()
    subscribe(session, "http://127.0.0.1:9/a")
    [delivery] = queue(session, make_env)
    post = recorder()
    assert run(engine, post=post, box=None) == 1  # a hub without MOSAIC_SECRET_KEY
    assert post.calls == []
    row = load(engine, delivery.id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, UNREADABLE_SECRET)
    run(engine, at=NOW + BACKOFF[0], post=post, box=SecretBox("another-key-" + "z" * 40))  # a changed key
    assert post.calls == [] and load(engine, delivery.id).last_error == UNREADABLE_SECRET


def test_enqueue_subscribed_matches_the_events_tenants_active_subscriptions_and_skips_internal_ones(
        engine, make_session, make_env):
    mine, theirs = make_session("t1"), make_session("t2")
    wanted, _ = subscribe(mine, "http://127.0.0.1:9/a", events=("contact.*",))
    subscribe(mine, "http://127.0.0.1:9/b", events=("deal.*",))
    subscribe(mine, "http://127.0.0.1:9/c", events=("*",), active=False)
    subscribe(theirs, "http://127.0.0.1:9/d", events=("*",))
    created = make_env()
    assert enqueue_subscribed(mine, created) == [wanted.id]
    assert enqueue_subscribed(mine, created) == []  # the same event again: nothing more
    everything, _ = subscribe(mine, "http://127.0.0.1:9/e", events=("*",))
    internal = make_env(type="platform.notification.requested")
    assert enqueue_subscribed(mine, internal) == []  # even "*" never gets the platform's own events
    mine.commit()
    with system_session(engine) as session:
        queued = session.execute(select(WebhookDelivery.subscription_id, WebhookDelivery.event_id)).all()
    assert queued == [(wanted.id, created["id"])] and everything.id not in {s for s, _ in queued}


def test_a_deactivated_subscription_gets_nothing_more(engine, make_session, make_env):
    session = make_session()
    sub, _ = subscribe(session, "http://127.0.0.1:9/a")
    [delivery] = queue(session, make_env)
    update_subscription(session, sub.id, {"active": False}, box=BOX)
    session.commit()
    post = recorder()
    assert run(engine, post=post) == 0 and post.calls == []
    row = load(engine, delivery.id)
    assert (row.status, row.last_error) == ("failed", "subscription is inactive")


def test_a_raising_poster_is_an_attempt_error(engine, make_session, make_env):
    session = make_session()
    subscribe(session, "http://127.0.0.1:9/a")
    [delivery] = queue(session, make_env)

    def broken(*args):
        raise RuntimeError("no route")
    run(engine, post=broken)
    row = load(engine, delivery.id)
    assert (row.status, row.last_error) == ("pending", "RuntimeError: no route")


def test_the_runner_serves_every_tenant_but_logs_stay_apart(engine, make_session, make_env):
    s1, s2 = make_session("t1"), make_session("t2")
    sub1 = subscribe(s1, "http://127.0.0.1:9/one")[0].id
    subscribe(s2, "http://127.0.0.1:9/two")
    queue(s1, make_env)
    queue(s2, make_env, tenant_id="t2")
    post = recorder()
    assert run(engine, post=post) == 2
    assert sorted(c["url"] for c in post.calls) == ["http://127.0.0.1:9/one",
                                                    "http://127.0.0.1:9/two"]
    assert len(delivery_log(s1, sub1)["items"]) == 1
    s1.rollback()  # the embedded SQLite engine has one connection
    with pytest.raises(NotFound):
        delivery_log(s2, sub1)


# --- the log -------------------------------------------------------------------------------------

def test_the_log_pages_newest_first_and_filters_by_status(engine, make_session, make_env):
    session = make_session()
    sub, _ = subscribe(session, "http://127.0.0.1:9/a")
    ids = [queue(session, make_env, record_id=f"c{i}")[0].id for i in range(3)]
    run(engine, post=recorder(500, 200, 200), limit=3)
    page1 = delivery_log(session, sub.id, limit=2)
    page2 = delivery_log(session, sub.id, cursor=page1["next_cursor"], limit=2)
    assert [i["id"] for i in page1["items"] + page2["items"]] == ids[::-1]
    assert page2["next_cursor"] is None
    pending = delivery_log(session, sub.id, status="pending")["items"]
    assert [i["id"] for i in pending] == [ids[0]]
    with pytest.raises(BadRequest):
        delivery_log(session, sub.id, cursor="not-a-cursor")
    with pytest.raises(BadRequest):
        delivery_log(session, sub.id, status="lost")


def test_purge_removes_old_finished_deliveries_only(engine, make_session, make_env):
    session = make_session()
    sub, _ = subscribe(session, "http://127.0.0.1:9/a")
    queue(session, make_env, record_id="done")
    queue(session, make_env, record_id="retrying")
    run(engine, post=recorder(200, 500))
    assert purge_deliveries(engine, before=NOW + timedelta(days=1)) == 1
    [left] = delivery_log(session, sub.id)["items"]
    assert left["status"] == "pending" and len(left["history"]) == 1


def test_a_slow_receiver_holds_up_only_its_own_share_of_a_batch(engine, make_session, make_env):
    """Deliveries of a batch are posted concurrently, at most PER_HOST at a time to one host: the
    slow host's posts wait until every other host's were made, which a sequential runner (or one
    letting the slow host take every slot) could never let happen."""
    import eventlet

    from mosaic.webhooks.delivery import PER_HOST

    session = make_session()
    loopback = EgressPolicy.parse(["127.0.0.0/8"])
    for i in range(4):
        create_subscription(session, {"url": f"http://127.0.0.2/slow/{i}", "events": ["contact.*"]},
                            box=BOX, policy=loopback)
    for i in range(3):
        create_subscription(session, {"url": f"http://127.0.0.1/fast/{i}", "events": ["contact.*"]},
                            box=BOX, policy=loopback)
    session.commit()
    assert len(queue(session, make_env)) == 7

    fast_done = eventlet.event.Event()
    posted: list[str] = []
    at_once = {"127.0.0.1": 0, "127.0.0.2": 0}
    most = dict(at_once)

    def post(url, body, headers, timeout):
        host = "127.0.0.2" if "/slow/" in url else "127.0.0.1"
        at_once[host] += 1
        most[host] = max(most[host], at_once[host])
        try:
            if host == "127.0.0.2" and not fast_done.ready():
                with eventlet.Timeout(5, False):  # bounded: a sequential runner would end here
                    fast_done.wait()
            else:
                eventlet.sleep(0)
            posted.append(url)
            if sum("/fast/" in u for u in posted) == 3 and not fast_done.ready():
                fast_done.send()
            return 200, None
        finally:
            at_once[host] -= 1

    assert run(engine, post=post, policy=loopback) == 7
    assert [u for u in posted if "/fast/" in u] == [u for u in posted[:3]]  # every fast one first
    assert most["127.0.0.2"] <= PER_HOST
    with system_session(engine) as check:
        assert {r.status for r in check.scalars(select(WebhookDelivery))} == {"delivered"}
