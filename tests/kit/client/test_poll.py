"""`poll`: bounded waiting for asynchronous operations, on a fake clock."""

from __future__ import annotations

import pickle

import pytest
from platforge.provider._kit.client import BaseClient, OperationFailed, PlatformError, PollTimeout, poll

from .fakes import BottomOfRange, FakeTime, TopOfRange


class Operation:
    """An operation that reports `states` in turn (the last one forever); records when it was
    asked, on the fake clock."""

    def __init__(self, clock: FakeTime, *states: str) -> None:
        self.clock = clock
        self.states = list(states)
        self.asked_at: list[float] = []

    def __call__(self) -> str:
        self.asked_at.append(self.clock.now)
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def run(op: Operation, fake_time: FakeTime, **kwargs):
    kwargs.setdefault("what", "job 42 to finish")
    kwargs.setdefault("timeout", 60.0)
    kwargs.setdefault("rng", TopOfRange())
    return poll(op, is_done=lambda s: s == "done", is_failed=lambda s: s == "failed",
                sleep=fake_time.sleep, monotonic=fake_time.clock, **kwargs)


def test_returns_the_first_done_state_waiting_longer_each_time(fake_time):
    op = Operation(fake_time, "queued", "running", "running", "running", "done")
    assert run(op, fake_time, interval=1.0, backoff=2.0, max_interval=5.0) == "done"
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 5.0]  # capped at max_interval
    assert len(op.asked_at) == 5


def test_waits_are_jittered_between_half_and_all_of_the_interval(fake_time):
    op = Operation(fake_time, "running", "running", "done")
    run(op, fake_time, interval=1.0, backoff=2.0, rng=BottomOfRange())
    assert fake_time.sleeps == [0.5, 1.0]


def test_a_failure_state_raises_at_once_naming_the_operation(fake_time):
    op = Operation(fake_time, "running", "failed", "done")
    with pytest.raises(OperationFailed) as info:
        run(op, fake_time)
    assert str(info.value) == "OperationFailed: job 42 to finish failed: the last state was 'failed'"
    assert isinstance(info.value, PlatformError) and info.value.what == "job 42 to finish"
    assert len(op.asked_at) == 2  # no check after the failure


def test_timeout_says_what_it_waited_for_how_long_and_the_last_state(fake_time):
    op = Operation(fake_time, "running")
    start = fake_time.now
    with pytest.raises(PollTimeout) as info:
        run(op, fake_time, timeout=10.0, interval=1.0, backoff=2.0, max_interval=4.0)
    error = info.value
    # Checks at 0, 1, 3, 7 and, the last wait cut from 4 to 3, once more at the deadline.
    assert [t - start for t in op.asked_at] == [0.0, 1.0, 3.0, 7.0, 10.0]
    assert error.message == ("gave up waiting for job 42 to finish after 10.0 s (5 checks, timeout 10 s); "
                             "the last state was 'running'")
    assert (error.what, error.waited, error.checks) == ("job 42 to finish", 10.0, 5)
    assert sum(fake_time.sleeps) == pytest.approx(10.0)


def test_a_zero_timeout_checks_once(fake_time):
    op = Operation(fake_time, "running")
    with pytest.raises(PollTimeout, match=r"after 0\.0 s \(1 checks"):
        run(op, fake_time, timeout=0)
    assert fake_time.sleeps == []


def test_slow_checks_count_against_the_deadline(fake_time):
    def slow() -> str:
        fake_time.now += 4.0  # each check itself takes 4 s
        return "running"

    with pytest.raises(PollTimeout) as info:
        poll(slow, what="x", timeout=10.0, interval=1.0, backoff=1.0, is_done=lambda s: False, sleep=fake_time.sleep,
             monotonic=fake_time.clock, rng=TopOfRange())
    assert info.value.checks == 3 and info.value.waited == pytest.approx(14.0)


def test_errors_of_the_check_itself_propagate(fake_time):
    def broken() -> str:
        raise PlatformError("server failed", status=500)

    with pytest.raises(PlatformError, match="server failed"):
        poll(broken, what="x", timeout=5, sleep=fake_time.sleep, monotonic=fake_time.clock)


@pytest.mark.parametrize("kwargs", [{"timeout": -1}, {"interval": 0}, {"backoff": 0.5}, {"max_interval": 0}])
def test_invalid_settings(kwargs):
    settings = {"what": "x", "timeout": 1.0, **kwargs}
    with pytest.raises(ValueError):
        poll(lambda: True, **settings)


def test_poll_errors_survive_pickling():
    error = PollTimeout("gave up", what="job", waited=3.5, checks=4)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.what, copy.waited, copy.checks, str(copy)) == (PollTimeout, "job", 3.5, 4, str(error))
    failed = pickle.loads(pickle.dumps(OperationFailed("boom", what="job")))
    assert failed.what == "job"


def test_a_clients_poll_runs_on_the_clients_clock(fake_time):
    states = iter([{"hasResult": False}, {"hasResult": False}, {"hasResult": True, "result": 7}])
    with BaseClient("http://p.test", sleep=fake_time.sleep, monotonic=fake_time.clock, rng=TopOfRange()) as client:
        done = client.poll(lambda: next(states), what="future f1", timeout=30, interval=0.2, backoff=1.1,
                           is_done=lambda s: s["hasResult"])
    assert done["result"] == 7
    assert fake_time.sleeps == pytest.approx([0.2, 0.22])
