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


def _counted(name: str):
    def compare(self: Instant, other: object) -> bool:
        Instant.compared += 1
        return getattr(float, name)(self, other)
    return compare


class Instant(float):
    """A clock reading that counts the comparisons made with it (either way round: a float
    subclass's reflected comparison runs first)."""

    compared = 0
    __lt__, __le__, __gt__, __ge__ = (_counted(name) for name in ("__lt__", "__le__", "__gt__", "__ge__"))

    def __sub__(self, other: float) -> Instant:
        return Instant(float(self) - other)

    def __add__(self, other: float) -> Instant:
        return Instant(float(self) + other)


def test_measuring_the_rate_costs_the_same_per_request_at_any_rate():
    """The limiter keeps the last second's send times to measure the rate a 429 cuts. At
    thousands of requests a second (a plan's listings on a fast platform) each request must
    not re-scan them all: it cost 40 us a request, a tenth of a listing's client CPU."""
    now = [Instant(100.0)]
    limiter = AdaptiveRateLimiter(clock=lambda: now[0], sleep=lambda s: None)
    for _ in range(5000):  # 5,000 requests a second
        limiter.acquire()
        now[0] = now[0] + 0.0002
    Instant.compared = 0
    for _ in range(1000):
        limiter.acquire()
        now[0] = now[0] + 0.0002
    assert Instant.compared <= 5 * 1000, Instant.compared  # not ~5,000 per request
