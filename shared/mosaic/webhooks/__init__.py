"""Webhooks: tenant subscriptions to event patterns, and signed, retried deliveries.

The hub owns subscriptions (``mosaic_hub.webhooks``): ``subscriptions`` validates, stores (the
secret sealed) and pages them; the hub consumes every domain event and queues a delivery per
matching active subscription (``delivery.enqueue_subscribed``, exactly once per event). A record
service queues only its automation rules' own webhook actions (``delivery.enqueue_direct``, in
the write's transaction). A timer in each posts what is due (``delivery.run_due_deliveries``) to
public addresses only (``egress``: checked at save time and against the resolved address at
delivery, ``MOSAIC_WEBHOOK_ALLOW`` for exceptions). A receiver checks ``Mosaic-Signature`` with
``delivery.verify`` (or its own HMAC-SHA256 of ``"<t>.<body>"``). See docs/webhooks.md.
"""
from mosaic.webhooks.delivery import (BACKOFF, MAX_ATTEMPTS, delivery_log, delivery_out,
                                      enqueue_direct, enqueue_subscribed,
                                      purge_deliveries, run_due_deliveries, sign, verify)
from mosaic.webhooks.egress import (CONNECTION_FAILED, STRICT, EgressPolicy, egress_policy,
                                    post_json)
from mosaic.webhooks.models import (WEBHOOK_TABLES, WebhookAttempt, WebhookDelivery,
                                    WebhookSubscription)
from mosaic.webhooks.subscriptions import (create_subscription, delete_subscription,
                                           get_subscription, page_subscriptions, subscription_out,
                                           update_subscription, validate_subscription, wants)

__all__ = [
    "BACKOFF", "MAX_ATTEMPTS", "delivery_log", "delivery_out", "enqueue_direct",
    "enqueue_subscribed", "post_json", "CONNECTION_FAILED", "STRICT",
    "EgressPolicy", "egress_policy", "purge_deliveries", "run_due_deliveries", "sign", "verify",
    "WEBHOOK_TABLES", "WebhookAttempt", "WebhookDelivery", "WebhookSubscription",
    "create_subscription", "delete_subscription", "get_subscription", "page_subscriptions",
    "subscription_out", "update_subscription", "validate_subscription", "wants",
]
