"""Gateway create of a contact with 5 custom fields, against an RPC ping plus a single-row
SQLAlchemy insert, both measured in the same run at the same concurrency.

The gateway request adds to that floor: HTTP and token checks, validation against the tenant's
metadata, duplicate detection, the audit row and the outbox event, in one transaction.
Ratio: inverse latency ratio, (ping mean + insert mean) / gateway mean; at concurrency 1 this is
also the ratio of throughputs. Target >= 0.5. Also the CPU milliseconds each process (gateway,
contacts service, relay) spends per create, from /proc: targets service <= 5 ms, gateway <= 2 ms.
"""
from __future__ import annotations

import json
import time
import uuid

from sqlalchemy import JSON, Integer, MetaData, String, create_engine
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bench import fields, loadgen
from bench.get_contact import rpc_ping
from bench.report import Check, Measure, Report, latency_summary, ratio
from bench.stack import Stacks, cpu_per_request, start_baseline, start_thin_gateway

NAME = "create_contact"


class _Base(DeclarativeBase):
    metadata = MetaData(schema="bench")


class PlainContact(_Base):
    """The baseline's table: a contact's usual columns and its custom fields as JSONB, nothing else."""

    __tablename__ = "plain_contacts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), nullable=False)
    first_name: Mapped[str | None] = mapped_column(String(128))
    last_name: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(320))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    custom: Mapped[dict] = mapped_column(JSON().with_variant(JSONB(), "postgresql"), nullable=False)


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight (default 1)")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per side (default 8)")
    parser.add_argument("--inserts", type=int, default=500, help="baseline single-row inserts (default 500)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="HTTP load generator: wrk if installed (auto), or Python green threads")


def _engine(database_url: str):
    """A plain SQLAlchemy engine on the run's database, with the baseline's table created."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS bench")
    _Base.metadata.create_all(engine)
    return engine


def create_plain_table(database_url: str) -> None:
    """Create the baseline's table (``bench.plain_contacts``) if it is not there."""
    _engine(database_url).dispose()


def insert_latencies(database_url: str, count: int) -> list[float]:
    """``count`` single-row ORM inserts, each in its own session and transaction; their latencies."""
    engine = _engine(database_url)
    latencies = []
    try:
        for n in range(count):
            t0 = time.monotonic()
            with Session(engine) as session:
                session.add(PlainContact(id=str(uuid.uuid4()), tenant_id="bench", first_name="Ada",
                                         last_name=f"Insert{n}", email=f"insert{n}@bench.test",
                                         custom=fields.custom_values(n)))
                session.commit()
            latencies.append(time.monotonic() - t0)
    finally:
        engine.dispose()
    return latencies


def http_post(url: str, token: str, body: dict, args):
    """``(warm_up, measure)``: callables that POST ``body`` (``@N@`` numbered per request) to
    ``url`` at ``args.concurrency``, for 1 s and for ``args.duration`` s, with wrk; or, with the
    Python generator (which drops its own 1 s warm-up inside the measured run), nothing and the
    run. Every answer must be 201."""
    text, auth = json.dumps(body), {"Authorization": f"Bearer {token}"}
    if args.client == "wrk" or (args.client == "auto" and loadgen.wrk_available()):
        def send(seconds: float, tag: str) -> dict:
            result = loadgen.wrk_send("POST", url, auth, text, args.concurrency, seconds, tag=tag)
            if result["errors"]:
                raise RuntimeError(f"{result['errors']} of the creates were not answered 201")
            return result

        return (lambda: send(1, "w")), (lambda: send(args.duration, "m"))
    return (lambda: None), (lambda: loadgen.run(
        "http", "--url", url, "--method", "POST", "--body", text, "-H", f"Authorization: Bearer {token}",
        "--expect", "201", "--concurrency", str(args.concurrency), "--duration", str(args.duration)))


def run(args, stacks: Stacks) -> Report:
    """Measure the gateway create, the ping and the insert, and compare."""
    stack = stacks.get("distributed")
    client = stack.tenant()
    fields.define(client)
    run_id = uuid.uuid4().hex[:6]
    body = {"first_name": "Ada", "last_name": f"Create-{run_id}-@N@", "email": f"c{run_id}-@N@@bench.test",
            **fields.custom_values(7)}
    pids = {k: v for k, v in stack.pids().items() if k in ("gateway", "contacts", "relay-contacts", "hub")}
    # CPU per create of each process says where the cost goes. With wrk the warm-up runs before the
    # CPU is read; the Python generator's warm-up is inside the measured run (an upper bound).
    warm_up, measure = http_post(client.url("contacts"), client.token, body, args)
    warm_up()
    gateway, cpu = cpu_per_request(pids, measure, lambda r: r["requests"])
    start_baseline(stack, "ping")
    ping = rpc_ping(stack.amqp_uri, args.concurrency, args.duration)
    insert = latency_summary(insert_latencies(stack.database_url, args.inserts))
    floor_ms = ping["latency"]["mean_ms"] + insert["mean_ms"]
    value = ratio(floor_ms, gateway["latency"]["mean_ms"])
    # The ceiling: the thinnest gateway (bench.thin_gateway: HTTP, Flask, one RPC to a service that
    # makes the baseline's insert) measured the same way. No product can score above it.
    thin_url, thin_pid = start_thin_gateway(stack)
    thin_warm_up, thin_measure = http_post(f"{thin_url}/insert", "", body, args)
    thin_warm_up()
    insert_pid = stack.procs.procs["baseline-insert"].pid
    thin, thin_cpu = cpu_per_request({"thin gateway": thin_pid, "insert service": insert_pid}, thin_measure,
                                     lambda r: r["requests"])
    ceiling = ratio(floor_ms, thin["latency"]["mean_ms"])
    return Report(
        name=NAME,
        figure=Measure(f"gateway POST /contacts (5 custom fields) mean latency at {args.concurrency} client(s)"
                       f" ({gateway['client']})",
                       gateway["latency"]["mean_ms"], "ms"),
        baseline=Measure("RPC ping mean + single-row SQLAlchemy insert mean", floor_ms, "ms"),
        ratio=value,
        ratio_meaning="(ping + insert) latency / gateway latency, i.e. inverse latency ratio",
        checks=[Check("(ping + insert) / gateway latency", value, ">=", 0.5),
                Check("contacts service CPU ms per create", cpu.get("contacts", float("nan")), "<=", 5.0),
                Check("gateway CPU ms per create", cpu.get("gateway", float("nan")), "<=", 2.0)],
        params={"concurrency": args.concurrency, "duration_s": args.duration, "inserts": args.inserts,
                "client": gateway["client"]},
        details={"gateway": gateway, "ping": ping, "insert": insert, "cpu_ms_per_request": cpu,
                 "gateway_throughput_rps": gateway["throughput_rps"], "thin_gateway": thin,
                 "thin_cpu_ms_per_request": thin_cpu, "ceiling": ceiling},
        notes=[(f"ceiling: the thinnest gateway (HTTP + Flask + one RPC to a service making the insert) "
                f"{thin['latency']['mean_ms']:.3g} ms mean, ratio {ceiling:.3g}; the product's create takes "
                f"{ratio(gateway['latency']['mean_ms'], thin['latency']['mean_ms']):.3g} x that"),
               "CPU ms per create: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
               + "; thin: " + ", ".join(f"{k} {v:.2f}" for k, v in thin_cpu.items())],
    )
