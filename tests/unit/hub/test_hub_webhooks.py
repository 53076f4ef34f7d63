"""The hub's webhook part (mosaic_hub.webhooks): its tables come with the hub's, its consumer of
every event sits on a queue of its own and queues deliveries once per event id, never for a
platform-internal event; its timers post and purge (end to end on PostgreSQL + RabbitMQ:
tests/integration/test_hub_webhooks_rabbitmq.py)."""
from __future__ import annotations

from types import SimpleNamespace

from nameko.timer import Timer
from sqlalchemy import func, select

from mosaic.db import tenant_session
from mosaic.events.consumer import DomainEvents, ProcessedEvent
from mosaic.events.envelope import make_envelope
from mosaic.webhooks import WebhookDelivery, create_subscription
from mosaic.webhooks.egress import EgressPolicy
from mosaic.webhooks.sealing import SecretBox
from mosaic_hub.service import HubService
from mosaic_hub.webhooks import CONSUMER, QUEUE

BOX = SecretBox("hub-unit-" + "k" * 40)
LOCAL = EgressPolicy.parse(["127.0.0.1/32"])


def subscribe(engine, tenant: str, events: list[str]) -> str:
    with tenant_session(engine, tenant) as session:
        row, _ = create_subscription(session, {"url": "http://127.0.0.1:9/h", "events": events}, box=BOX,
                                     policy=LOCAL)
        session.commit()
        return row.id


def count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model).where(*where))


def deliveries(engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(WebhookDelivery.subscription_id, WebhookDelivery.event_id)))


def consume(engine, envelope: dict) -> None:
    """What the hub's webhook consumer does with a message from its queue."""
    HubService.queue_webhook_deliveries(SimpleNamespace(data=SimpleNamespace(engine=engine)), envelope)


def test_the_every_event_consumer_has_a_queue_of_its_own_bound_to_everything():
    [entrypoint] = HubService.queue_webhook_deliveries.nameko_entrypoints
    assert isinstance(entrypoint, DomainEvents)
    assert entrypoint.queue.name == QUEUE != "mosaic.hub.events"
    assert [b.routing_key for b in entrypoint.queue.bindings] == ["#"]
    [post] = HubService.post_webhook_deliveries.nameko_entrypoints
    [purge] = HubService.purge_webhook_deliveries.nameko_entrypoints
    assert isinstance(post, Timer) and isinstance(purge, Timer)


def test_an_event_is_queued_once_per_matching_subscription_of_its_tenant(engine):
    wanted = subscribe(engine, "t1", ["contact.created"])
    subscribe(engine, "t1", ["deal.*"])
    subscribe(engine, "t2", ["*"])
    event = make_envelope("contact.created", "t1", "user:u1", "contact", "c1", {"record": {}}, 1)
    for _ in range(3):  # the broker redelivers
        consume(engine, event)
    assert count(engine, WebhookDelivery, WebhookDelivery.event_id == event["id"]) == 1
    assert count(engine, WebhookDelivery, WebhookDelivery.subscription_id == wanted) == 1
    assert count(engine, ProcessedEvent, ProcessedEvent.consumer == CONSUMER) == 1


def test_an_event_no_subscription_wants_writes_nothing_until_one_does(engine):
    subscribe(engine, "t1", ["deal.*"])
    subscribe(engine, "t2", ["*"])  # another tenant's catch-all is not t1's
    event = make_envelope("contact.created", "t1", "user:u1", "contact", "c1", {"record": {}}, 1)
    consume(engine, event)
    assert count(engine, WebhookDelivery) == 0
    assert count(engine, ProcessedEvent, ProcessedEvent.event_id == event["id"]) == 0
    # A subscription made before the event is (re)consumed gets it, once however often it comes.
    wanted = subscribe(engine, "t1", ["contact.*"])
    for _ in range(2):
        consume(engine, event)
    assert [(d.subscription_id, d.event_id) for d in deliveries(engine)] == [(wanted, event["id"])]
    assert count(engine, ProcessedEvent, ProcessedEvent.event_id == event["id"]) == 1


def test_a_platform_internal_event_is_skipped_before_any_effect(engine):
    subscribe(engine, "t1", ["*"])
    event = make_envelope("platform.notification.requested", "t1", "system", "notification", None,
                          {"recipient": "user:u1", "message": "m"}, 1)
    consume(engine, event)
    assert count(engine, WebhookDelivery) == 0
    assert count(engine, ProcessedEvent, ProcessedEvent.event_id == event["id"]) == 0
