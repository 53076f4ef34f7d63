"""apply_once() and the domain_events entrypoint's wiring."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from mosaic.db import system_session
from mosaic.errors import ValidationFailed
from mosaic.events import DomainEvents, ProcessedEvent, apply_once, domain_events, queue_name


def _processed(engine):
    with system_session(engine) as session:
        return [(p.consumer, p.event_id, p.tenant_id, p.type) for p in session.scalars(select(ProcessedEvent))]


def test_applies_once_per_consumer(engine, make_env, increment, tallies):
    env = make_env(tenant_id="t1", record_id="r1")
    assert apply_once(engine, "analytics", env, increment) is True
    assert apply_once(engine, "analytics", env, increment) is False
    assert tallies() == {("t1", "r1"): 1}
    # Another consumer keeps its own record of what it applied.
    assert apply_once(engine, "marketing", env, increment) is True
    assert tallies() == {("t1", "r1"): 2}
    assert sorted(_processed(engine)) == [("analytics", env["id"], "t1", "contact.created"),
                                          ("marketing", env["id"], "t1", "contact.created")]


def test_handler_error_rolls_back_its_writes_and_the_dedup_row(engine, make_env, increment, tallies):
    env = make_env()

    def failing(session, envelope):
        increment(session, envelope)
        session.flush()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        apply_once(engine, "analytics", env, failing)
    assert tallies() == {}
    assert _processed(engine) == []
    # The redelivery then succeeds, once.
    assert apply_once(engine, "analytics", env, increment) is True
    assert tallies() == {("t1", "r1"): 1}


def test_handler_commit_does_not_split_the_transaction(engine, make_env, increment, tallies):
    env = make_env()

    def commits_then_fails(session, envelope):
        increment(session, envelope)
        session.commit()
        raise RuntimeError("after commit")

    with pytest.raises(RuntimeError):
        apply_once(engine, "analytics", env, commits_then_fails)
    assert tallies() == {}
    assert _processed(engine) == []


def test_handler_gets_a_session_of_the_envelopes_tenant(engine, make_env, increment, tally_model):
    apply_once(engine, "analytics", make_env(tenant_id="t1", record_id="a"), increment)
    seen = {}

    def look(session, envelope):
        seen["tenant"] = session.info["tenant_id"]
        seen["visible"] = session.scalars(select(tally_model)).all()

    apply_once(engine, "analytics", make_env(tenant_id="t2", record_id="b"), look)
    assert seen["tenant"] == "t2"
    assert seen["visible"] == []  # t1's row stays invisible to t2's handler


def test_invalid_envelope_is_refused_before_anything_runs(engine, make_env, increment, tallies):
    with pytest.raises(ValidationFailed):
        apply_once(engine, "analytics", {**make_env(), "tenant_id": None}, increment)
    assert tallies() == {} and _processed(engine) == []


def test_domain_events_declares_a_durable_queue_bound_to_each_pattern():
    class Service:
        name = "analytics"

        @domain_events("analytics", "contact.*", "deal.won", exchange="test_c.events")
        def on_event(self, envelope):
            return envelope["type"]

    [entrypoint] = Service.on_event.nameko_entrypoints
    assert isinstance(entrypoint, DomainEvents)
    queue = entrypoint.queue
    assert queue.name == queue_name("analytics") == "mosaic.analytics.events"
    assert queue.durable and not queue.auto_delete
    assert {(b.exchange.name, b.exchange.type, b.exchange.durable, b.routing_key) for b in queue.bindings} == {
        ("test_c.events", "topic", True, "contact.*"), ("test_c.events", "topic", True, "deal.won")}
    assert entrypoint.requeue_on_error is True


def test_domain_events_wrapper_passes_the_envelope_through(make_env):
    class Service:
        name = "analytics"

        @domain_events("analytics", "#")
        def on_event(self, envelope):
            return envelope["id"]

    env = make_env()
    data = {"traceparent": None}
    assert Service().on_event(env, _mosaic_event_context=data) == env["id"]
    assert Service().on_event(env) == env["id"]


def test_domain_events_needs_a_pattern():
    with pytest.raises(ValueError):
        DomainEvents("analytics", ())


def test_two_handlers_on_one_queue_are_refused_at_setup():
    from nameko.containers import ServiceContainer

    class Service:
        name = "analytics"

        @domain_events("analytics", "contact.*")
        def on_contact(self, envelope):
            pass

        @domain_events("analytics", "deal.*")
        def on_deal(self, envelope):
            pass

    container = ServiceContainer(Service, {"AMQP_URI": "memory://"})
    with pytest.raises(ValueError, match="both consume mosaic.analytics.events"):
        for entrypoint in container.entrypoints:
            entrypoint.setup()


def test_handlers_with_their_own_queues_are_fine():
    from nameko.containers import ServiceContainer

    class Service:
        name = "analytics"

        @domain_events("analytics", "contact.*")
        def on_contact(self, envelope):
            pass

        @domain_events("analytics", "deal.*", queue="mosaic.analytics.deals")
        def on_deal(self, envelope):
            pass

    container = ServiceContainer(Service, {"AMQP_URI": "memory://"})
    for entrypoint in container.entrypoints:
        entrypoint.setup()
    assert {e.queue.name for e in container.entrypoints} == {"mosaic.analytics.events",
                                                              "mosaic.analytics.deals"}
