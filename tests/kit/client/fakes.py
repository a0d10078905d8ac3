"""Fakes shared by the client-kit tests and the platform client tests: a clock that only moves
when something sleeps, and an RNG that always picks the top of the range."""

from __future__ import annotations


class FakeTime:
    """A clock that only moves when something sleeps; every sleep is recorded."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class TopOfRange:
    """An RNG whose `uniform(a, b)` is `b`: makes jittered waits show their ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


class BottomOfRange:
    """An RNG whose `uniform(a, b)` is `a`: makes jittered waits show their floor."""

    def uniform(self, a: float, b: float) -> float:
        return a
