"""``mosaic hub adopt`` on the embedded mode's SQLite files: the contacts service's own
notifications and approvals come over to the hub once, ids and read state kept, the approvers
taken from the process definition; running it again, or after the hub heard an event, adds or
overwrites nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from mosaic.automation.notifications import Notification
from mosaic.cli import main
from mosaic.config import load_settings
from mosaic.db import get_engine, system_session, tenant_session
from mosaic.db.engine import dispose_engines
from mosaic.db.migrate import migrate
from mosaic.logic.models import BehaviourDefinition
from mosaic.processes.models import ProcessApproval
from mosaic_hub.models import HubApproval, HubApprover, HubNotification

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
PROCESS = {"name": "vetting", "object": "contact", "field": "lifecycle_stage", "initial": "lead",
           "stages": [{"name": "lead"}, {"name": "customer"}],
           "transitions": [{"name": "sign", "from": ["lead"], "to": "customer",
                            "approval": {"roles": ["manager"], "users": ["u5"]}}]}


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MOSAIC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MOSAIC_MODE", raising=False)
    s = load_settings({"MOSAIC_DATA_DIR": str(tmp_path)})
    migrate(s, "contacts")
    migrate(s, "hub")
    yield s
    dispose_engines()


def legacy(settings, n: int = 3):
    """What the contacts service kept before the hub: notifications and two approvals."""
    with tenant_session(get_engine(settings, "contacts"), "t1") as s:
        for i in range(n):
            s.add(Notification(id=f"n{i}", recipient="user:u1" if i else "role:manager", message=f"m{i}",
                               object="contact", record_id=f"c{i}", source="rule:r1",
                               created_at=T0 + timedelta(minutes=i), read_at=T0 if i == 2 else None))
        s.add(BehaviourDefinition(kind="process", name="vetting", object="contact", definition=PROCESS))
        s.add(ProcessApproval(id="a-open", object="contact", record_id="c1", process="vetting", transition="sign",
                              from_stage="lead", to_stage="customer", status="pending", requested_by="user:u1",
                              requested_at=T0))
        s.add(ProcessApproval(id="a-done", object="contact", record_id="c2", process="vetting", transition="sign",
                              from_stage="lead", to_stage="customer", status="approved", requested_by="user:u1",
                              requested_at=T0, decided_by="user:boss", decided_at=T0 + timedelta(hours=1)))
        s.commit()


def hub_counts(settings) -> tuple[int, int, int]:
    with system_session(get_engine(settings, "hub")) as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (HubNotification, HubApproval, HubApprover))


def test_adopt_copies_once_keeping_ids_read_state_and_approvers(settings, capsys):
    legacy(settings)
    assert main(["hub", "adopt"]) == 0
    assert "contacts: 3 notifications and 2 approvals adopted" in capsys.readouterr().out
    assert hub_counts(settings) == (3, 2, 4)
    with tenant_session(get_engine(settings, "hub"), "t1") as s:
        n2 = s.get(HubNotification, "n2")
        assert (n2.recipient, n2.message, n2.service, n2.read_at is not None) == ("user:u1", "m2", "contacts", True)
        pending = s.get(HubApproval, "a-open")
        assert (pending.status, pending.approver_roles, pending.approver_users) == ("pending", ["manager"], ["u5"])
        assert s.get(HubApproval, "a-done").decided_by == "user:boss"
    assert main(["hub", "adopt", "--service", "contacts"]) == 0  # again: nothing new
    assert "contacts: 0 notifications and 0 approvals adopted" in capsys.readouterr().out
    assert hub_counts(settings) == (3, 2, 4)


def test_adopt_never_overwrites_what_the_hub_heard_since(settings):
    legacy(settings)
    with tenant_session(get_engine(settings, "hub"), "t1") as s:  # the decision arrived by event
        s.add(HubApproval(id="a-open", service="contacts", object="contact", record_id="c1", process="vetting",
                          transition="sign", from_stage="lead", to_stage="customer", status="rejected",
                          approver_roles=[], approver_users=[], requested_by="user:u1", requested_at=T0,
                          event_at=T0 + timedelta(days=1)))
        s.commit()
    assert main(["hub", "adopt"]) == 0
    with tenant_session(get_engine(settings, "hub"), "t1") as s:
        assert s.get(HubApproval, "a-open").status == "rejected"


def test_adopt_refuses_a_service_that_hosts_no_records(settings, capsys):
    with pytest.raises(SystemExit, match="not a record-hosting service: hub"):
        main(["hub", "adopt", "--service", "hub"])
