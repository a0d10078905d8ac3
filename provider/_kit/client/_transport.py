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

import json as jsonlib
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

from ._auth import SessionAuth
from ._errors import ConnectionRefused, ErrorMapper, RateLimited, error_from_status
from ._multipart import Files, open_parts
from ._ratelimit import RateLimiter
from ._redact import Redactor
from ._retry import Jitter, Outcome, RetryPolicy, classify_error, classify_exception, is_idempotent, parse_retry_after
from ._wire import WireTransport, origin_of, wire_transport

log = logging.getLogger("platforge.transport")
_auth_log = logging.getLogger("platforge.auth")  # the plain lane's session renewals, as SessionAuth logs them

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
        transport = http_transport if http_transport is not None \
            else wire_transport(self.base_url, verify=verify, limits=limits)
        self._client = _Client(
            base_url=self.base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            transport=transport,
            limits=limits,
            verify=verify,
            follow_redirects=False,
            event_hooks={"request": [self._throttle]},
        )
        self._lane = _PlainLane.of(self._client, transport, self.base_url)

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
        safe = is_idempotent(method, idempotent)
        url, query = self._url(path, params)
        if self._lane is not None and auth is None and not headers and query is None:
            target = self._lane.target(url)
            if target is not None:
                lane, body = self._lane, None if json is None else _json_body(json)
                return self._send(method, path, lambda: self._lane_attempt(lane, method, target, url, body), safe,
                                  secret_values)

        def build() -> httpx.Request:
            return self._client.build_request(method, url, params=query, json=json, headers=headers)

        return self._send(method, path, lambda: self._attempt(build, auth), safe, secret_values)

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

            return self._send(method, path, lambda: self._attempt(build, auth), is_idempotent(method, idempotent),
                              secret_values)

    # The retry loop -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        try_once: Callable[[], Outcome],
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
            outcome = try_once()
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
        return self._judge(response)

    def _lane_attempt(self, lane: _PlainLane, method: str, target: str, url: str, body: bytes | None) -> Outcome:
        """One try by the plain lane, classified as `_attempt` classifies httpx's."""
        try:
            response = lane.send(method, target, url, body, self._take_rate)
        except httpx.HTTPError as exc:
            return classify_exception(exc, httpx.URL(url))
        return self._judge(response)

    def _judge(self, response: httpx.Response) -> Outcome:
        """A response, as the error mapper and the retry rules see it."""
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
        self._take_rate()

    def _take_rate(self) -> None:
        if self.rate_limiter is not None:
            waited = self.rate_limiter.acquire()
            if waited:
                self.stats.add(rate_limit_wait_seconds=waited)


def _json_body(value: Any) -> bytes:
    """A JSON body exactly as httpx writes one (`httpx._content.encode_json`)."""
    return jsonlib.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


#: A request target httpx sends exactly as given: unreserved and sub-delimiter characters and
#: well-formed percent escapes, nothing httpx would quote or (dot segments) normalise.
_PLAIN_TARGET = re.compile(r"(?:[A-Za-z0-9\-_~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2}|\.(?<!/\.))*")


class _LaneResponse(httpx.Response):
    """A response to a request the lane wrote without an `httpx.Request`: one is made only when
    something asks for it (an error message, a platform's envelope check)."""

    lane_request: tuple[str, str] = ("GET", "")

    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            self._request = httpx.Request(*self.lane_request)
        return self._request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value

    def raise_for_status(self) -> httpx.Response:
        _ = self.request  # httpx's check reads the attribute the property fills
        return super().raise_for_status()


class _PlainLane:
    """Plain requests (a JSON body or none, no per-request headers or auth, a target httpx would
    send unchanged) written straight to the kit's wire. Why: building an `httpx.Request` (its URL
    parsed and checked character by character, its headers normalised and searched again for
    each default) and sending it through `httpx.Client` (auth flow, hooks, stream wrappers) cost
    more client CPU than the exchange itself, and a plan reads up to thousands of documents.

    It sends what httpx would: the headers of a request built by the same client (host, the
    client's defaults and its own headers), the client's auth (HTTP Basic, none, or a
    `SessionAuth`, whose rejection renews the session once and replays, as its flow does), then
    `Content-Length` and `Content-Type` as httpx adds them; the JSON as httpx encodes it; the
    client's timeouts and the transport's rate limit. Anything else takes httpx's way."""

    def __init__(self, client: httpx.Client, wire: WireTransport, base_url: str, session: SessionAuth | None,
                 static: bytes | None) -> None:
        self._client = client
        self._wire = wire
        self._base_url = base_url
        self._origin = origin_of(httpx.URL(base_url))
        # The URLs `Transport._url` writes start with the base URL: the target is what follows
        # its scheme and authority.
        path_at = base_url.find("/", base_url.index("://") + 3)
        self._authority_end = len(base_url) if path_at < 0 else path_at
        self._timeouts = client.timeout.as_dict()
        self._session = session
        self._static = static
        self._session_block: tuple[str, bytes] | None = None

    @classmethod
    def of(cls, client: httpx.Client, transport: httpx.BaseTransport | None, base_url: str) -> _PlainLane | None:
        """The lane of a client on the kit's wire whose default auth it can carry, else None."""
        if not isinstance(transport, WireTransport) or "?" in base_url or "#" in base_url \
                or httpx.URL(base_url).userinfo:  # credentials in the URL: httpx's auth from them
            return None
        if any(name in client.headers for name in ("content-type", "content-length", "transfer-encoding")):
            return None  # httpx keeps the client's own on every request, in place of what the lane writes
        auth = client.auth
        if isinstance(auth, SessionAuth):
            return cls(client, transport, base_url, auth, None)
        probe = client.build_request("GET", base_url)
        if type(auth) is httpx.BasicAuth:
            probe = next(auth.sync_auth_flow(probe))
        elif auth is not None and type(auth) is not httpx.Auth:
            return None  # an auth flow only httpx can run
        return cls(client, transport, base_url, None, _header_block(probe))

    def target(self, url: str) -> str | None:
        """The request target of an absolute URL under the base URL (as `Transport._url` writes
        it), or None where httpx must write it."""
        if not url.startswith(self._base_url + "/"):  # an absolute URL elsewhere, or a relative one
            return None
        target = url[self._authority_end:]
        return target if _PLAIN_TARGET.fullmatch(target) else None

    def send(self, method: str, target: str, url: str, body: bytes | None, throttle: Callable[[], None]) -> httpx.Response:
        token = self._session.current() if self._session is not None else None
        response = self._exchange(method, target, url, body, token, throttle)
        if token is None or self._session is None or not self._session.can_renew or not self._session.rejects(response):
            return response
        _auth_log.info("session rejected; logging in again")
        replay = self._exchange(method, target, url, body, self._session.renew(stale=token), throttle)
        replay.history = [response]
        return replay

    def _exchange(self, method: str, target: str, url: str, body: bytes | None, token: str | None,
                  throttle: Callable[[], None]) -> httpx.Response:
        block = self._headers(token)
        data = b"%s %s HTTP/1.1\r\n%s" % (method.encode("ascii"), target.encode("ascii"), block)
        if body is not None:
            data += b"Content-Length: %d\r\nContent-Type: application/json\r\n\r\n%s" % (len(body), body)
        elif method in ("POST", "PUT", "PATCH"):
            data += b"Content-Length: 0\r\n\r\n"
        else:
            data += b"\r\n"
        throttle()
        response = self._wire.send_bytes(self._origin, method, data, self._timeouts, _LaneResponse)
        assert isinstance(response, _LaneResponse)
        response.lane_request = (method, url)
        response.read()  # as httpx's client reads every response it is not asked to stream
        return response

    def _headers(self, token: str | None) -> bytes:
        if token is None or self._session is None:
            assert self._static is not None
            return self._static
        cached = self._session_block
        if cached is None or cached[0] != token:
            probe = self._client.build_request("GET", self._base_url)
            self._session.attach(probe, token)
            cached = self._session_block = (token, _header_block(probe))
        return cached[1]


def _header_block(probe: httpx.Request) -> bytes:
    """The header lines of a bodiless GET as httpx writes them: what every request carries."""
    return b"".join(b"%s: %s\r\n" % (name, value) for name, value in probe.headers.raw)
