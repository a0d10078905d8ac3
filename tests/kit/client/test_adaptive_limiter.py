"""The default client-side limiter: unlimited until the platform throttles, then just under
the limit it learned (multiplicative decrease on a 429, additive increase on success), with
every caller held until a 429's Retry-After has passed."""

from __future__ import annotations

import pytest
from platforge.provider._kit.client import AdaptiveRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def sending(limiter: AdaptiveRateLimiter, clock: Clock, n: int) -> float:
    """Send n requests back to back, each taking 10 ms; return the elapsed time."""
    start = clock.now
    for _ in range(n):
        limiter.acquire()
        clock.now += 0.01
    return clock.now - start


def test_it_starts_unlimited_and_never_waits_until_throttled():
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock, sleep=clock.sleep)
    sending(limiter, clock, 200)
    assert clock.slept == []


def test_a_429_cuts_the_rate_below_what_was_sent_and_holds_everyone_until_retry_after():
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock, sleep=clock.sleep)
    sending(limiter, clock, 150)  # ~100 requests in the last second
    limiter.throttled(retry_after=2.0)
    assert limiter.rate == pytest.approx(limiter.decrease * 100, rel=0.05) and limiter.rate < 100
    waited = limiter.acquire()
    assert waited == pytest.approx(2.0, abs=1e-6)  # the Retry-After, for this caller and the next
    elapsed = sending(limiter, clock, 140)
    assert 140 / elapsed <= limiter.rate * 1.05  # now paced


def test_successes_probe_upwards_and_a_configured_rate_is_a_ceiling():
    clock = Clock()
    learned = AdaptiveRateLimiter(clock=clock, sleep=clock.sleep)
    sending(learned, clock, 30)
    learned.throttled(None)
    low = learned.rate
    for _ in range(100):
        learned.succeeded()
    assert learned.rate > low
    capped = AdaptiveRateLimiter(5.0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        capped.succeeded()
    assert capped.rate == 5.0
    capped.throttled(None)
    assert capped.rate < 5.0 and capped.rate >= capped.floor


def test_the_rate_never_drops_below_the_floor():
    clock = Clock()
    limiter = AdaptiveRateLimiter(clock=clock, sleep=clock.sleep, floor=0.5)
    for _ in range(50):
        limiter.throttled(None)
    assert limiter.rate == 0.5
