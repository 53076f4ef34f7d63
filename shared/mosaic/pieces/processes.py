"""Processes: move a record along its state machine, decide approvals, read its process history."""
from __future__ import annotations

from mosaic.context import Tenancy
from mosaic.entrypoints import rpc
from mosaic.errors import ValidationFailed
from mosaic.pieces.base import Piece
from mosaic.records.provider import Records
from mosaic.request_log import write_once


class Processes(Piece):
    """``transition``, ``decide`` and ``transitions`` (the gateway's ``POST …/{id}/transition``,
    ``…/approve``, ``…/reject`` and ``GET …/{id}/transitions``). Needs the platform's process tables;
    stage timers run as automation jobs (:class:`~mosaic.pieces.jobs.AutomationJobs`)."""

    needs = {"ctx": Tenancy, "data": Records}

    @rpc
    @write_once
    def transition(self, object_name, record_id, payload):
        """Move a record along its process (or ask for approval)."""
        from mosaic.processes import engine as processes

        self.ctx.tenant()
        body = action_body(payload, {"to", "transition", "comment", "process", "expected_version"})
        store = self.data.store()
        return processes.transition(store, object_name, record_id, to=body.get("to"),
                                    transition=body.get("transition"), comment=body.get("comment"),
                                    process=body.get("process"), expected_version=body.get("expected_version"))

    @rpc
    @write_once
    def decide(self, object_name, record_id, verdict, payload=None):
        """Approve or reject a record's pending transition."""
        from mosaic.processes import approvals as processes

        self.ctx.tenant()
        body = action_body(payload or {}, {"comment", "process"})
        store = self.data.store()
        fn = {"approve": processes.approve, "reject": processes.reject}.get(verdict)
        if fn is None:
            raise ValidationFailed("verdict must be approve or reject", errors={"verdict": ["approve or reject"]})
        return fn(store, object_name, record_id, comment=body.get("comment"), process=body.get("process"))

    @rpc
    def transitions(self, object_name, record_id):
        """A record's process history, newest first."""
        from mosaic.processes import approvals as processes

        self.ctx.tenant()
        return processes.history(self.data.store(), object_name, record_id)


def action_body(payload, allowed: set[str]) -> dict:
    """An action's JSON body, refusing anything but an object with ``allowed`` keys."""
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ValidationFailed("the body must be a JSON object", errors={"_schema": ["expected an object"]})
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ValidationFailed("unknown fields in the body", errors={k: ["unknown field"] for k in unknown})
    return payload
