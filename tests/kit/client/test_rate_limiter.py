"""The client-side token bucket, on a fake clock."""

from __future__ import annotations

import threading

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from platforge.provider._kit.client import RateLimiter, Transport

from .fakes import FakeTime


def test_burst_then_one_token_per_interval(fake_time: FakeTime):
    limiter = RateLimiter(rate=2.0, burst=3, clock=fake_time.clock, sleep=fake_time.sleep)
    waits = [limiter.acquire() for _ in range(6)]
    # Three from the burst, then every 0.5 s (each sleep moves the fake clock).
    assert waits == [0.0, 0.0, 0.0, 0.5, 0.5, 0.5]
    assert fake_time.sleeps == [0.5, 0.5, 0.5]


def test_tokens_refill_with_time_up_to_the_burst(fake_time: FakeTime):
    limiter = RateLimiter(rate=1.0, burst=2, clock=fake_time.clock, sleep=fake_time.sleep)
    assert limiter.acquire() == 0.0 and limiter.acquire() == 0.0
    fake_time.now += 100  # a long pause refills only up to the burst
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 1.0]


def test_default_burst_is_one_second_of_requests(fake_time: FakeTime):
    limiter = RateLimiter(rate=5.0, clock=fake_time.clock, sleep=fake_time.sleep)
    assert limiter.burst == 5.0
    assert RateLimiter(rate=0.5, clock=fake_time.clock).burst == 1.0


def test_concurrent_callers_queue_fairly_without_lost_tokens(fake_time: FakeTime):
    """With a frozen clock, 50 threads reserving at once must get 50 distinct slots."""
    limiter = RateLimiter(rate=10.0, burst=5, clock=fake_time.clock, sleep=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def worker() -> None:
        start.wait()
        wait = limiter.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([0.0] * 5 + [i / 10 for i in range(1, 46)])


def test_invalid_settings():
    with pytest.raises(ValueError):
        RateLimiter(rate=0)
    with pytest.raises(ValueError):
        RateLimiter(rate=1, burst=0.5)


def test_every_attempt_of_a_transport_takes_a_token(fake_time: FakeTime):
    limiter = RateLimiter(rate=4.0, burst=1, clock=fake_time.clock, sleep=fake_time.sleep)
    answers = iter([503, 200, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), json={}, headers={"retry-after": "0"})

    t = Transport("http://p.test", http_transport=httpx.MockTransport(handler), rate_limiter=limiter,
                  sleep=fake_time.sleep)
    t.request("GET", "/a")  # 503 then 200: two tokens
    t.request("GET", "/b")
    assert fake_time.sleeps == [0.0, 0.25, 0.25]  # retry-after 0, then the limiter spacing
    assert t.stats.rate_limit_wait_seconds == pytest.approx(0.5)


@settings(deadline=None, max_examples=200)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.integers(min_value=1, max_value=10),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=60),
)
def test_no_window_ever_exceeds_burst_plus_rate(rate, burst, gaps):
    """Whatever the arrival pattern, any window [a, b] of send times holds at most
    burst + rate * (b - a) requests."""
    clock = FakeTime(0.0)
    limiter = RateLimiter(rate=rate, burst=burst, clock=clock.clock, sleep=clock.sleep)
    sent = []
    for gap in gaps:
        clock.now += gap
        limiter.acquire()
        sent.append(clock.now)
    for i in range(len(sent)):
        for j in range(i, len(sent)):
            assert j - i + 1 <= burst + rate * (sent[j] - sent[i]) + 1e-6
