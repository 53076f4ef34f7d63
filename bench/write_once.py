"""Create of a contact over RPC with its request id recorded (mosaic.request_log) against the same
create without one, measured alternately on the same stack.

Every write the gateway sends carries a request id, so the service inserts a ``request_log`` row
before the write and stores the result on it after, in the write's transaction. This measures what
that costs on the create path: the contacts service's ``create_record`` called through the
gateway's RPC client (``mosaic.rpc.RpcPool``), 1 caller, the same contact body (a fresh email each
time, 5 custom fields), with a fresh request id per call vs none; ``--rounds`` alternations of
``--calls`` each side so drift on a shared machine falls on both.
Ratio: with / without mean latency. Target <= 1.1.
"""
from __future__ import annotations

import time
import uuid

from bench import fields
from bench.report import Check, Measure, Report, latency_summary, ratio
from bench.stack import Stacks

NAME = "write_once"


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--calls", type=int, default=200, help="creates per side per round (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the two sides (default 4)")


def run(args, stacks: Stacks) -> Report:
    """Measure both sides alternately and compare."""
    from mosaic.context import RequestContext
    from mosaic.rpc import RpcPool

    stack = stacks.get("distributed")
    client = stack.tenant()
    fields.define(client)
    ctx = RequestContext(tenant_id=client.tenant_id, user_id="bench", roles=("admin",), modules=("contacts",))
    pool = RpcPool(stack.amqp_uri, size=1, timeout=30)
    run_id = uuid.uuid4().hex[:6]
    samples: dict[str, list[float]] = {"with": [], "without": []}
    n = 0

    def creates(side: str, count: int, keep: bool) -> None:
        nonlocal n
        for _ in range(count):
            n += 1
            body = {"last_name": f"Once-{run_id}-{n}", "email": f"o{run_id}-{n}@bench.test", **fields.custom_values(n)}
            call_ctx = ctx.with_request(f"bench:{run_id}:{n}") if side == "with" else ctx
            t0 = time.monotonic()
            pool.call("contacts", "create_record", call_ctx, "contact", body)
            if keep:
                samples[side].append(time.monotonic() - t0)

    try:
        creates("with", 50, keep=False)  # warm both paths: caches, connections, the plan of each statement
        creates("without", 50, keep=False)
        for _ in range(args.rounds):
            creates("without", args.calls, keep=True)
            creates("with", args.calls, keep=True)
    finally:
        pool.close()
    with_ = latency_summary(samples["with"])
    without = latency_summary(samples["without"])
    value = ratio(with_["mean_ms"], without["mean_ms"])
    return Report(
        name=NAME,
        figure=Measure("RPC create_record (contact, 5 custom fields) with a request id, mean latency, 1 caller",
                       with_["mean_ms"], "ms"),
        baseline=Measure("the same create without a request id, measured alternately", without["mean_ms"], "ms"),
        ratio=value,
        ratio_meaning="with / without request-id record, mean latency",
        checks=[Check("with / without mean latency", value, "<=", 1.1)],
        params={"calls": args.calls, "rounds": args.rounds},
        details={"with": with_, "without": without},
    )
