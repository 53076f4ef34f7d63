"""Idle resident memory (VmRSS) of each process: gateway, contacts service and relay of the
distributed stack, and the single process of the embedded mode, after start-up and a few requests.

Baseline: the bare nameko ping service (nameko + eventlet + kombu and nothing of ours), measured in
the same run. Target: <= 150 MB per process.
"""
from __future__ import annotations

import time

from bench.report import Check, Measure, Report, ratio
from bench.stack import Stack, Stacks, rss_mb, start_baseline

NAME = "idle_rss"
TARGET_MB = 150.0


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--requests", type=int, default=20, help="requests made before reading RSS (default 20)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds idle before reading RSS (default 2)")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded process")


def exercise(stack: Stack, requests: int) -> None:
    """A few real requests, so every process has loaded what it serves (imports, caches, pools)."""
    client = stack.tenant()
    client.expect(client.post("metadata/objects/contact/fields", {"name": "tier", "type": "text"}), 201)
    for i in range(max(1, requests // 4)):
        made = client.expect(client.post("contacts", {"last_name": f"Rss{i}", "email": f"rss{i}@bench.test",
                                                      "tier": "gold"}), 201)
        client.expect(client.get(f"contacts/{made['id']}"), 200)
        client.expect(client.get("contacts", params={"filter": 'tier = "gold"'}), 200)
        client.expect(client.get(f"contacts/{made['id']}/history"), 200)


def run(args, stacks: Stacks) -> Report:
    """Start, exercise, idle, then read /proc/<pid>/status of every process."""
    distributed = stacks.get("distributed")
    exercise(distributed, args.requests)
    ping_pid = start_baseline(distributed, "ping")
    time.sleep(args.settle)
    measured = {f"distributed {name}": rss_mb(pid) for name, pid in distributed.pids().items()
                if name in ("gateway", "contacts", "relay-contacts")}
    baseline = rss_mb(ping_pid)
    if not args.no_embedded:
        embedded = stacks.get("embedded")
        exercise(embedded, args.requests)
        time.sleep(args.settle)
        measured["embedded (all in one)"] = rss_mb(embedded.pids()["embedded"])
        stacks.stop("embedded")  # the other benchmarks use the distributed stack only
    largest_name, largest = max(measured.items(), key=lambda kv: kv[1])
    return Report(
        name=NAME,
        figure=Measure(f"largest idle VmRSS ({largest_name})", largest, "MiB"),
        baseline=Measure("bare nameko ping service VmRSS", baseline, "MiB"),
        ratio=ratio(largest, baseline),
        ratio_meaning="largest process RSS / bare nameko service RSS",
        checks=[Check(f"{name} VmRSS MiB", value, "<=", TARGET_MB) for name, value in measured.items()],
        params={"requests": args.requests, "settle_s": args.settle},
        details={"rss_mib": measured, "baseline_ping_mib": baseline},
    )
