"""Webhook subscriptions, owned by the hub: one row per subscription, its secret sealed, paged
for real; the deliveries of every service's domain events to them.

The hub consumes every published event from the topic exchange on a queue of its own
(``mosaic.hub.webhooks``, bound to ``#``), skips platform-internal ones (``platform.*``), reads
the active subscriptions of the event's tenant that want it, and only when some do, queues one
delivery per match in the transaction that records the event as processed (``apply_once``): a
redelivered event queues nothing twice, and a crash before that commit leaves the message
unacked, so nothing is lost. An event nobody subscribed to costs one read and writes nothing. Its timer posts
what is due (signing, retries with backoff, the egress policy ``MOSAIC_WEBHOOK_ALLOW``) and an
hourly one purges finished deliveries. An automation rule's own ``webhook`` action is not here:
it is part of the rule and is queued and posted by the rule's service (docs/webhooks.md).

:class:`WebhooksRpc` is a mixin of :class:`mosaic_hub.service.HubService`, which gives it ``ctx``
and ``data``.
"""
from __future__ import annotations

import functools
from datetime import timedelta

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from mosaic.db import tenant_session, utcnow
from mosaic.db.provider import settings_of
from mosaic.entrypoints import rpc, settings_timer
from mosaic.errors import ServiceUnavailable
from mosaic.events.consumer import apply_once, domain_events
from mosaic.events.envelope import is_internal
from mosaic.request_log import write_once
from mosaic.webhooks import delivery, subscriptions as subs
from mosaic.webhooks.egress import EgressPolicy, egress_policy
from mosaic.webhooks.sealing import SecretBox, secret_box

#: the queue of the every-event consumer (the hub's own queue carries only what it binds)
QUEUE = "mosaic.hub.webhooks"
#: the consumer name of processed-event rows (``hub`` is the other consumer's)
CONSUMER = "hub.webhooks"
#: how long finished deliveries (with their attempts) are kept
KEEP_FINISHED = timedelta(days=30)


class WebhookSettings:
    """What delivering needs from the settings: where webhooks may go, and the box that seals
    and opens the subscriptions' secrets."""

    def __init__(self, policy: EgressPolicy, box: SecretBox | None):
        self.policy = policy
        #: None without ``MOSAIC_SECRET_KEY``: then nothing is sealed, and sealed secrets fail to sign
        self.box = box

    def sealing_box(self) -> SecretBox:
        """The box a new secret is sealed with; a 503 when ``MOSAIC_SECRET_KEY`` is not set (a
        secret is never stored plain)."""
        if self.box is None:
            raise ServiceUnavailable("MOSAIC_SECRET_KEY is not set for the hub: webhook secrets cannot be sealed")
        return self.box


class Webhooks(DependencyProvider):
    """``webhooks = Webhooks()``: :class:`WebhookSettings` from the container's settings, read
    once at start."""

    def setup(self):
        settings = settings_of(self.container)
        self.value = WebhookSettings(egress_policy(settings), secret_box(settings))

    def get_dependency(self, worker_ctx):
        return self.value


class WebhooksRpc:
    """The tenant's webhook subscriptions and their deliveries (admins only), the consumer that
    queues deliveries, and the timers that post and purge them."""

    webhooks = Webhooks()

    @rpc
    def list_webhooks(self, limit=50, cursor=None):
        """The tenant's subscriptions, oldest first: ``{"items", "next_cursor"}`` (never a secret)."""
        self.ctx.require_role("admin")
        return subs.page_subscriptions(self.data.session, cursor=cursor, limit=limit)

    @rpc
    def get_webhook(self, sub_id):
        """One subscription (never its secret)."""
        self.ctx.require_role("admin")
        return subs.subscription_out(subs.get_subscription(self.data.session, sub_id))

    @rpc
    @write_once(redact=("secret",))
    def create_webhook(self, data):
        """Subscribe; the answer carries the signing secret, this once (a replay of the request
        answers without it: it is stored sealed, and the log keeps no copy)."""
        self.ctx.require_role("admin")
        row, secret = subs.create_subscription(self.data.session, data, box=self.webhooks.sealing_box(),
                                               policy=self.webhooks.policy)
        return {**subs.subscription_out(row), "secret": secret}

    @rpc
    @write_once(redact=("secret",))
    def update_webhook(self, sub_id, data):
        """Change url, events, description or active; ``rotate_secret: true`` answers the new secret."""
        self.ctx.require_role("admin")
        row, rotated = subs.update_subscription(self.data.session, sub_id, data, box=self.webhooks.sealing_box(),
                                                policy=self.webhooks.policy)
        return {**subs.subscription_out(row), **({"secret": rotated} if rotated else {})}

    @rpc
    @write_once
    def delete_webhook(self, sub_id):
        """Remove a subscription and its delivery log."""
        self.ctx.require_role("admin")
        subs.delete_subscription(self.data.session, sub_id)

    @rpc
    def webhook_deliveries(self, sub_id, limit=50, cursor=None, status=None):
        """A subscription's deliveries with their attempts, newest first: ``{"items", "next_cursor"}``."""
        self.ctx.require_role("admin")
        return delivery.delivery_log(self.data.session, sub_id, cursor=cursor, limit=limit,
                                     status=status)

    @domain_events("hub", "#", queue=QUEUE)
    def queue_webhook_deliveries(self, envelope):
        """Queue the deliveries a published event matches, exactly once per event id.

        Most events of most tenants match no subscription: those are answered by one read and
        leave nothing behind (no transaction, no processed-event row). Only an event that some
        subscription wants opens the ``apply_once`` transaction that queues its deliveries."""
        if is_internal(envelope):  # the platform talking to itself: no subscriber's business
            return
        with tenant_session(self.data.engine, envelope["tenant_id"]) as session:
            wanted = delivery.subscribed(session, envelope["type"])
        if wanted:
            apply_once(self.data.engine, CONSUMER, envelope,
                       functools.partial(delivery.enqueue_subscribed, wanted=wanted))

    @settings_timer("jobs_interval", 1.0)
    def post_webhook_deliveries(self):
        """Post the deliveries that are due, every tenant's."""
        delivery.run_due_deliveries(self.data.engine, policy=self.webhooks.policy, box=self.webhooks.box)

    @timer(interval=3600)
    def purge_webhook_deliveries(self):
        """Drop finished deliveries older than :data:`KEEP_FINISHED`, with their attempts."""
        delivery.purge_deliveries(self.data.engine, utcnow() - KEEP_FINISHED)


def adopt_command(settings, argv: list[str]) -> int:
    """The webhook part of ``mosaic hub adopt``: copy the subscriptions every record service held
    (the gateway's copies, one per service) into the hub, one sealed row each, once (docs/webhooks.md)."""
    import argparse

    from mosaic import services
    from mosaic.db import get_engine
    from mosaic.webhooks.adopt import adopt_subscriptions

    parser = argparse.ArgumentParser(prog="mosaic hub adopt", description=adopt_command.__doc__)
    parser.add_argument("--service", action="append", help="only this service (repeatable; default: all)")
    args = parser.parse_args(argv)
    box = secret_box(settings)  # None without MOSAIC_SECRET_KEY: a plain secret is then refused, not stored
    names = [n for n in services.running() if services.get(n).platform_tables]
    sources = {n: get_engine(settings, n) for n in names if not args.service or n in args.service}
    done = adopt_subscriptions(sources, get_engine(settings, "hub"), box)
    print(f"adopted {len(done.adopted)} webhook subscriptions from {', '.join(sources) or 'no service'}; "
          f"{len(done.already)} the hub had already")
    for sub_id, why in done.refused.items():
        print(f"not adopted {sub_id}: {why}")
    return 1 if done.refused else 0
