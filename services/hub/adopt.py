"""``mosaic hub adopt``: copy what the modules kept themselves before the hub owned it.

Before the hub, every record service stored its own notifications (its ``notifications`` table)
and answered for its approvals. After an upgrade, new notifications and approval events reach the
hub by themselves; this one-shot command brings the old ones over:

- each service's ``notifications`` rows become hub notifications with the **same id**, read state
  and time (so a client's ids stay valid);
- each service's ``process_approvals`` become entries of the approvers' inbox, with the approvers
  their transition defines now (the tenant's own process definitions, then the plugins').

It reads the services' tables and writes only the hub's; it is idempotent (what the hub already
has is kept, so running it twice, or after the hub has started receiving events, adds nothing
twice and never overwrites a newer state). The services' rows are left as they were: drop them
with a later migration once the hub is trusted.
"""
from __future__ import annotations

import argparse
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from mosaic import services
from mosaic.automation.notifications import Notification
from mosaic.config import Settings
from mosaic.db import get_engine, system_session, tenant_session
from mosaic.logic.models import BehaviourDefinition
from mosaic.processes.models import ProcessApproval
from mosaic_hub.models import HubApproval, HubApprover, HubNotification

BATCH = 500


def _after(at_col, id_col, last: tuple[datetime, str] | None):
    if last is None:
        return True
    return or_(at_col > last[0], and_(at_col == last[0], id_col > last[1]))


def adopt_notifications(source: Engine, hub: Engine, service: str, batch: int = BATCH) -> int:
    """Copy ``service``'s notifications into the hub (oldest first, in batches); how many were new."""
    added, last = 0, None
    while True:
        with system_session(source) as s:
            rows = list(s.scalars(select(Notification)
                                  .where(_after(Notification.created_at, Notification.id, last))
                                  .order_by(Notification.created_at, Notification.id).limit(batch)))
        if not rows:
            return added
        last = (rows[-1].created_at, rows[-1].id)
        with system_session(hub) as h:
            known = set(h.scalars(select(HubNotification.id).where(HubNotification.id.in_([r.id for r in rows]))))
            for r in rows:
                if r.id in known:
                    continue
                h.add(HubNotification(id=r.id, tenant_id=r.tenant_id, recipient=r.recipient, message=r.message,
                                      object=r.object, record_id=r.record_id, source=r.source, service=service,
                                      created_at=r.created_at, read_at=r.read_at))
                added += 1
            h.commit()


def _process_definitions(source: Engine) -> tuple[dict, dict]:
    """The process definitions approvals were filed under: the tenants' own, by (tenant, name),
    and the loaded plugins', by name."""
    from mosaic.plugins import get_host

    own: dict[tuple[str, str], dict] = {}
    with system_session(source) as s:
        for row in s.scalars(select(BehaviourDefinition).where(BehaviourDefinition.kind == "process")):
            own[(row.tenant_id, row.name)] = row.definition
    plugin = {d.get("name"): d for d in get_host().declarations.processes}
    return own, plugin


def _approvers(definitions: tuple[dict, dict], approval: ProcessApproval) -> dict:
    """``{roles, users}`` of the transition ``approval`` was filed under, as defined now."""
    own, plugin = definitions
    definition = own.get((approval.tenant_id, approval.process)) or plugin.get(approval.process) or {}
    for t in definition.get("transitions") or ():
        if t.get("name") == approval.transition and isinstance(t.get("approval"), dict):
            return {"roles": list(t["approval"].get("roles") or ()), "users": list(t["approval"].get("users") or ())}
    return {"roles": [], "users": []}  # the rule is gone: admins still see it (may_decide)


def adopt_approvals(source: Engine, hub: Engine, service: str, batch: int = BATCH) -> int:
    """Index ``service``'s approvals in the hub's inbox; how many were new."""
    definitions = _process_definitions(source)
    added, last = 0, None
    while True:
        with system_session(source) as s:
            rows = list(s.scalars(select(ProcessApproval)
                                  .where(_after(ProcessApproval.requested_at, ProcessApproval.id, last))
                                  .order_by(ProcessApproval.requested_at, ProcessApproval.id).limit(batch)))
            s.expunge_all()
        if not rows:
            return added
        last = (rows[-1].requested_at, rows[-1].id)
        for a in rows:
            with tenant_session(hub, a.tenant_id) as h:
                if h.get(HubApproval, a.id) is not None:
                    continue  # the hub heard of it by event already: that is newer
                who = _approvers(definitions, a)
                h.add(HubApproval(id=a.id, service=service, object=a.object, record_id=a.record_id,
                                  process=a.process, transition=a.transition, from_stage=a.from_stage,
                                  to_stage=a.to_stage, status=a.status, approver_roles=who["roles"],
                                  approver_users=who["users"], requested_by=a.requested_by,
                                  requested_at=a.requested_at, decided_by=a.decided_by, decided_at=a.decided_at,
                                  comment=a.comment, decision_comment=a.decision_comment,
                                  event_at=a.decided_at or a.requested_at))
                h.flush()
                names = dict.fromkeys([f"role:{r}" for r in who["roles"]] + [f"user:{u}" for u in who["users"]])
                h.add_all(HubApprover(approval_id=a.id, approver=n[:200]) for n in names)
                h.commit()
                added += 1


def adopt(settings: Settings, names: list[str] | None = None, announce=print) -> dict[str, dict[str, int]]:
    """Adopt every record-hosting service's (or ``names``') notifications and approvals."""
    hosting = [n for n, spec in services.installed().items() if spec.platform_tables]
    unknown = sorted(set(names or ()) - set(hosting))
    if unknown:
        raise SystemExit(f"not a record-hosting service: {', '.join(unknown)} (one of {', '.join(hosting)})")
    hub = get_engine(settings, "hub")
    out = {}
    for name in names or hosting:
        source = get_engine(settings, name)
        out[name] = {"notifications": adopt_notifications(source, hub, name),
                     "approvals": adopt_approvals(source, hub, name)}
        announce(f"{name}: {out[name]['notifications']} notifications and {out[name]['approvals']} approvals adopted")
    return out


def command(settings: Settings, argv: list[str]) -> int:
    """Copy the services' own notifications, approvals and webhook subscriptions into the hub
    (one-shot, idempotent)."""
    from mosaic_hub.webhooks import adopt_command

    parser = argparse.ArgumentParser(prog="mosaic hub adopt", description="Copy the services' own notifications, "
                                     "approvals and webhook subscriptions into the hub (one-shot, idempotent; "
                                     "docs/hub.md, docs/webhooks.md).")
    parser.add_argument("--service", action="append", help="only this service (repeatable; default: all)")
    args = parser.parse_args(argv)
    adopt(settings, args.service)
    return adopt_command(settings, argv)
