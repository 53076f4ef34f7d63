"""Fixtures for the hub's unit tests: its own tables in a fresh SQLite file, as its migrations
make them, and a way to hand it events the way its consumer does (``apply_once``)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mosaic.automation.notifications import REQUESTED
from mosaic.db import Base, make_engine, tenant_session
from mosaic.db.migrate import load_models, owned_tables
from mosaic.events.consumer import apply_once
from mosaic.events.envelope import make_envelope
from mosaic_hub.service import HANDLERS

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path):
    load_models()
    eng = make_engine(f"sqlite:///{tmp_path / 'hub.db'}", "hub")
    Base.metadata.create_all(eng, tables=[Base.metadata.tables[t] for t in owned_tables("hub")])
    yield eng
    eng.dispose()


@pytest.fixture
def deliver(engine):
    """``deliver(envelope)``: what the hub's consumer does with an event from its queue."""

    def apply(envelope: dict) -> bool:
        return apply_once(engine, "hub", envelope, HANDLERS[envelope["type"]])

    return apply


@pytest.fixture
def session(engine):
    with tenant_session(engine, "t1") as s:
        yield s


@pytest.fixture
def inbox(engine):
    """``inbox(ctx, **kw)``: the approvers' inbox page for ``ctx``, read in a session of its own
    (SQLite has one connection: a test's open session would keep the consumer waiting)."""
    from mosaic_hub import approvals

    def read(ctx, **kw) -> dict:
        with tenant_session(engine, ctx.tenant_id) as s:
            return approvals.list_for(s, ctx, **kw)

    return read


def _request_event(recipient: str, message: str, *, tenant: str = "t1", at: datetime | None = None,
                  **extra) -> dict:
    """A ``platform.notification.requested`` event as a producer's outbox holds it."""
    env = make_envelope(REQUESTED, tenant, "user:u1", "notification", None,
                        {"recipient": recipient, "message": message, "object": "contact", "record_id": "c1",
                         "source": "rule:r1", "service": "contacts", **extra}, None)
    if at is not None:
        env["occurred_at"] = at.isoformat()
    return env


def _approval_event(kind: str, approval_id: str, status: str, *, at: datetime, tenant: str = "t1",
                   roles=("manager",), users=(), requested_at: datetime = T0, object: str = "deal") -> dict:
    """A ``process.approval_<kind>`` event as mosaic.processes.approvals emits it."""
    approval = {"id": approval_id, "object": object, "record_id": f"r-{approval_id}", "process": "pipeline",
                "transition": "win", "from": "open", "to": "won", "status": status, "requested_by": "user:u1",
                "requested_at": requested_at.isoformat(),
                "decided_by": None if status == "pending" else "user:boss",
                "decided_at": None if status == "pending" else at.isoformat(),
                "comment": None, "decision_comment": None}
    data = {"approval": approval, "service": "sales"}
    if kind == "requested":
        data["approvers"] = {"roles": list(roles), "users": list(users)}
    env = make_envelope(f"process.approval_{kind}", tenant, "user:u1", object, approval["record_id"], data, 1)
    env["occurred_at"] = at.isoformat()
    return env


@pytest.fixture
def request_event():
    """``request_event(recipient, message, tenant=, at=, **data)``: a notification request."""
    return _request_event


@pytest.fixture
def approval_event():
    """``approval_event(kind, approval_id, status, at=, roles=, users=, …)``: an approval event."""
    return _approval_event
