import threading

import pytest

from mosaic_gateway.ratelimit import RateLimiter


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def limiter(clock):
    return RateLimiter(clock=clock)


def test_allows_the_limit_then_refuses_with_retry_after(limiter):
    assert all(limiter.hit("t", 60)[0] for _ in range(60))
    allowed, retry_after = limiter.hit("t", 60)
    assert not allowed
    assert retry_after == pytest.approx(1.0)  # 60/min refills one token a second


def test_tokens_come_back_with_time(limiter, clock):
    for _ in range(6):
        limiter.hit("t", 6)
    assert not limiter.hit("t", 6)[0]
    clock.now += 10.0  # 6/min: one token per 10 s
    assert limiter.hit("t", 6) == (True, 0.0)
    assert not limiter.hit("t", 6)[0]


def test_refill_never_exceeds_the_limit(limiter, clock):
    clock.now += 3600
    assert sum(limiter.hit("t", 5)[0] for _ in range(10)) == 5


def test_zero_is_unlimited(limiter):
    assert all(limiter.hit("t", 0) == (True, 0.0) for _ in range(1000))


def test_keys_are_independent(limiter):
    for _ in range(3):
        limiter.hit("a", 3)
    assert not limiter.hit("a", 3)[0]
    assert limiter.hit("b", 3)[0]


def test_reset_forgets_a_key(limiter):
    for _ in range(2):
        limiter.hit("a", 2)
    limiter.reset("a")
    assert limiter.hit("a", 2)[0]


def test_concurrent_hits_never_exceed_the_limit(limiter):
    results = []

    def worker():
        results.extend(limiter.hit("t", 100)[0] for _ in range(50))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 100  # the fake clock stands still: exactly the bucket's capacity
