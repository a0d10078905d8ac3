"""One platform endpoint: an `httpx.Client` with timeouts, the retry rules of `_retry`, a
shared rate limit and the platform's error mapper.

Logging: every retry logs exactly one line at WARNING on the `platforge.transport` logger, e.g.
`retrying GET /api/user/ls after connection refused (attempt 2 of 8), waiting 0.40 s`: the
method, the path (never the query, with registered secrets masked), what failed (a fixed phrase
or an HTTP status, never the server's text) and the wait. Giving up because a wait would exceed
`max_total_delay` is one more WARNING line. No handler is installed: the `platforge` command
line shows these lines on stderr (`platforge.cli._logging`); a library user's logging
configuration decides for them.

Secrets: error messages carry the method, the URL path (never the query) and the server's
message, with every registered secret (passwords, tokens, and per-request values such as a
secret's content) replaced by `***`. Request bodies, uploaded files and headers never appear in
an error or a log line.
"""

from __future__ import annotations

import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any

import httpx

from ._errors import ConnectionRefused, ErrorMapper, RateLimited, error_from_status
from ._multipart import Files, open_parts
from ._ratelimit import RateLimiter
from ._redact import Redactor
from ._retry import Jitter, Outcome, RetryPolicy, classify_error, classify_exception, is_idempotent, parse_retry_after
from ._wire import wire_transport

log = logging.getLogger("platforge.transport")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)
_EPSILON = 1e-9

#: Per-request authentication: an `httpx.Auth`, a (user, password) pair for HTTP Basic, or None
#: for the transport's own (`httpx.Auth()` sends none at all).
RequestAuth = httpx.Auth | tuple[str, str] | None


@dataclass
class TransportStats:
    """Counters for reports ("API calls made, throttling events"). Updated under a lock."""

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    throttled: int = 0
    retry_wait_seconds: float = 0.0
    rate_limit_wait_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


class _NoCookieJar(CookieJar):
    """Authentication is explicit per request; a jar would silently replay whatever a server
    set (and send two session cookies after a re-login). This one holds nothing, ever: every
    way into a jar ends in `set_cookie`."""

    def set_cookie(self, cookie: Any) -> None:
        return None


class _NoCookies(httpx.Cookies):
    """The client's cookies: none. It does not even look at a response, where httpx's own
    adapts each one to `http.cookiejar`'s interfaces (a urllib request, the headers as an
    e-mail message) before the jar may refuse what it sets: a tenth of a listing's client CPU."""

    def __init__(self) -> None:
        super().__init__(_NoCookieJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.Client):
    """httpx's client with `_NoCookies` in place of its cookie store."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        if cookies:
            raise ValueError("the kit's clients keep no cookies: authenticate per request")


class Transport:
    """One platform endpoint over a shared `httpx.Client` (connection reuse), with timeouts,
    the retry rules of `_retry`, an optional client-side rate limit shared by all requests, an
    optional default `auth` (e.g. a `SessionAuth`) and an error mapper supplied by the platform.

    The rate limit is taken for every request that goes on the wire (an httpx request hook), so
    a login or a replay after a session renewal counts like any other request.

    `sleep`, `rng` and `wall_clock` are injectable for tests; the rate limiter has its own clock.
    """

    def __init__(
        self,
        base_url: str,
        *,
        error_mapper: ErrorMapper = error_from_status,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        redactor: Redactor | None = None,
        http_transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
        verify: bool | str | ssl.SSLContext = True,
        sleep: Callable[[float], None] = time.sleep,
        rng: Jitter | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.error_mapper = error_mapper
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter
        self.redactor = redactor or Redactor()
        self.stats = TransportStats()
        self._sleep = sleep
        self._rng: Jitter = rng or random.Random()
        self._wall_clock = wall_clock
        self._client = _Client(
            base_url=self.base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            transport=http_transport if http_transport is not None
            else wire_transport(self.base_url, verify=verify, limits=limits),
            limits=limits,
            verify=verify,
            follow_redirects=False,
            event_hooks={"request": [self._throttle]},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # Entry points ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: RequestAuth = None,
        idempotent: bool | None = None,
        secret_values: Iterable[str] = (),
    ) -> httpx.Response:
        """Send a request and return the successful response, or raise a `PlatformError`.

        `json=None` sends no body (a JSON body is sent for any method, DELETE included).
        `idempotent` overrides the method's default (see `_retry`). `secret_values` are masked
        in any error message, in addition to the transport's registered secrets.
        """
        method = method.upper()

        url, query = self._url(path, params)

        def build() -> httpx.Request:
            return self._client.build_request(method, url, params=query, json=json, headers=headers)

        return self._send(method, path, build, auth, is_idempotent(method, idempotent), secret_values)

    def upload(
        self,
        path: str,
        files: Files,
        *,
        method: str = "POST",
        fields: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: RequestAuth = None,
        idempotent: bool | None = None,
        secret_values: Iterable[str] = (),
    ) -> httpx.Response:
        """Send a `multipart/form-data` request: `files` (field name -> `FilePart`, streamed from
        disk when given by path) and plain form `fields`. Retried by the same rules as any
        request: an upload by POST is not idempotent unless the caller says so (e.g. it replaces
        a file by name), so a 503 or a dropped connection is then raised, not repeated."""
        method = method.upper()
        url, query = self._url(path, params)
        with open_parts(files) as parts:

            def build() -> httpx.Request:
                return self._client.build_request(method, url, params=query, data=dict(fields or {}),
                                                  files=parts, headers=headers)

            return self._send(method, path, build, auth, is_idempotent(method, idempotent), secret_values)

    # The retry loop -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        build: Callable[[], httpx.Request],
        auth: RequestAuth,
        safe: bool,
        secret_values: Iterable[str],
    ) -> httpx.Response:
        secrets = tuple(s for s in secret_values if s)
        policy = self.retry
        waited = 0.0
        refused_waited = 0.0
        self.stats.add(requests=1)
        attempt = 0
        while True:
            attempt += 1
            self.stats.add(attempts=1)
            started = time.monotonic()
            outcome = self._attempt(build, auth)
            if log.isEnabledFor(logging.DEBUG):
                status = outcome.response.status_code if outcome.response is not None else outcome.reason
                log.debug("%s %s -> %s (%.0f ms)", method, self._log_path(path, secrets), status,
                          (time.monotonic() - started) * 1000)
            if outcome.response is not None:
                return outcome.response
            error = outcome.error
            assert error is not None
            error.attempts = attempt
            error.method, error.path = method, path
            error.message = self.redactor.scrub(error.message, secrets)
            held = False
            if isinstance(error, RateLimited):
                self.stats.add(throttled=1)
                held = self.rate_limiter is not None and self.rate_limiter.throttled(error.retry_after)
            if not outcome.allows_retry(safe) or attempt >= policy.max_attempts:
                raise error
            delay = outcome.retry_after
            if delay is None:
                delay = policy.backoff(attempt, self._rng)
            refused = isinstance(error, ConnectionRefused)
            if refused:
                left = policy.connect_refused_budget - refused_waited
                if left <= _EPSILON:
                    raise error
                delay = min(delay, left)
            if waited + delay > policy.max_total_delay:
                log.warning("giving up on %s %s after %s: a %.1f s wait would exceed the retry budget of %.1f s",
                            method, self._log_path(path, secrets), outcome.reason, delay, policy.max_total_delay)
                raise error
            log.warning("retrying %s %s after %s (attempt %d of %d), waiting %.2f s", method,
                        self._log_path(path, secrets), outcome.reason, attempt + 1, policy.max_attempts, delay)
            waited += delay
            if refused:
                refused_waited += delay
            self.stats.add(retries=1, retry_wait_seconds=delay)
            if held:
                continue  # the limiter holds every caller, this one included, until Retry-After
            self._sleep(delay)

    def _attempt(self, build: Callable[[], httpx.Request], auth: RequestAuth) -> Outcome:
        """One try, classified for the retry rules of `_retry`."""
        request: httpx.Request | None = None
        try:
            request = build()
            response = self._client.send(request, auth=auth) if auth else self._client.send(request)
        except httpx.HTTPError as exc:
            return classify_exception(exc, request.url if request is not None else self._client.base_url)
        if response.history:
            # An auth flow replayed the request (a renewed session): each replay went on the
            # wire as a request of its own.
            self.stats.add(requests=len(response.history), attempts=len(response.history))
        error = self.error_mapper(response)
        if error is None:
            if self.rate_limiter is not None:
                self.rate_limiter.succeeded()
            return Outcome(response=response)
        if error.status is None:
            error.status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._wall_clock())
        if isinstance(error, RateLimited) and error.retry_after is None:
            error.retry_after = retry_after
        return classify_error(error, self.retry, retry_after)

    # Pieces ---------------------------------------------------------------------------------

    def _url(self, path: str, params: Mapping[str, Any] | None) -> tuple[str, Mapping[str, Any] | None]:
        """The request's absolute URL with its query, where httpx would otherwise parse the
        path, the base and the merged URL again for every request (about a fifth of a
        listing's client CPU). The same encoder writes the query; a path that carries a query
        of its own, or an absolute URL, is left to httpx's merge."""
        if "?" in path or "#" in path or "://" in path:
            return path, params
        url = self.base_url + "/" + path.lstrip("/")
        if params:
            url += "?" + str(httpx.QueryParams(params))
        return url, None

    def _log_path(self, path: str, secrets: Iterable[str]) -> str:
        """The path as a log line may show it: no query or fragment, secrets masked."""
        return self.redactor.scrub(re.split(r"[?#]", path, maxsplit=1)[0], secrets)

    def _throttle(self, request: httpx.Request) -> None:
        if self.rate_limiter is not None:
            waited = self.rate_limiter.acquire()
            if waited:
                self.stats.add(rate_limit_wait_seconds=waited)
