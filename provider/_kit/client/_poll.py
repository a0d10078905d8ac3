"""Waiting for an asynchronous operation (Dataiku's futures, DataChain's pipeline builds, job
runs) without waiting forever or hammering the server.

`poll` asks `check()` for the operation's state until `is_done` or `is_failed` says so, or a
deadline passes. The waits between checks grow (`interval`, times `backoff` after each check,
at most `max_interval`) with jitter, so that many operations started together do not poll in
step; the last wait is cut so that one final check happens at the deadline. The clock and
`sleep` are injectable, which makes the timing testable without waiting.

Timeouts are errors (`PollTimeout`), saying what was awaited, for how long and how often it was
checked, and the last state seen; the operation may still finish, so the caller decides.
A failure state is `OperationFailed`. Errors raised by `check` itself propagate: the transport
has already retried what can be retried.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from ._errors import OperationFailed, PollTimeout, truncate
from ._retry import Jitter

T = TypeVar("T")


def _never(_: object) -> bool:
    return False


def _describe(value: object) -> str:
    return truncate(repr(value), 200)


def poll(
    check: Callable[[], T],
    *,
    what: str,
    timeout: float,
    interval: float = 0.5,
    backoff: float = 1.5,
    max_interval: float = 15.0,
    is_done: Callable[[T], bool] = bool,
    is_failed: Callable[[T], bool] = _never,
    describe: Callable[[T], str] = _describe,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    rng: Jitter | None = None,
) -> T:
    """Return the first state of `check()` that `is_done` accepts.

    `what` completes "waiting for ..." in messages (e.g. "scenario BUILD_ALL to finish").
    Each wait is uniform in [w/2, w] for the current interval w ("equal jitter": spread out,
    but never a busy loop). Raises `OperationFailed` when `is_failed` accepts a state (checked
    first), and `PollTimeout` when `timeout` seconds pass without either.
    """
    if timeout < 0 or interval <= 0 or max_interval <= 0 or backoff < 1:
        raise ValueError("poll needs timeout >= 0, interval > 0, max_interval > 0 and backoff >= 1")
    jitter: Jitter = rng or random.Random()
    start = monotonic()
    deadline = start + timeout
    wait = min(interval, max_interval)
    checks = 0
    while True:
        state = check()
        checks += 1
        if is_failed(state):
            raise OperationFailed(f"{what} failed: the last state was {describe(state)}", what=what)
        if is_done(state):
            return state
        now = monotonic()
        left = deadline - now
        if left <= 0:
            waited = now - start
            raise PollTimeout(
                f"gave up waiting for {what} after {waited:.1f} s ({checks} checks, timeout {timeout:g} s); "
                f"the last state was {describe(state)}",
                what=what, waited=waited, checks=checks,
            )
        sleep(min(jitter.uniform(wait / 2, wait), left))
        wait = min(wait * backoff, max_interval)
