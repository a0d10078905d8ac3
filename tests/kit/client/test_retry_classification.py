"""Retries that know what cannot succeed (issue 7), in the client kit's transport.

- A TLS failure (e.g. `https://` to a plain-HTTP server) and a DNS failure are permanent: one
  attempt, a typed error (`TlsError`, `DnsError`) with a message that says what to fix.
- Connection refused is retried, but only within `RetryPolicy.connect_refused_budget`.
- 4xx other than 429 are never retried by the transport (a 401 may make a `SessionAuth` log in
  again once: that is a new session, not a transport retry).
- Every retry logs exactly one WARNING line on `platforge.transport` (no query, no body, no
  secret).

Unit tests raise realistic cause chains through `httpx.MockTransport` (httpx.ConnectError from
httpcore.ConnectError from the OS/ssl exception, as httpx and httpcore raise them); the
real-socket tests use an unresolvable `.invalid` host and a closed local port. The Datatailr
client's side (its 401 handling, the sandbox, the CLI's stderr) is in
`tests/datatailr/client/test_retry_classification.py`.
"""

from __future__ import annotations

import errno
import logging
import pickle
import re
import socket
import ssl
import time

import httpcore
import httpx
import pytest
from platforge.provider._kit import client as tp
from platforge.provider._kit.client import PlatformError, RetryPolicy, Transport, TransportError

from .fakes import FakeTime, TopOfRange

POLICY = RetryPolicy(max_attempts=8, backoff_base=0.5, backoff_cap=4.0, max_total_delay=60.0)
RETRY_LINE = re.compile(
    r"^retrying (?P<method>[A-Z]+) (?P<path>\S+) after (?P<reason>.+) "
    r"\(attempt (?P<attempt>\d+) of (?P<of>\d+)\), waiting (?P<wait>\d+\.\d+) s$"
)


def raise_connect_error(root: BaseException, request: httpx.Request | None = None) -> None:
    """Raise `root` wrapped the way a real connect failure reaches us (httpcore 1.0, httpx
    0.28): httpcore's map_exceptions raises `httpcore.ConnectError(root) from root`, its
    connection pool re-raises that `from None` (so only `__context__` and the argument still
    hold `root`), then httpx's map_httpcore_exceptions raises `httpx.ConnectError(str(exc))
    from exc`."""
    try:
        try:
            try:
                raise root
            except OSError as exc:
                raise httpcore.ConnectError(exc) from exc
        except httpcore.ConnectError as exc:
            raise exc from None  # httpcore.ConnectionPool.handle_request
    except httpcore.ConnectError as exc:
        raise httpx.ConnectError(str(exc), request=request) from exc


def connect_error(root: BaseException, request: httpx.Request | None = None) -> httpx.ConnectError:
    """The exception `raise_connect_error` raises, to be raised again by a handler."""
    try:
        raise_connect_error(root, request)
    except httpx.ConnectError as exc:
        return exc
    raise AssertionError("unreachable")


def test_the_fake_chain_looks_like_the_real_one():
    """Guard for the helper above: a real DNS failure has the same shape."""
    with pytest.raises(httpx.ConnectError) as info:
        httpx.get("http://nonexistent.invalid/", timeout=5)
    fake = connect_error(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    for exc in (info.value, fake):
        inner = exc.__cause__
        assert type(inner) is httpcore.ConnectError and inner.__cause__ is None and inner.__suppress_context__
        assert type(inner.__context__) is socket.gaierror and inner.args == (inner.__context__,)


class Raising:
    """A MockTransport handler: raises the given failures in turn (a callable builds one per
    request), then answers 200."""

    def __init__(self, *failures) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, httpx.Response):
                return failure
            raise failure(request) if callable(failure) else failure
        return httpx.Response(200, json={"ok": True})


def make_transport(handler, fake_time: FakeTime, policy: RetryPolicy = POLICY,
                   base_url: str = "https://p.test:8443") -> Transport:
    return Transport(base_url, retry=policy, http_transport=httpx.MockTransport(handler),
                     sleep=fake_time.sleep, rng=TopOfRange(), wall_clock=fake_time.clock)


def retry_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "platforge.transport" and r.getMessage().startswith("retrying ")]


def refused(request: httpx.Request) -> httpx.ConnectError:
    return connect_error(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), request)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ── TLS: permanent ───────────────────────────────────────────────────────────────────────────

TLS_ROOTS = [
    pytest.param(lambda: ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"),
                 id="wrong-version"),
    pytest.param(lambda: ssl.SSLError(1, "[SSL: RECORD_LAYER_FAILURE] record layer failure (_ssl.c:1000)"),
                 id="record-layer"),
    pytest.param(lambda: ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF (_ssl.c:1006)"), id="eof"),
    pytest.param(lambda: ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)"),
        id="cert-verify"),
]


@pytest.mark.parametrize("root", TLS_ROOTS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_tls_failure_is_raised_at_once_as_tls_error(root, method, fake_time, caplog):
    handler = Raising(*[lambda r: connect_error(root(), r)] * 8)
    with caplog.at_level(logging.INFO, logger="platforge.transport"):
        with pytest.raises(tp.TlsError) as info:
            make_transport(handler, fake_time).request(method, "/api/user/ls")
    error = info.value
    assert isinstance(error, TransportError) and error.request_sent is False and error.status is None
    assert handler.calls == 1 and error.attempts == 1 and fake_time.sleeps == []
    assert retry_lines(caplog) == []
    assert "p.test:8443" in error.message


def test_the_tls_message_points_at_the_scheme(fake_time):
    root = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    with pytest.raises(tp.TlsError) as info:
        make_transport(Raising(lambda r: connect_error(root, r)), fake_time).request("GET", "/x")
    text = str(info.value)
    assert "http://" in text and "https://" in text and "scheme" in text
    assert "WRONG_VERSION_NUMBER" in text  # the OpenSSL reason, for whoever debugs it


def test_the_certificate_message_says_the_certificate_was_not_accepted(fake_time):
    root = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    with pytest.raises(tp.TlsError) as info:
        make_transport(Raising(lambda r: connect_error(root, r)), fake_time).request("GET", "/x")
    assert "certificate" in info.value.message and "p.test" in info.value.message


def test_tls_is_found_through_context_and_httpcore_args_too(fake_time):
    """Not every wrapper uses `raise ... from`: an implicit `__context__`, or only the httpcore
    exception's argument, still classifies."""
    def implicit(request):
        try:
            raise ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
        except ssl.SSLError:
            try:
                raise httpx.ConnectError("handshake failed", request=request)  # noqa: B904
            except httpx.ConnectError as exc:
                return exc

    def args_only(request):
        inner = httpcore.ConnectError(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"))
        exc = httpx.ConnectError(str(inner), request=request)
        exc.__cause__ = inner
        return exc

    for build in (implicit, args_only):
        handler = Raising(*[build] * 8)
        with pytest.raises(tp.TlsError):
            make_transport(handler, fake_time).request("GET", "/x")
        assert handler.calls == 1


def test_an_unrelated_exception_the_caller_is_handling_does_not_classify(fake_time):
    """Only the chain httpx builds counts: a refusal that happens while the caller handles an
    `ssl.SSLError` of its own is still a refusal (the OS error's `__context__` is not read)."""
    def refuse(request):  # raises inside the caller's `except`, as a real connect would
        raise_connect_error(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), request)

    handler = Raising(refuse, refuse)
    t = make_transport(handler, fake_time)
    try:
        raise ssl.SSLError(1, "the caller's own, unrelated TLS error")
    except ssl.SSLError:
        assert t.request("GET", "/x").status_code == 200
    assert handler.calls == 3


# ── DNS: permanent ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "root",
    [socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
     socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")],
    ids=["noname", "again"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_dns_failure_is_raised_at_once_as_dns_error_naming_the_host(root, method, fake_time, caplog):
    handler = Raising(*[lambda r: connect_error(root, r)] * 8)
    with caplog.at_level(logging.INFO, logger="platforge.transport"):
        with pytest.raises(tp.DnsError) as info:
            make_transport(handler, fake_time, base_url="http://db.corp.example:8080").request(method, "/x")
    error = info.value
    assert isinstance(error, TransportError) and error.request_sent is False
    assert handler.calls == 1 and error.attempts == 1 and fake_time.sleeps == []
    assert retry_lines(caplog) == []
    assert "'db.corp.example'" in error.message and "resolve" in error.message


# ── connection refused: retried within a short budget ────────────────────────────────────────


def test_connection_refused_is_retried_within_its_own_budget(fake_time):
    policy = RetryPolicy(max_attempts=50, backoff_base=0.5, backoff_cap=4.0, max_total_delay=60.0,
                         connect_refused_budget=3.0)
    handler = Raising(*[refused] * 50)
    with pytest.raises(tp.ConnectionRefused) as info:
        make_transport(handler, fake_time, policy).request("POST", "/login")
    # Backoff ceilings 0.5, 1.0, 2.0: the last wait is cut to what is left of the 3 s budget,
    # and the attempt after it is the last one.
    assert fake_time.sleeps == [0.5, 1.0, 1.5]
    assert handler.calls == 4 and info.value.attempts == 4
    assert info.value.request_sent is False
    assert "127.0.0.1" not in info.value.message and "p.test:8443" in info.value.message


def test_connection_refused_then_success(fake_time):
    handler = Raising(refused, refused)
    response = make_transport(handler, fake_time).request("POST", "/x")
    assert response.status_code == 200 and handler.calls == 3
    assert fake_time.sleeps == [0.5, 1.0]


def test_the_default_refused_budget_is_a_few_seconds_and_separate_from_max_total_delay():
    policy = RetryPolicy()
    assert 1.0 <= policy.connect_refused_budget <= 5.0
    assert policy.max_total_delay == 60.0
    with pytest.raises(ValueError):
        RetryPolicy(connect_refused_budget=-1)
    assert RetryPolicy(connect_refused_budget=0).connect_refused_budget == 0


def test_a_zero_refused_budget_means_one_attempt(fake_time):
    handler = Raising(*[refused] * 8)
    with pytest.raises(tp.ConnectionRefused):
        make_transport(handler, fake_time, RetryPolicy(connect_refused_budget=0)).request("GET", "/x")
    assert handler.calls == 1 and fake_time.sleeps == []


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda r: httpx.ConnectError("injected", request=r), id="bare-connect-error"),
        pytest.param(lambda r: connect_error(OSError(errno.ENETUNREACH, "Network is unreachable"), r),
                     id="network-unreachable"),
        pytest.param(lambda r: httpx.ConnectTimeout("timed out", request=r), id="connect-timeout"),
        pytest.param(lambda r: httpx.PoolTimeout("pool", request=r), id="pool-timeout"),
    ],
)
def test_other_connect_failures_keep_the_general_budget(failure, fake_time):
    """Only *refused* has the short budget: other connect errors and timeouts still get every
    attempt (here 8, waiting 0.5+1+2+4+4+4+4 = 19.5 s, beyond the refused budget)."""
    handler = Raising(*[failure] * 8)
    with pytest.raises(TransportError) as info:
        make_transport(handler, fake_time).request("POST", "/x")
    assert not isinstance(info.value, (tp.TlsError, tp.DnsError, tp.ConnectionRefused))
    assert handler.calls == 8 and sum(fake_time.sleeps) == 19.5


def test_the_refused_budget_counts_only_waits_after_refusals(fake_time):
    """503s before a refusal do not use up the refused budget (they have max_total_delay)."""
    policy = RetryPolicy(max_attempts=8, backoff_base=0.5, backoff_cap=4.0, connect_refused_budget=1.0)
    handler = Raising(httpx.Response(503), httpx.Response(503), refused, refused)
    with pytest.raises(tp.ConnectionRefused) as info:
        make_transport(handler, fake_time, policy).request("GET", "/x")
    # 503: 0.5, 503: 1.0, refused: ceiling 2.0 cut to the 1.0 budget, refused: budget spent.
    assert fake_time.sleeps == [0.5, 1.0, 1.0]
    assert info.value.attempts == 4


# ── one line per retry ───────────────────────────────────────────────────────────────────────


def test_every_retry_logs_one_warning_line(fake_time, caplog):
    handler = Raising(refused, httpx.Response(503, json={"error": "body text hunter2"}),
                      httpx.Response(429, json={"error": "slow"}, headers={"Retry-After": "2"}),
                      lambda r: httpx.ReadTimeout("read", request=r))
    t = make_transport(handler, fake_time)
    with caplog.at_level(logging.DEBUG, logger="platforge"):
        t.request("GET", "/api/user/ls", params={"token": "q-s3cret"})
    assert retry_lines(caplog) == [
        "retrying GET /api/user/ls after connection refused (attempt 2 of 8), waiting 0.50 s",
        "retrying GET /api/user/ls after HTTP 503 Service Unavailable (attempt 3 of 8), waiting 1.00 s",
        "retrying GET /api/user/ls after HTTP 429 Too Many Requests (attempt 4 of 8), waiting 2.00 s",
        "retrying GET /api/user/ls after read timeout (attempt 5 of 8), waiting 4.00 s",
    ]
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying ")]
    assert all(r.levelno == logging.WARNING and r.name == "platforge.transport" for r in retries)
    # Exactly one record per retry: nothing else is logged for a retry at any level.
    assert len([r for r in caplog.records if r.name == "platforge.transport" and r.levelno > logging.DEBUG]) == 4
    # At debug level each attempt is a line too (method, path without its query, status, time).
    attempts = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(attempts) == 5 and all(line.startswith("GET /api/user/ls -> ") for line in attempts), attempts
    assert "q-s3cret" not in caplog.text and "token" not in caplog.text and "hunter2" not in caplog.text


def test_retry_lines_never_show_a_query_or_a_registered_secret(fake_time, caplog):
    t = make_transport(Raising(refused), fake_time)
    t.redactor.add("tok-SECRET")
    with caplog.at_level(logging.WARNING, logger="platforge.transport"):
        t.request("GET", "/api/kv/get/tok-SECRET?key=abc", secret_values=["other"])
    [line] = retry_lines(caplog)
    assert line == "retrying GET /api/kv/get/*** after connection refused (attempt 2 of 8), waiting 0.50 s"


def test_no_retry_line_when_nothing_is_retried(fake_time, caplog):
    with caplog.at_level(logging.DEBUG, logger="platforge.transport"):
        with pytest.raises(PlatformError):
            make_transport(Raising(httpx.Response(503)), fake_time).request("POST", "/x")
    assert retry_lines(caplog) == []


# ── 4xx other than 429: never retried ────────────────────────────────────────────────────────

CLIENT_ERRORS = [400, 401, 403, 404, 405, 408, 409, 410, 413, 422]


@pytest.mark.parametrize("status", CLIENT_ERRORS)
@pytest.mark.parametrize("method", ["GET", "PUT", "POST"])
def test_4xx_other_than_429_is_not_retried_by_the_transport(status, method, fake_time, caplog):
    handler = Raising(*[httpx.Response(status, json={"error": f"status {status}"})] * 8)
    with caplog.at_level(logging.DEBUG, logger="platforge.transport"):
        with pytest.raises(PlatformError) as info:
            make_transport(handler, fake_time).request(method, "/x")
    assert info.value.status == status and info.value.attempts == 1
    assert handler.calls == 1 and fake_time.sleeps == [] and retry_lines(caplog) == []


def test_429_is_still_retried(fake_time):
    handler = Raising(httpx.Response(429, json={"error": "slow"}))
    assert make_transport(handler, fake_time).request("POST", "/x").status_code == 200
    assert handler.calls == 2


# ── the new errors are ordinary PlatformErrors ───────────────────────────────────────────────


def test_new_errors_are_transport_errors_and_survive_pickling():
    for cls in (tp.TlsError, tp.DnsError, tp.ConnectionRefused):
        assert issubclass(cls, TransportError) and cls.__name__ in tp.__all__
        error = cls("boom", request_sent=False, method="GET", path="/x", attempts=3)
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is cls and str(copy) == str(error) and copy.request_sent is False


# ── real sockets ─────────────────────────────────────────────────────────────────────────────


def test_an_unresolvable_host_fails_fast_naming_the_host():
    with Transport("http://nonexistent.invalid") as t:
        start = time.monotonic()
        with pytest.raises(tp.DnsError) as info:
            t.request("GET", "/api/user/ls")
        elapsed = time.monotonic() - start
        assert t.stats.attempts == 1
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    assert "'nonexistent.invalid'" in info.value.message


def test_a_closed_port_is_retried_within_the_budget_one_line_per_retry(caplog):
    budget = 1.0
    policy = RetryPolicy(backoff_base=0.1, connect_refused_budget=budget)
    with Transport(f"http://127.0.0.1:{closed_port()}", retry=policy) as t:
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="platforge.transport"):
            with pytest.raises(tp.ConnectionRefused) as info:
                t.request("GET", "/api/user/ls", params={"filter": "x"})
        elapsed = time.monotonic() - start
        stats = t.stats
    lines = retry_lines(caplog)
    assert info.value.attempts == stats.attempts >= 2
    assert len(lines) == stats.retries == stats.attempts - 1
    for n, line in enumerate(lines, start=2):
        match = RETRY_LINE.match(line)
        assert match, line
        assert (match["method"], match["path"], match["reason"]) == ("GET", "/api/user/ls", "connection refused")
        assert (int(match["attempt"]), int(match["of"])) == (n, policy.max_attempts)
    assert stats.retry_wait_seconds <= budget + 1e-9
    assert elapsed < budget + 0.5, f"took {elapsed:.2f} s"
