"""The hub queueing webhook deliveries for consumed events on PostgreSQL, against the same rows
written with plain SQL.

The figure: what the hub's consumer does per event (``mosaic_hub.webhooks``): ``apply_once`` as
``hub.webhooks`` with ``mosaic.webhooks.delivery.enqueue_subscribed``, i.e. one transaction that
records the event as processed, reads the tenant's active subscriptions (``--subs`` of them,
``--matching`` wanting ``contact.created``), matches them and inserts one delivery per match.
The baseline, in the same run and database: one transaction per event inserting the same
processed-event row and the same delivery rows with plain SQLAlchemy Core, no subscription read,
no matching. ``--events`` per side per round, ``--rounds`` alternations; each side's best round.
Ratio: hub events/s / plain-SQL events/s. Target >= 0.5.
"""
from __future__ import annotations

import time
import uuid

from sqlalchemy import insert, text

from bench.report import Check, Measure, Report, ratio
from bench.stack import drop_database, fresh_database

NAME = "hub_webhooks"
DATABASE = "mosaic_bench_hub_webhooks"


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--events", type=int, default=1000, help="events per side per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides (default 3)")
    parser.add_argument("--subs", type=int, default=20, help="active subscriptions of the tenant (default 20)")
    parser.add_argument("--matching", type=int, default=2,
                        help="how many of them want contact.created (default 2)")


def run(args, stacks) -> Report:  # noqa: ARG001 - needs no running stack, only PostgreSQL
    """Measure both sides alternately and compare."""
    from mosaic.db import Base, make_engine, new_id, schema_for, tenant_session, utcnow
    from mosaic.events import make_envelope
    from mosaic.events.consumer import ProcessedEvent, apply_once
    from mosaic.webhooks import WEBHOOK_TABLES, WebhookDelivery, create_subscription, enqueue_subscribed
    from mosaic.webhooks.egress import EgressPolicy
    from mosaic.webhooks.sealing import SecretBox

    engine = make_engine(fresh_database(DATABASE), "hub", pool_size=2)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema_for("hub")}"'))
        Base.metadata.create_all(engine, tables=[*WEBHOOK_TABLES, ProcessedEvent.__table__])
        box, local = SecretBox("bench-" + "k" * 40), EgressPolicy.parse(["127.0.0.1/32"])
        sub_ids = []
        with tenant_session(engine, "bench") as session:
            for i in range(args.subs):
                wanted = ["contact.created"] if i < args.matching else [f"deal{i}.*", "ticket.closed"]
                row, _ = create_subscription(session, {"url": f"http://127.0.0.1:9/{i}", "events": wanted}, box=box,
                                             policy=local)
                if i < args.matching:
                    sub_ids.append(row.id)
            session.commit()

        def events(n: int) -> list[dict]:
            return [make_envelope("contact.created", "bench", "user:bench", "contact", f"r{i}",
                                  {"record": {"last_name": "Lovelace", "email": f"ada{i}@bench.test"}}, 1)
                    for i in range(n)]

        def hub_side(batch: list[dict]) -> float:
            t0 = time.perf_counter()
            for envelope in batch:
                apply_once(engine, "hub.webhooks", envelope, enqueue_subscribed)
            return time.perf_counter() - t0

        def plain_side(batch: list[dict]) -> float:
            t0 = time.perf_counter()
            for envelope in batch:
                now = utcnow()
                with engine.begin() as conn:
                    conn.execute(insert(ProcessedEvent.__table__).values(
                        consumer="plain", event_id=envelope["id"], tenant_id="bench", type=envelope["type"],
                        processed_at=now))
                    conn.execute(insert(WebhookDelivery.__table__), [
                        {"id": new_id(), "tenant_id": "bench", "subscription_id": sub_id,
                         "url": "http://127.0.0.1:9/x", "event_id": envelope["id"], "event_type": envelope["type"],
                         "payload": envelope, "status": "pending", "attempts": 0, "next_attempt_at": now,
                         "created_at": now} for sub_id in sub_ids])
            return time.perf_counter() - t0

        hub_side(events(100))  # warm both: connections, statement plans
        plain_side(events(100))
        best = {"hub": float("inf"), "plain": float("inf")}
        for _ in range(args.rounds):
            best["plain"] = min(best["plain"], plain_side(events(args.events)))
            best["hub"] = min(best["hub"], hub_side(events(args.events)))
    finally:
        engine.dispose()
        drop_database(DATABASE)
    hub_rate, plain_rate = args.events / best["hub"], args.events / best["plain"]
    value = ratio(hub_rate, plain_rate)
    return Report(
        name=NAME,
        figure=Measure(f"hub: events consumed -> deliveries queued ({args.matching} of {args.subs} subscriptions "
                       "match), apply_once + enqueue_subscribed, 1 consumer", hub_rate, "events/s"),
        baseline=Measure("the same processed-event and delivery rows inserted with plain SQL, one transaction "
                         "per event", plain_rate, "events/s"),
        ratio=value,
        ratio_meaning="hub events/s / plain-SQL events/s",
        checks=[Check("hub / plain SQL events per second", value, ">=", 0.5)],
        params={"events": args.events, "rounds": args.rounds, "subs": args.subs, "matching": args.matching,
                "run": uuid.uuid4().hex[:6]},
        details={"best_seconds": best},
    )
