"""The hub as a running nameko service on the embedded mode's in-process broker: its RPCs answer
the caller's own tenant, user and roles, and the events it binds reach it through the broker."""
from __future__ import annotations

import time

import eventlet
import pytest

from mosaic.automation.notifications import REQUESTED
from mosaic.config import load_settings
from mosaic.context import RequestContext
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate
from mosaic.errors import Unauthorized, ValidationFailed
from mosaic.events.envelope import make_envelope
from mosaic.events.publishers import make_publisher
from mosaic.rpc import RpcPool
from mosaic.runtime import start_service


@pytest.fixture
def hub(tmp_path, memory_broker):
    settings = load_settings({"MOSAIC_DATA_DIR": str(tmp_path), "MOSAIC_SECRET_KEY": "k" * 48})
    migrate(settings, "hub")
    container = start_service(settings, "hub")
    pool = RpcPool(settings.amqp_uri, size=2, timeout=10)
    yield settings, pool
    pool.close()
    container.stop()
    dispose_engines()


def ctx(tenant="t1", user="u7", *roles) -> RequestContext:
    return RequestContext(tenant_id=tenant, user_id=user, roles=roles or ("sales",), modules=())


def request(tenant: str, recipient: str, message: str) -> dict:
    return make_envelope(REQUESTED, tenant, "system", "notification", None,
                         {"recipient": recipient, "message": message, "service": "contacts"}, None)


def test_published_requests_reach_the_callers_inbox_only(hub):
    settings, rpc = hub
    assert rpc.call("hub", "ping", ctx()) == {"service": "hub", "ok": True}
    events = [request("t1", "user:u7", "mine"), request("t1", "role:sales", "team"),
              request("t1", "user:u9", "theirs"), request("t2", "user:u7", "other tenant")]
    make_publisher(settings).publish(events)
    deadline = time.monotonic() + 30  # bounds a failing run only
    while rpc.call("hub", "unread_notifications", ctx())["unread"] < 2 and time.monotonic() < deadline:
        eventlet.sleep(0.05)
    page = rpc.call("hub", "notifications", ctx(), False, 50, None)
    assert sorted(n["message"] for n in page["items"]) == ["mine", "team"] and page["unread"] == 2
    mine = next(n["id"] for n in page["items"] if n["message"] == "mine")
    assert rpc.call("hub", "mark_notifications_read", ctx(), [mine]) == {"marked": 1, "unread": 1}
    assert rpc.call("hub", "notifications", ctx("t2"), True, 50, None)["unread"] == 1


def test_calls_without_a_tenant_or_with_bad_arguments_are_refused(hub):
    _settings, rpc = hub
    with pytest.raises(Unauthorized):
        rpc.call("hub", "notifications", RequestContext(), False, 50, None)
    with pytest.raises(ValidationFailed):
        rpc.call("hub", "mark_notifications_read", ctx(), "all")
    with pytest.raises(ValidationFailed):
        rpc.call("hub", "approvals", ctx(), "maybe", 50, None, None)
    assert rpc.call("hub", "approvals", ctx(), "pending", 50, None, ["deal"]) == {"items": [], "next_cursor": None}
