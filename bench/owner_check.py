"""Create of a contact over RPC naming another user of the tenant as its owner (checked by the
service against its read model of users, ``tenant_users``) against the same create owned by the
caller (no look-up), measured alternately on the same stack.

Every record write checks its ``owner_id`` in the write's transaction (``mosaic.users``); an owner
that is the caller, or that does not change, costs nothing, any other one a primary-key look-up.
This measures that look-up on the create path: the contacts service's ``create_record`` through
the gateway's RPC client (``mosaic.rpc.RpcPool``), 1 caller, the same contact body (5 custom
fields), owner a user synced as the gateway does (``sync_users``) vs none given; ``--rounds``
alternations of ``--calls`` each side, each side first in every other round, so drift on a shared
machine falls on both.
Ratio: checked owner / caller's own mean latency. Target <= 1.05.
"""
from __future__ import annotations

import time
import uuid

from bench import fields
from bench.report import Check, Measure, Report, latency_summary, ratio
from bench.stack import Stacks

NAME = "owner_check"


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
    owner = f"bench-owner-{run_id}"
    samples: dict[str, list[float]] = {"checked": [], "caller": []}
    n = 0

    def creates(side: str, count: int, keep: bool) -> None:
        nonlocal n
        for _ in range(count):
            n += 1
            body = {"last_name": f"Owner-{run_id}-{n}", "email": f"w{run_id}-{n}@bench.test", **fields.custom_values(n)}
            if side == "checked":
                body["owner_id"] = owner
            t0 = time.monotonic()
            pool.call("contacts", "create_record", ctx, "contact", body)
            if keep:
                samples[side].append(time.monotonic() - t0)

    try:
        pool.call("contacts", "sync_users", RequestContext(tenant_id=client.tenant_id, roles=("system",)),
                  [{"id": owner, "active": True}])
        creates("checked", 50, keep=False)  # warm both paths: caches, connections, the plan of each statement
        creates("caller", 50, keep=False)
        for r in range(args.rounds):  # each side first in every other round
            for side in (("caller", "checked") if r % 2 == 0 else ("checked", "caller")):
                creates(side, args.calls, keep=True)
    finally:
        pool.close()
    checked = latency_summary(samples["checked"])
    caller = latency_summary(samples["caller"])
    value = ratio(checked["mean_ms"], caller["mean_ms"])
    return Report(
        name=NAME,
        figure=Measure("RPC create_record (contact, 5 custom fields) owned by another user, mean latency, 1 caller",
                       checked["mean_ms"], "ms"),
        baseline=Measure("the same create owned by the caller (no owner look-up), measured alternately",
                         caller["mean_ms"], "ms"),
        ratio=value,
        ratio_meaning="checked owner / caller's own, mean latency",
        checks=[Check("checked / caller mean latency", value, "<=", 1.05)],
        params={"calls": args.calls, "rounds": args.rounds},
        details={"checked": checked, "caller": caller},
    )
