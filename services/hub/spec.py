"""How the hub declares itself to the platform (entry point ``mosaic.services``:
``hub = "mosaic_hub.spec:SERVICE"``; see docs/services.md, "Platform services").

The hub is a platform service, not a module: no tenant enables or disables it, the admin module
list and the directory do not show it, and every run mode starts it. It hosts no records, so it
does not get the platform's tables: only its own, plus the processed-event log its consumers
need (``apply_once``) and the request log its writes need (``write_once``).
"""
from __future__ import annotations

from mosaic.services import ServiceSpec

SERVICE = ServiceSpec(
    name="hub",
    label="Hub",
    description="Notifications and the approvers' inbox of every module, in one place.",
    package="mosaic_hub",
    service_class="mosaic_hub.service:HubService",
    models=("mosaic_hub.models", "mosaic.webhooks.models"),
    tables=("hub_notifications", "hub_approvals", "hub_approval_approvers", "processed_events", "request_log",
            # webhook subscriptions and their deliveries (mosaic_hub.webhooks)
            "webhook_subscriptions", "webhook_deliveries", "webhook_attempts"),
    platform_tables=False,
    module=False,
    records=False,
    provides=("notifications", "approvals", "webhooks"),
    commands={"adopt": "mosaic_hub.adopt:command"},
)
