"""Rate limits shared through the real Redis (127.0.0.1:6379): two limiters (two gateway
replicas) spend one budget; a Redis outage lets requests through instead of failing them."""
from __future__ import annotations

import socket
import uuid

import pytest

from mosaic.config import Settings
from mosaic_gateway.ratelimit import RateLimiter, RedisRateLimiter, make_limiter

REDIS = "redis://127.0.0.1:6379/0"


def _require_redis() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        pytest.fail("Redis is not reachable on 127.0.0.1:6379; this test needs the real server "
                    "(.ci/run starts it when it is installed)", pytrace=False)


@pytest.fixture
def prefix():
    """A key prefix of this test's own, removed afterwards."""
    _require_redis()
    name = f"mosaic-test-{uuid.uuid4().hex}"
    yield name
    RedisRateLimiter(REDIS, prefix=name).reset()


def test_two_replicas_share_one_budget(prefix):
    first, second = RedisRateLimiter(REDIS, prefix=prefix), RedisRateLimiter(REDIS, prefix=prefix)
    answers = [(first if i % 2 else second).hit("tenant:t1", 4)[0] for i in range(6)]
    assert answers == [True, True, True, True, False, False]
    allowed, retry_after = first.hit("tenant:t1", 4)
    assert not allowed and 0 < retry_after <= 60
    assert second.hit("tenant:t2", 4) == (True, 0.0)  # another key has its own budget


def test_in_process_limiters_do_not_share():
    first, second = RateLimiter(), RateLimiter()
    assert [first.hit("t", 2)[0] for _ in range(3)] == [True, True, False]
    assert second.hit("t", 2)[0]  # the per-process limiter N replicas would multiply


def test_reset_gives_a_key_its_budget_back(prefix):
    limiter = RedisRateLimiter(REDIS, prefix=prefix)
    assert [limiter.hit("k", 1)[0] for _ in range(2)] == [True, False]
    limiter.reset("k")
    assert limiter.hit("k", 1)[0]


def test_zero_is_unlimited(prefix):
    limiter = RedisRateLimiter(REDIS, prefix=prefix)
    assert all(limiter.hit("k", 0) == (True, 0.0) for _ in range(50))


def test_redis_down_lets_requests_through_and_warns(caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", prefix="unused")
    assert [limiter.hit("k", 1)[0] for _ in range(3)] == [True, True, True]
    assert [r.levelname for r in caplog.records if "Redis unreachable" in r.getMessage()] == ["WARNING"]


def test_the_setting_chooses_the_limiter():
    assert isinstance(make_limiter(Settings(redis_url=REDIS)), RedisRateLimiter)
    assert isinstance(make_limiter(Settings()), RateLimiter)
