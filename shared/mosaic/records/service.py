"""The composition of pieces every record-hosting service has, whatever its objects: health,
metadata, the record API, processes, tenant-defined rules, plugins' event handlers, the retained
event log and the background timers of the low-code runtime (:mod:`mosaic.pieces`).

A service subclasses :class:`RecordService` and declares ``name``, ``ctx = Tenancy(module=...)``
and ``data = Records(...)``; it adds only what is special about its own objects. A service that
hosts no records (a read model) composes the pieces it needs instead, and says ``records=False``
in its :class:`~mosaic.services.ServiceSpec`. Entry points are thin: they check the context and
call one domain function with the worker's store; a write's :func:`~mosaic.request_log.write_once`
commits it with its request id, so a redelivered or retried request is answered with the first
outcome instead of running twice.
"""
from __future__ import annotations

import logging

from mosaic.entrypoints import rpc
from mosaic.pieces import (
    AutomationJobs,
    Definitions,
    EventLog,
    Health,
    Metadata,
    PluginEvents,
    Processes,
    RecordApi,
)
from mosaic.pieces.jobs import KEEP_FINISHED  # noqa: F401 - importable from here, as before the split
from mosaic.pieces.metadata import process_summary as _process_summary  # noqa: F401 - likewise
from mosaic.pieces.processes import action_body as _body  # noqa: F401 - likewise
from mosaic.pieces.references import ReferencesRpc
from mosaic.request_log import write_once
from mosaic.users.service import TenantUsersRpc
from mosaic.webhooks.egress import egress_policy

log = logging.getLogger(__name__)


class RecordService(Health, Metadata, RecordApi, Processes, Definitions, PluginEvents, EventLog, AutomationJobs,
                    TenantUsersRpc, ReferencesRpc):
    """Base of every record-hosting nameko service (``name``, ``ctx`` and ``data`` come from the
    subclass): every piece of :data:`mosaic.pieces.RECORD_HOST`, plugins' event handlers, the event
    log, the automation timers, the tenants' users read model owner checks use (``sync_users``) and
    ``object_names`` (what other services ask to check a reference to one of its records)."""

    name = "records"

    # The user-level features below are copies in every record service for now; they move to a
    # service of their own (one owner, real paging), and this section goes with them.

    # -- approvals --------------------------------------------------------------------------------
    @rpc
    def approvals(self, status="pending", limit=100):
        """Approvals the caller may decide (or all of a status, for an admin)."""
        from mosaic.processes import approvals as processes

        self.ctx.tenant()
        return processes.approvals(self.data.store(), status=status, limit=int(limit))

    # -- notifications ------------------------------------------------------------------------------
    @rpc
    def notifications(self, unread_only=False, limit=50, cursor=None):
        """The caller's notifications (to them or to one of their roles), newest first."""
        from mosaic.automation import notifications

        ctx = self.ctx.tenant()
        return notifications.list_for(self.data.session, ctx.user_id, ctx.roles, bool(unread_only),
                                      int(limit), cursor)

    @rpc
    @write_once
    def mark_notifications_read(self, ids):
        from mosaic.automation import notifications

        ctx = self.ctx.tenant()
        count = notifications.mark_read(self.data.session, ctx.user_id, ctx.roles, list(ids or ()))
        return {"marked": count}

    # -- webhook subscriptions ----------------------------------------------------------------------
    # The gateway creates one subscription (one id, one secret) in every service emitting events.
    @rpc
    def list_webhooks(self):
        from mosaic.webhooks import subscriptions as subs

        self.ctx.require_role("admin")
        return [subs.subscription_out(row) for row in subs.list_subscriptions(self.data.session)]

    @rpc
    def get_webhook(self, sub_id):
        from mosaic.webhooks import subscriptions as subs

        self.ctx.require_role("admin")
        return subs.subscription_out(subs.get_subscription(self.data.session, sub_id))

    @rpc
    @write_once(redact=("secret",))
    def create_webhook(self, data, sub_id=None, secret=None):
        """Subscribe; the answer carries the secret (shown to the admin this once)."""
        from mosaic.webhooks import subscriptions as subs

        self.ctx.require_role("admin")
        row, secret = subs.create_subscription(self.data.session, data, sub_id=sub_id, secret=secret,
                                               policy=egress_policy(self.data.settings))
        return {**subs.subscription_out(row), "secret": secret}

    @rpc
    @write_once(redact=("secret",))
    def update_webhook(self, sub_id, data, secret=None):
        from mosaic.webhooks import subscriptions as subs

        self.ctx.require_role("admin")
        row, rotated = subs.update_subscription(self.data.session, sub_id, data, secret=secret,
                                                policy=egress_policy(self.data.settings))
        return {**subs.subscription_out(row), **({"secret": rotated} if rotated else {})}

    @rpc
    @write_once
    def delete_webhook(self, sub_id):
        from mosaic.webhooks import subscriptions as subs

        self.ctx.require_role("admin")
        subs.delete_subscription(self.data.session, sub_id)

    @rpc
    def webhook_deliveries(self, sub_id, limit=50, cursor=None, status=None):
        from mosaic.webhooks.delivery import delivery_log

        self.ctx.require_role("admin")
        return delivery_log(self.data.session, sub_id, cursor=cursor, limit=int(limit), status=status)
