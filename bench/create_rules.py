"""Gateway create of a contact in a tenant with 20 active automation rules and a process on
contact, against the same create in a tenant with none, on the same stack in the same run.

The rules all trigger on create and have conditions over the record and its custom fields:
5 match and set a field (applied inside the write), 5 match and queue a notification (a job row
in the same transaction, run later by the service's timer), 10 do not match. The process owns
``lifecycle_stage`` (initial stage, history row, stage timer scheduled). The two tenants are
measured alternately, twice each, so drift of the shared machine hits both sides.
Ratio: with-rules mean latency / plain mean latency. Target <= 1.3.
"""
from __future__ import annotations

import json
import uuid

from bench import fields, loadgen
from bench.report import Check, Measure, Report, ratio
from bench.stack import Stacks

NAME = "create_rules"
STAGES = ("subscriber", "lead", "prospect", "customer", "loyal", "churned")


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight (default 1)")
    parser.add_argument("--duration", type=float, default=6.0, help="measured seconds per round and side (default 6)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per side (default 2)")


def rules() -> list[dict]:
    """The 20 rules of the loaded tenant."""
    out = []
    for n in range(5):  # match: set a field in the same write
        out.append({"name": f"bench_set_{n}", "object": "contact", "trigger": {"type": "created"},
                    "condition": 'score >= 0 and tier in ("bronze", "silver", "gold", "platinum")',
                    "actions": [{"type": "set_field", "field": "source", "value": "web"}]})
    for n in range(5):  # match: queue a notification (a job, run after commit)
        out.append({"name": f"bench_notify_{n}", "object": "contact", "trigger": {"type": "created"},
                    "condition": "email is not null",
                    "actions": [{"type": "notify", "to": "owner", "message": "New contact {{last_name}}"}]})
    for n in range(10):  # evaluated, do not match
        out.append({"name": f"bench_miss_{n}", "object": "contact", "trigger": {"type": "created"},
                    "condition": f'budget > {10_000_000 + n} and vip = true',
                    "actions": [{"type": "set_field", "field": "title", "value": "VIP"}]})
    return out


def process() -> dict:
    """A lifecycle process on contact with a stage timer on the initial stage."""
    return {"name": "bench_lifecycle", "object": "contact", "field": "lifecycle_stage", "initial": "subscriber",
            "stages": [{"name": s, **({"timers": [{"name": "nudge", "after": {"days": 30},
                                                   "actions": [{"type": "transition", "to": "lead"}]}]}
                                      if s == "subscriber" else {})} for s in STAGES],
            "transitions": [{"name": f"to_{s}", "from": ["*"], "to": s} for s in STAGES]}


def configure(client) -> None:
    """Define the rules and the process through the metadata API."""
    for rule in rules():
        client.expect(client.http.put(client.url(f"metadata/rules/{rule['name']}"), json=rule, timeout=60), 201)
    definition = process()
    client.expect(client.http.put(client.url(f"metadata/processes/{definition['name']}"), json=definition,
                                  timeout=60), 201)


def measure(client, args, label: str) -> dict:
    run_id = uuid.uuid4().hex[:6]
    body = {"first_name": "Ada", "last_name": f"{label}-{run_id}-@N@", "email": f"{label}{run_id}-@N@@bench.test",
            **fields.custom_values(7)}
    return loadgen.run("http", "--url", client.url("contacts"), "--method", "POST", "--body", json.dumps(body),
                       "-H", f"Authorization: Bearer {client.token}", "--expect", "201",
                       "--concurrency", str(args.concurrency), "--duration", str(args.duration))


def run(args, stacks: Stacks) -> Report:
    """Create contacts in both tenants alternately and compare mean latencies."""
    stack = stacks.get("distributed")
    plain, loaded = stack.tenant(), stack.tenant()
    for client in (plain, loaded):
        fields.define(client)
    configure(loaded)
    for client, label in ((plain, "warm"), (loaded, "warm")):
        measure(client, args, label)
    runs: dict[str, list[dict]] = {"plain": [], "rules": []}
    for _ in range(args.rounds):
        runs["plain"].append(measure(plain, args, "plain"))
        runs["rules"].append(measure(loaded, args, "rules"))

    def mean(side: str) -> float:
        total = sum(r["latency"]["mean_ms"] * r["requests"] for r in runs[side])
        return total / max(1, sum(r["requests"] for r in runs[side]))

    plain_ms, rules_ms = mean("plain"), mean("rules")
    value = ratio(rules_ms, plain_ms)
    return Report(
        name=NAME,
        figure=Measure(f"POST /contacts with 20 rules + a process, mean latency at {args.concurrency} client(s)",
                       rules_ms, "ms"),
        baseline=Measure("the same create in a tenant without rules or processes", plain_ms, "ms"),
        ratio=value,
        ratio_meaning="with-rules latency / plain latency (overhead factor)",
        checks=[Check("with rules / plain latency", value, "<=", 1.3)],
        params={"concurrency": args.concurrency, "duration_s": args.duration, "rounds": args.rounds},
        details={"plain": runs["plain"], "rules": runs["rules"]},
    )
