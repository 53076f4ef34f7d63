"""The hub service: nameko entrypoints only, composed of one mixin per part it owns
(notifications, the approvers' inbox, and — from its own module — webhook subscriptions).

Each part's entrypoints live in its mixin; this class gives them the dependencies (``ctx``,
``data``) and the one consumer of domain events on the hub's queue (``mosaic.hub.events``),
which hands each event to the part that wants it. A part that consumes every event (webhook
delivery) declares its own entrypoint on a queue of its own.
"""
from __future__ import annotations

import logging

from mosaic.context import Tenancy
from mosaic.db.provider import Database
from mosaic.events.consumer import apply_once, domain_events
from mosaic.pieces import Health, Housekeeping
from mosaic.telemetry import Tracing
from mosaic_hub import approvals, notifications
from mosaic_hub.entrypoints import ApprovalsRpc, NotificationsRpc
from mosaic_hub.webhooks import WebhooksRpc

log = logging.getLogger(__name__)

#: the event types the hub's own queue receives, and the part that applies each
HANDLERS = {
    notifications.REQUESTED: notifications.apply_requested,
    **{t: approvals.apply_event for t in approvals.EVENT_TYPES},
}


def _purge_read_notifications(service, now) -> None:
    from datetime import timedelta

    from mosaic.db.provider import settings_of

    keep = settings_of(service.container).notifications_keep_days
    notifications.purge_read(service.data.engine, now - timedelta(days=keep))


class HubService(
    Health,
    Housekeeping,
    NotificationsRpc,
    ApprovalsRpc,
    WebhooksRpc,
):
    """Notifications and the approvers' inbox of every module, for every tenant."""

    name = "hub"

    ctx = Tenancy()  # a platform service: every tenant has it, no module to check
    data = Database("hub")
    tracing = Tracing()
    #: the hourly housekeeping also drops notifications read more than MOSAIC_NOTIFICATIONS_KEEP_DAYS ago
    purges = (_purge_read_notifications,)

    @domain_events("hub", *HANDLERS)
    def on_event(self, envelope):
        """Apply a notification request or an approval event, exactly once per event id."""
        handler = HANDLERS.get(envelope["type"])
        if handler is None:  # bound by an older version of this queue: nothing to do with it
            log.warning("hub: ignoring an event of type %s", envelope["type"])
            return False
        return apply_once(self.data.engine, "hub", envelope, handler)

