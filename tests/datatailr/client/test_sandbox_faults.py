"""Every error class and the retry rules against a live sandbox with injected faults."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from platforge.provider._kit.client import RateLimiter
from platforge.provider.datatailr import (
    Acl,
    AuthenticationError,
    BadRequest,
    Conflict,
    DatatailrClient,
    NotFound,
    PasswordLogin,
    PermissionDenied,
    RateLimited,
    RetryPolicy,
    ServerError,
    TokenLogin,
    TransportError,
)

FAST = RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_cap=0.05)


def connect(box, **kwargs) -> DatatailrClient:
    kwargs.setdefault("retry", FAST)
    return DatatailrClient(box.url, PasswordLogin(box.admin_user, box.admin_password), **kwargs)


def access_log(box) -> list[dict]:
    with open(box.access_log, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


# ── every error class, live ────────────────────────────────────────────────────────────────


def test_error_classes_from_the_live_sandbox(sandbox):
    with connect(sandbox) as dt:
        with pytest.raises(BadRequest, match="Invalid username"):
            dt.users.add("bad name!")
        with pytest.raises(BadRequest, match="Unknown group"):
            dt.kv.put("k", "v", acl=Acl(groups={"nogroup": "r"}))
        with pytest.raises(NotFound):
            dt.users.get("zed")
        with pytest.raises(NotFound):
            dt.kv.get("missing")
        dt.groups.add("g1")
        with pytest.raises(Conflict, match="already exists"):
            dt.groups.add("g1")
        dt.users.add("dave", first_name="D", password="dave-password-1")
        dt.kv.put("private", "v")
    with DatatailrClient(sandbox.url, PasswordLogin("dave", "dave-password-1"), retry=FAST) as dave:
        with pytest.raises(PermissionDenied, match="only members of 'admin'"):
            dave.groups.add("g2")
        with pytest.raises(PermissionDenied):
            dave.kv.get("private")
        assert dave.users.get("dave").name == "dave"


def test_authentication_errors_from_the_live_sandbox(sandbox):
    with DatatailrClient(sandbox.url, PasswordLogin(sandbox.admin_user, "wrong-password")) as dt:
        with pytest.raises(AuthenticationError) as info:
            dt.users.ls()
        assert "wrong-password" not in str(info.value) and info.value.status == 401
    with DatatailrClient(sandbox.url, TokenLogin("not.a.jwt")) as dt:
        with pytest.raises(AuthenticationError, match="Invalid session token") as info:
            dt.users.ls()
        assert "not.a.jwt" not in str(info.value)


def test_expired_session_is_renewed_once(sandbox):
    env = {"DATATAILR_BASE_URL": sandbox.url, "DATATAILR_JWT": "stale.session.token",
           "DATATAILR_USER_NAME": sandbox.admin_user, "DATATAILR_USER_PASSWORD": sandbox.admin_password}
    with DatatailrClient.from_env(env) as dt:
        assert dt.users.exists(sandbox.admin_user)  # 401 with the stale token, login, retry
        assert dt.stats.requests == 3  # the failed call, the login, the retried call


def test_rate_limited_and_server_error_without_retries(sandbox_factory):
    box = sandbox_factory(rate_limit=1)
    with connect(box, retry=RetryPolicy.never()) as dt:
        with pytest.raises(RateLimited) as info:
            for _ in range(5):
                dt.users.exists("x")
        assert info.value.retry_after is not None and info.value.retry_after >= 1
    box = sandbox_factory(error_rate=1.0)
    with connect(box, retry=RetryPolicy.never()) as dt:
        with pytest.raises(ServerError) as info:
            dt.users.ls()
        assert info.value.status == 503


def test_transport_error_when_nothing_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    sleep = RecordingSleep()
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.01)
    with DatatailrClient(f"http://127.0.0.1:{port}", TokenLogin("t.o.k"), retry=policy, sleep=sleep) as dt:
        with pytest.raises(TransportError) as info:
            dt.jobs.save({"type": "app"})  # a POST, retried: nothing reached a server
    assert info.value.request_sent is False and info.value.attempts == 3 and len(sleep.delays) == 2


# ── retries under each fault ───────────────────────────────────────────────────────────────


def test_100_gets_survive_a_30_percent_error_rate(sandbox_factory):
    box = sandbox_factory(error_rate=0.3, seed=1)
    with connect(box, retry=RetryPolicy()) as dt:  # the defaults must be enough
        for _ in range(100):
            assert dt.users.exists(box.admin_user)
        assert dt.stats.retries > 10  # about 30 injected 503s were retried
        assert dt.stats.requests == 101  # 100 calls and the (exempt) login


def test_an_injected_503_is_not_retried_for_any_write(sandbox_factory):
    """A write that answered 5xx may have landed: the transport never sends it again (the
    applier decides from live state); a read is retried."""
    box = sandbox_factory(error_rate=1.0, access_log=True)
    with connect(box) as dt:
        for write in (lambda: dt.jobs.save({"type": "app"}), lambda: dt.groups.add_users("admin", ["admin"]),
                      lambda: dt.kv.put("k", "v")):
            with pytest.raises(ServerError) as info:
                write()
            assert info.value.attempts == 1
        with pytest.raises(ServerError) as info:
            dt.users.get("admin")
        assert info.value.attempts == FAST.max_attempts
    writes = [r["path"] for r in access_log(box) if r["method"] != "GET" and r["path"] != "/login"]
    assert sorted(writes) == ["/api/group/add-users", "/api/job/save", "/api/kv/put"]


def test_gets_survive_dropped_connections(sandbox_factory):
    box = sandbox_factory(drop_rate=0.3, seed=3)
    with connect(box) as dt:
        for _ in range(40):
            assert dt.users.get(box.admin_user).name == box.admin_user
        assert dt.stats.retries > 3


def test_a_post_is_not_retried_after_a_dropped_connection(sandbox_factory):
    box = sandbox_factory(drop_rate=1.0, access_log=True)
    with connect(box) as dt:
        with pytest.raises(TransportError) as info:
            dt.users.add("carol", first_name="C")
        assert info.value.request_sent is True and info.value.attempts == 1
        with pytest.raises(TransportError) as info:
            dt.users.exists("carol")
        assert info.value.attempts == FAST.max_attempts
    paths = [r["path"] for r in access_log(box)]
    assert paths.count("/api/user/add") == 1  # the server saw the POST exactly once
    assert paths.count("/api/user/exists") == FAST.max_attempts


def test_429_retry_after_is_waited_out_even_for_a_post(sandbox_factory):
    box = sandbox_factory(rate_limit=1)  # one token a second: back-to-back calls are throttled
    sleep = RecordingSleep()
    with connect(box, sleep=sleep) as dt:
        for i in range(3):
            dt.users.add(f"user{i}", first_name="U")  # non-idempotent, but a 429 is safe to retry
        assert sorted(u.name for u in dt.users.ls(where={"first_name": "U"})) == [f"user{i}" for i in range(3)]
        assert dt.stats.throttled >= 1
    assert sleep.delays and max(sleep.delays) >= 0.9  # the sandbox's Retry-After, waited out by the limiter


def test_client_side_rate_limit_avoids_server_throttling(sandbox_factory):
    box = sandbox_factory(rate_limit=4)
    with connect(box, retry=RetryPolicy.never(), rate_limiter=RateLimiter(rate=3, burst=1)) as dt:
        started = time.monotonic()
        for _ in range(6):
            dt.users.exists("x")
        assert time.monotonic() - started >= 1.5  # 7 tokens at 3/s after the first
        assert dt.stats.throttled == 0


def test_latency_beyond_the_read_timeout(sandbox_factory):
    box = sandbox_factory(latency_ms=400)
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_cap=0.01)
    with connect(box, retry=policy, timeout=5.0) as dt:
        assert dt.users.exists(box.admin_user)  # slow but within the timeout
    # Latency is injected on /login too: take a session token with a patient plain request.
    login = httpx.post(f"{box.url}/login", auth=(box.admin_user, box.admin_password), timeout=5.0)
    token = login.cookies["X-Datatailr-Oidc-Data"]
    with DatatailrClient(box.url, TokenLogin(token), retry=policy, timeout=0.1) as dt:
        with pytest.raises(TransportError, match="ReadTimeout") as info:
            dt.users.exists(box.admin_user)
        assert info.value.attempts == 2  # a GET: retried
        with pytest.raises(TransportError) as info:
            dt.jobs.start("x")
        assert info.value.attempts == 1  # a POST: the server may be working on it
        assert token not in str(info.value)
