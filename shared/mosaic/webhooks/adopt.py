"""Adopting the webhook subscriptions record services held before one service owned them
(``mosaic hub adopt``: :func:`mosaic_hub.webhooks.adopt_command`), once.

Before, the gateway copied each subscription into every record service (one id and one plain
secret everywhere). The owner (the installed service that ``provides`` ``webhooks``, the hub)
gets each subscription once, under its id, its secret sealed; the copies are then unused (no
service queues deliveries for them any more) and left where they are. Idempotent: a subscription
the owner already has is skipped, so a second run adopts nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from mosaic.db import system_session
from mosaic.webhooks.models import WebhookSubscription
from mosaic.webhooks.sealing import SecretBox, is_sealed

SECRET_COLUMN = WebhookSubscription.__table__.c.secret.type.length


@dataclass
class Adoption:
    """What :func:`adopt_subscriptions` did: ids adopted, ids the owner already had, and the
    subscriptions left out with why (a tenant at its limit)."""

    adopted: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def adopt_subscriptions(sources: dict[str, Engine], owner: Engine, box: SecretBox | None,
                        limit: int | None = None) -> Adoption:
    """Copy every subscription of the ``sources`` (service name → engine) into ``owner``, once per
    id, its secret sealed by ``box``; the first service's copy wins (they were identical). Each
    tenant keeps at most ``limit`` subscriptions (default: the owner's per-tenant maximum). Without
    a ``box`` (no ``MOSAIC_SECRET_KEY``), a subscription whose secret is not sealed yet is refused,
    never stored in clear."""
    from mosaic.webhooks.subscriptions import MAX_SUBSCRIPTIONS

    limit = MAX_SUBSCRIPTIONS if limit is None else limit
    found: dict[str, WebhookSubscription] = {}
    for engine in sources.values():
        with system_session(engine) as session:
            for row in session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.created_at,
                                                                            WebhookSubscription.id)):
                session.expunge(row)
                found.setdefault(row.id, row)
    result = Adoption()
    with system_session(owner) as session:
        have = set(session.scalars(select(WebhookSubscription.id).where(WebhookSubscription.id.in_(list(found)))))
        counts = dict(session.execute(select(WebhookSubscription.tenant_id, func.count())
                                      .group_by(WebhookSubscription.tenant_id)).all())
        for sub_id, row in found.items():
            if sub_id in have:
                result.already.append(sub_id)
                continue
            if counts.get(row.tenant_id, 0) >= limit:
                result.refused[sub_id] = f"tenant {row.tenant_id} has {limit} subscriptions already"
                continue
            if not is_sealed(row.secret) and box is None:
                result.refused[sub_id] = "MOSAIC_SECRET_KEY is not set: its secret cannot be sealed"
                continue
            secret = row.secret if is_sealed(row.secret) else box.seal(row.secret)
            if len(secret) > SECRET_COLUMN:
                result.refused[sub_id] = "its secret is too long to store sealed: rotate it after creating it anew"
                continue
            session.add(WebhookSubscription(id=row.id, tenant_id=row.tenant_id, url=row.url, events=list(row.events),
                                            secret=secret, description=row.description, active=row.active,
                                            created_at=row.created_at, updated_at=row.updated_at))
            counts[row.tenant_id] = counts.get(row.tenant_id, 0) + 1
            result.adopted.append(sub_id)
        session.commit()
    return result
