"""Green database access: 20 concurrent RPCs that each hold PostgreSQL for 0.2 s (``pg_sleep``)
through the platform's engine (``mosaic.db.provider.Database``), wall time against the serial sum.

Green (psycogreen) means the calls overlap: about 0.2 s in all. Blocking means each call stalls the
whole service process: about 20 x 0.2 = 4 s. The same service started with psycogreen disabled is
measured in the same run as the blocking baseline.
"""
from __future__ import annotations

import time

import eventlet

from bench.report import Check, Measure, Report, ratio
from bench.stack import Stacks, start_baseline

NAME = "green_db"


def add_arguments(parser) -> None:
    """Size flags."""
    parser.add_argument("--calls", type=int, default=20, help="concurrent RPCs (default 20, at most 32)")
    parser.add_argument("--sleep", type=float, default=0.2, help="pg_sleep seconds per call (default 0.2)")


def fire(amqp_uri: str, calls: int, sleep: float) -> tuple[float, set]:
    """``calls`` concurrent ``bench_sleeper.sleep`` RPCs; (wall seconds, distinct backend pids)."""
    from mosaic.rpc import RpcPool

    pool = RpcPool(amqp_uri, size=calls, timeout=60)
    try:
        # Open every proxy first, so the timing holds the database work and not connection set-up.
        list(eventlet.GreenPool(calls).imap(lambda _: pool.call("bench_sleeper", "sleep", None, 0), range(calls)))
        start = time.monotonic()
        pids = list(eventlet.GreenPool(calls).imap(lambda _: pool.call("bench_sleeper", "sleep", None, sleep),
                                                   range(calls)))
        return time.monotonic() - start, set(pids)
    finally:
        pool.close()


def run(args, stacks: Stacks) -> Report:
    """Green service, then the blocking one, on the same broker and database."""
    calls = max(1, min(args.calls, 32))
    stack = stacks.get("distributed")
    serial = calls * args.sleep
    start_baseline(stack, "sleeper", name="sleeper-green")
    green_wall, green_pids = fire(stack.amqp_uri, calls, args.sleep)
    stack.procs.stop("sleeper-green")
    start_baseline(stack, "sleeper", name="sleeper-blocking", extra_env={"BENCH_NO_PSYCOGREEN": "1"})
    blocking_wall, blocking_pids = fire(stack.amqp_uri, calls, args.sleep)
    stack.procs.stop("sleeper-blocking")
    overlap = ratio(serial, green_wall)
    return Report(
        name=NAME,
        figure=Measure(f"wall time of {calls} concurrent {args.sleep}s DB RPCs (psycogreen)", green_wall, "s"),
        baseline=Measure(f"same, psycopg2 blocking: no wait callback (serial sum {serial:.1f}s)", blocking_wall, "s"),
        ratio=ratio(blocking_wall, green_wall),
        ratio_meaning="blocking wall time / green wall time",
        checks=[Check("green wall time / one call's sleep", ratio(green_wall, args.sleep), "<=", 2.0)],
        params={"calls": calls, "sleep_s": args.sleep},
        details={"serial_sum_s": serial, "green_wall_s": green_wall, "blocking_wall_s": blocking_wall,
                 "green_connections": len(green_pids), "blocking_connections": len(blocking_pids),
                 "serial_over_green": overlap, "serial_over_blocking": ratio(serial, blocking_wall)},
    )
