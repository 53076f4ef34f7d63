"""Webhook tables: subscriptions, the delivery queue, and the log of every attempt.

The hub has all three (its migration ``hub_0002_webhooks``): subscriptions and their deliveries,
each delivery queued in the transaction that records its consumed event as processed (so it is
queued exactly once, and never lost). A record service has them too (platform tables): its queue
holds its automation rules' direct webhooks, queued in the write's transaction; its
``webhook_subscriptions`` is what services held before the hub owned subscriptions, read only by
``mosaic hub adopt``. Both queues are posted after commit by
``mosaic.webhooks.delivery.run_due_deliveries``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from mosaic.db import Base, JSONType, TenantScoped, UTCDateTime, new_id, utcnow

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATUSES = (PENDING, DELIVERED, FAILED)


class WebhookSubscription(TenantScoped, Base):
    """A tenant's endpoint and the event patterns it wants. ``secret`` signs every delivery; it is
    stored sealed (``sealed:v1:…``) and the API shows it once, on creation (and on rotation)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    events: Mapped[list] = mapped_column(JSONType, nullable=False, default=list)
    secret: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class WebhookDelivery(TenantScoped, Base):
    """One event to post to one endpoint, until it is delivered or gives up.

    ``subscription_id`` is null for an automation rule's direct webhook, which carries its own
    ``url`` and ``secret``; a subscription's delivery signs with the subscription's current
    secret at send time, so a rotation applies to what is still queued.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # One event is queued once per subscription, however often enqueueing is retried.
        UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_sub_event"),
        # The runner's hot query: pending rows whose time has come.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # A subscription's delivery log, newest first.
        Index("ix_webhook_deliveries_log", "subscription_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    subscription_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    secret: Mapped[str | None] = mapped_column(String(200), nullable=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False)
    event_type: Mapped[str] = mapped_column(String(200), nullable=False)
    payload: Mapped[dict] = mapped_column(JSONType, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookAttempt(TenantScoped, Base):
    """One POST of a delivery: what the endpoint answered (or why it could not be reached)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    delivery_id: Mapped[str] = mapped_column(String(36), ForeignKey("webhook_deliveries.id"),
                                             nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


#: create/migrate these together (attempts reference deliveries).
WEBHOOK_TABLES = [WebhookSubscription.__table__, WebhookDelivery.__table__,
                  WebhookAttempt.__table__]
