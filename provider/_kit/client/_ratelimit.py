"""A client-side rate limit, shared by every request of one client.

Platforms throttle per account, not per connection, so a limit only helps if all threads of a
client draw from one bucket; it is applied to every request that goes on the wire (logins and
session replays included), since each one counts against the platform's quota.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """A thread-safe token bucket: `rate` requests per second on average, bursts of up to
    `burst`. Each caller reserves a token under the lock (the balance may go negative, which
    queues callers fairly) and sleeps outside it until its token is due."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 requests per second")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; return how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Block until a request may be sent; return the time waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def throttled(self, retry_after: float | None) -> bool:
        """The platform answered 429. Return whether this limiter holds every caller until
        `retry_after` (then the transport need not wait itself); a fixed limiter does not."""
        return False

    def succeeded(self) -> None:
        """A request went through."""

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, burst={self.burst})"


class AdaptiveRateLimiter(RateLimiter):
    """The limiter every client has by default: it learns the platform's limit instead of
    needing one configured, so that an apply spends its request budget on writes rather than
    on 429s that each cost a `Retry-After`.

    It starts unlimited (or at the configured `rate`, which is then also its ceiling). A 429
    cuts the rate multiplicatively, to `decrease` times what was actually being sent in the
    last second, and holds every caller until its `Retry-After` has passed; each success then
    raises the rate additively, by about `increase` requests per second per second, so the
    rate settles just under the platform's limit with a 429 now and then (additive increase,
    multiplicative decrease, as TCP does)."""

    def __init__(
        self,
        rate: float | None = None,
        burst: float | None = None,
        *,
        floor: float = 0.5,
        decrease: float = 0.85,
        increase: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(rate or 1.0, burst, clock=clock, sleep=sleep)
        self.limited = rate is not None
        self.ceiling = float(rate) if rate is not None else None
        self.floor = floor
        self.decrease = decrease
        self.increase = increase
        self._paused_until = 0.0
        # Send times within the last second, to measure the real rate; pruned from the left
        # (a list rebuilt per request cost O(requests per second) each, 40 us at full speed).
        self._sent: deque[float] = deque()

    def reserve(self) -> float:
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            if self.limited:
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                self._tokens -= 1.0
                start = max(start, now + (0.0 if self._tokens >= 0 else -self._tokens / self.rate))
            sent = self._sent
            while sent and sent[0] <= now - 1.0:
                sent.popleft()
            sent.append(start)
            return start - now

    def throttled(self, retry_after: float | None) -> bool:
        """The platform answered 429: slow down, and hold everyone until `retry_after` passed."""
        with self._lock:
            now = self._clock()
            observed = float(sum(1 for t in self._sent if now - 1.0 < t <= now))
            current = self.rate if self.limited else max(observed, self.floor)
            self.rate = max(self.floor, min(current, max(observed, self.floor)) * self.decrease)
            self.burst = max(1.0, min(self.burst, self.rate))
            self.limited = True
            self._tokens = min(self._tokens, 0.0)
            self._updated = now
            if retry_after:
                self._paused_until = max(self._paused_until, now + retry_after)
            return bool(retry_after)

    def succeeded(self) -> None:
        """A request went through: probe upwards, gently."""
        if not self.limited:
            return
        with self._lock:
            raised = self.rate + self.increase / max(self.rate, 1.0)
            self.rate = min(raised, self.ceiling) if self.ceiling is not None else raised

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter(rate={self.rate if self.limited else None}, ceiling={self.ceiling})"
