"""Retry rules of `platforge.provider._kit.client.Transport`, on a platform-neutral fake server."""

from __future__ import annotations

import logging
import random
from collections import deque
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from platforge.provider._kit.client import (
    PlatformError,
    RateLimited,
    RetryPolicy,
    ServerError,
    Transport,
    TransportError,
    is_idempotent,
    parse_retry_after,
)

from .fakes import FakeTime, TopOfRange

POLICY = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_cap=4.0, max_total_delay=60.0)


class Script:
    """Answers from a list of outcomes: an int status, an exception class, or a Response."""

    def __init__(self, *outcomes) -> None:
        self.outcomes = deque(outcomes)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        item = self.outcomes.popleft() if self.outcomes else 200
        if isinstance(item, type) and issubclass(item, Exception):
            raise item("injected", request=request)
        if isinstance(item, httpx.Response):
            return item
        return httpx.Response(item, json={"error": f"status {item}"} if item >= 400 else {"ok": True})


def transport(script: Script, fake_time: FakeTime, policy: RetryPolicy = POLICY, rng=None) -> Transport:
    return Transport("http://p.test", retry=policy, http_transport=httpx.MockTransport(script),
                     sleep=fake_time.sleep, rng=rng or TopOfRange(), wall_clock=fake_time.clock)


# The retry-safety table of the module docstring, case by case: (failure, method, idempotent
# override, expected retried?).
CASES = [
    (429, "POST", None, True),  # refused before processing: any method
    (429, "GET", None, True),
    (httpx.ConnectError, "POST", None, True),  # nothing reached the server: any method
    (httpx.ConnectTimeout, "POST", None, True),
    (httpx.PoolTimeout, "POST", None, True),
    (503, "GET", None, True),
    (502, "PUT", None, False),  # a write that may have landed is never sent again blindly:
    (504, "DELETE", None, False),  # the applier reads live state first (even PUT and DELETE)
    (502, "PUT", True, True),  # ... unless its caller vouches a repeat is harmless
    (503, "HEAD", None, True),
    (503, "POST", None, False),  # may have been processed: idempotent only
    (503, "POST", True, True),  # ... unless the caller marks the POST idempotent
    (503, "PUT", False, False),  # ... and a PUT marked non-idempotent is not retried
    (httpx.ReadError, "GET", None, True),
    (httpx.ReadError, "POST", None, False),
    (httpx.RemoteProtocolError, "GET", None, True),  # dropped mid-response
    (httpx.RemoteProtocolError, "POST", None, False),
    (httpx.RemoteProtocolError, "POST", True, True),
    (httpx.ReadTimeout, "DELETE", None, False),
    (httpx.RemoteProtocolError, "PUT", None, False),  # the answer to a PUT lost after it landed
    (httpx.ReadTimeout, "POST", None, False),
    (httpx.WriteError, "POST", None, False),
    (500, "GET", None, False),  # a bug, not a transient: never
    (501, "GET", None, False),
    (400, "GET", None, False),
    (404, "GET", None, False),
    (409, "PUT", None, False),
    (httpx.UnsupportedProtocol, "GET", None, False),
]


@pytest.mark.parametrize(("failure", "method", "idempotent", "retried"), CASES)
def test_retry_safety_table(failure, method, idempotent, retried, fake_time):
    script = Script(failure, 200)
    t = transport(script, fake_time)
    if retried:
        response = t.request(method, "/x", idempotent=idempotent)
        assert response.status_code == 200
        assert script.calls == 2
        assert len(fake_time.sleeps) == 1
    else:
        with pytest.raises(PlatformError) as info:
            t.request(method, "/x", idempotent=idempotent)
        assert script.calls == 1
        assert fake_time.sleeps == []
        assert info.value.attempts == 1


def test_is_idempotent_by_method_and_override():
    assert all(is_idempotent(m) for m in ("GET", "head", "OPTIONS"))
    assert not any(is_idempotent(m) for m in ("POST", "PATCH", "PUT", "DELETE"))
    assert is_idempotent("POST", True) and not is_idempotent("PUT", False)


def test_backoff_grows_exponentially_and_is_capped(fake_time):
    policy = RetryPolicy(max_attempts=7, backoff_base=0.5, backoff_cap=4.0)
    script = Script(*[503] * 6, 200)
    transport(script, fake_time, policy).request("GET", "/x")
    assert fake_time.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_attempts_are_capped_and_the_last_error_is_raised(fake_time):
    script = Script(*[503] * 10)
    with pytest.raises(ServerError) as info:
        transport(script, fake_time).request("GET", "/things")
    assert script.calls == POLICY.max_attempts
    assert info.value.attempts == POLICY.max_attempts
    assert "after 4 attempts" in str(info.value)
    assert len(fake_time.sleeps) == POLICY.max_attempts - 1


def test_full_jitter_stays_within_bounds(fake_time):
    policy = RetryPolicy(max_attempts=9, backoff_base=0.25, backoff_cap=2.0)
    rng = random.Random(7)
    for _ in range(30):
        fake_time.sleeps.clear()
        transport(Script(*[502] * 8, 200), fake_time, policy, rng).request("GET", "/x")
        assert len(fake_time.sleeps) == 8
        for retry, delay in enumerate(fake_time.sleeps, start=1):
            assert 0.0 <= delay <= policy.backoff_ceiling(retry)
    # Jitter really varies (not a constant fraction of the ceiling).
    assert len({round(d, 6) for d in fake_time.sleeps}) > 4


def test_retry_after_seconds_is_honoured_over_backoff(fake_time):
    script = Script(httpx.Response(429, json={"error": "slow down"}, headers={"Retry-After": "7"}), 200)
    transport(script, fake_time).request("POST", "/x")
    assert fake_time.sleeps == [7.0]


def test_retry_after_http_date_is_honoured(fake_time):
    fake_time.now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    when = format_datetime(datetime(2030, 1, 1, 12, 0, 3, tzinfo=UTC), usegmt=True)
    script = Script(httpx.Response(503, json={"error": "maintenance"}, headers={"Retry-After": when}), 200)
    transport(script, fake_time).request("GET", "/x")
    assert fake_time.sleeps == [pytest.approx(3.0)]


def test_retry_after_zero_means_retry_at_once(fake_time):
    script = Script(httpx.Response(503, json={"error": "injected"}, headers={"Retry-After": "0"}), 200)
    transport(script, fake_time).request("GET", "/x")
    assert fake_time.sleeps == [0.0]


def test_retry_after_beyond_the_budget_raises_rate_limited_with_retry_after(fake_time):
    policy = RetryPolicy(max_attempts=5, max_total_delay=10.0)
    script = Script(httpx.Response(429, json={"error": "quota"}, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as info:
        transport(script, fake_time, policy).request("GET", "/x")
    assert info.value.retry_after == 3600.0
    assert fake_time.sleeps == [] and script.calls == 1


def test_giving_up_on_the_budget_is_one_warning_without_the_query(fake_time, caplog):
    policy = RetryPolicy(max_attempts=5, max_total_delay=10.0)
    script = Script(httpx.Response(429, json={"error": "quota for key k-123"}, headers={"Retry-After": "3600"}))
    with caplog.at_level(logging.DEBUG, logger="platforge.transport"):
        with pytest.raises(RateLimited):
            transport(script, fake_time, policy).request("GET", "/x", params={"key": "k-123"})
    assert [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "platforge.transport" and r.levelno > logging.DEBUG] == [
        (logging.WARNING, "giving up on GET /x after HTTP 429 Too Many Requests: a 3600.0 s wait would exceed "
                          "the retry budget of 10.0 s"),
    ]


def test_total_delay_budget_stops_retries(fake_time):
    policy = RetryPolicy(max_attempts=50, backoff_base=1.0, backoff_cap=4.0, max_total_delay=10.0)
    script = Script(*[503] * 50)
    with pytest.raises(ServerError):
        transport(script, fake_time, policy).request("GET", "/x")
    assert sum(fake_time.sleeps) <= 10.0
    assert fake_time.sleeps == [1.0, 2.0, 4.0]  # the next 4.0 would exceed the budget


def test_never_policy_makes_one_attempt(fake_time):
    script = Script(503, 200)
    with pytest.raises(ServerError):
        transport(script, fake_time, RetryPolicy.never()).request("GET", "/x")
    assert script.calls == 1


def test_transport_error_says_whether_the_request_was_sent(fake_time):
    t = transport(Script(*[httpx.ConnectError] * 4), fake_time)
    with pytest.raises(TransportError) as info:
        t.request("POST", "/x")
    assert info.value.request_sent is False and info.value.status is None
    with pytest.raises(TransportError) as info:
        transport(Script(httpx.RemoteProtocolError), fake_time).request("POST", "/x")
    assert info.value.request_sent is True


def test_stats_count_requests_attempts_retries_and_throttling(fake_time):
    script = Script(httpx.Response(429, json={"error": "x"}, headers={"Retry-After": "2"}), 503, 200, 200)
    t = transport(script, fake_time)
    t.request("GET", "/a")
    t.request("GET", "/b")
    s = t.stats
    assert (s.requests, s.attempts, s.retries, s.throttled) == (2, 4, 2, 1)
    assert s.retry_wait_seconds == pytest.approx(2.0 + 1.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), (" 1.5 ", 1.5), ("0", 0.0), ("-1", None), ("soon", None), ("", None), (None, None),
     ("nan", None), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=100.0) == expected


def test_policy_validation():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_base=-1)
