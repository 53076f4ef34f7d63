"""Writes take effect once, whatever fails (issue 7 §2), on the real distributed stack.

Twelve clients create contacts concurrently through the gateway, each write with its own
``Idempotency-Key``, retrying a 503 with the same key. Meanwhile the contacts service is
(a) killed with ``kill -9`` and started again, or (b) stopped for longer than the RPC timeout and
started again. Before the fix, (a) left orphan duplicates or false 409s (nameko acks a request
after its reply, so a committed create was redelivered and ran again) and (b) stored every write in
flight twice (the queued request ran when the service came back, and the client's retry ran too).

Each test counts and asserts: every acknowledged write exists exactly once with exactly one
``contact.created`` event, nothing of the run exists twice, callers got 201 or 503 (never a 500,
never a 409, never silence past the RPC timeout and generous slack), and every process recovered
by itself.
"""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.fault.conftest import (RPC_TIMEOUT, Tally, assert_each_write_once, assert_recovered, new_tenant,
                                  writer)

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.timeout(400)]

WRITERS = 12
WRITES = 8
#: the writers give up on a write after this long (the outage is far shorter)
WRITE_DEADLINE = 180
#: seconds between two writes of one writer: a writer's run lasts several seconds, so the fault
#: starts while every writer has writes left, however fast the stack answers
PAUSE = 0.5


def run_writers(api, run: str, tally: Tally) -> list[threading.Thread]:
    deadline = time.monotonic() + WRITE_DEADLINE
    threads = [threading.Thread(target=writer, args=(api, run, n, WRITES, tally, deadline, PAUSE)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    return threads


def wait_for_acks(tally: Tally, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while tally.acks() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tally.acks() >= count, f"only {tally.acks()} writes acknowledged before the fault: {tally}"


def finish(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(timeout=WRITE_DEADLINE + 60)
    assert not any(t.is_alive() for t in threads), "a writer never finished"


def check(stack, api, run: str, tally: Tally) -> None:
    print(f"\n{run}: answers {tally.answers}, {tally.acks()} acknowledged, {tally.replays} replays")
    assert not tally.unexpected, "\n".join(tally.unexpected[:20])
    assert set(tally.answers) <= {201, 503}
    assert tally.acks() == WRITERS * WRITES  # every write was acknowledged in the end
    assert_each_write_once(stack, run, tally)
    assert_recovered(stack, api, run)


def test_kill_9_of_the_service_under_concurrent_writes(fault_stack):
    api = new_tenant(fault_stack)
    run = "kill-" + uuid.uuid4().hex[:8]
    tally = Tally()
    threads = run_writers(api, run, tally)
    wait_for_acks(tally, WRITERS)  # the writers are in full swing: some creates are in flight
    fault_stack.kill_contacts()
    done_at_kill = tally.acks()
    time.sleep(1.0)
    # Restarted at once, it gets the requests it had not acked back (those not expired yet): the
    # ones it had committed are answered from the request log, not run again. Requests that
    # outwait the restart get a 503 and are retried with their keys.
    fault_stack.start_contacts()
    finish(threads)
    assert done_at_kill < WRITERS * WRITES, "the writers had finished before the kill"
    check(fault_stack, api, run, tally)


def test_service_down_longer_than_the_rpc_timeout(fault_stack):
    api = new_tenant(fault_stack)
    run = "down-" + uuid.uuid4().hex[:8]
    tally = Tally()
    threads = run_writers(api, run, tally)
    wait_for_acks(tally, WRITERS)
    fault_stack.stop_contacts()
    done_at_stop = tally.acks()
    time.sleep(RPC_TIMEOUT * 2.5)  # requests queue up meanwhile, and outwait their callers
    fault_stack.start_contacts()
    finish(threads)
    assert done_at_stop < WRITERS * (WRITES - 1), "the writers were nearly done before the outage"
    assert tally.answers.get(503, 0) >= WRITERS, "the outage went unnoticed by some writer"
    check(fault_stack, api, run, tally)
