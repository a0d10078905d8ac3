"""What every platform client shares: typed errors, safe retries, a rate limit and complete paging.

Nothing here knows a particular platform. A platform client (`provider/datatailr/client.py`, and
later Dataiku, Dataloop, ...) builds one `Transport` with its own *error mapper*: the function
that decides whether a response is an error and which `PlatformError` subclass it is, since
platforms signal errors differently (Datatailr also sends `{"error": ...}` with status 200).

Retry safety
------------
A retry repeats a request whose first attempt may or may not have had an effect, so it is only
allowed when a repeat cannot do harm. A request is **idempotent** when repeating it leaves the
platform as one successful attempt would:

- GET, HEAD, OPTIONS, PUT and DELETE are idempotent by method (RFC 9110 §9.2.2) unless the caller
  says `idempotent=False` (e.g. a rename sent as PUT: the repeat finds the old name gone);
- POST and PATCH are not, unless the caller says `idempotent=True` (e.g. a set-add such as
  Datatailr's `group add-users`, or a replace such as `kv set-acls`).

Which failures are retried, and for which requests:

| failure                                              | may the server have acted? | retried for                 |
|------------------------------------------------------|----------------------------|-----------------------------|
| 429 Too Many Requests                                | no: refused before work    | every request               |
| connection refused (`ConnectionRefused`)             | no: nothing was sent       | every request, within       |
|                                                      |                            | `connect_refused_budget`    |
| other connect error / connect timeout / pool timeout | no: nothing was sent       | every request               |
| TLS handshake failed (`TlsError`): wrong scheme such | no: nothing was sent       | never                       |
| as `https://` to a plain-HTTP server, or a           |                            |                             |
| certificate that is not trusted                      |                            |                             |
| host name does not resolve (`DnsError`)              | no: nothing was sent       | never                       |
| 502, 503, 504                                        | unknown (gateway, restart) | idempotent only             |
| read error / read timeout / write error / connection | yes, possibly              | idempotent only             |
| dropped mid-response (remote protocol error)         |                            |                             |
| any other status (4xx other than 429, 500, 501, ...) | deterministic or a bug     | never                       |

A connect failure is classified by the exception behind it (following `__cause__`,
`__context__` and the exception an httpcore error wraps), never by its message: an
`ssl.SSLError` is TLS, a `socket.gaierror` DNS, a `ConnectionRefusedError` (ECONNREFUSED) a
refusal. TLS and DNS failures cannot heal by repeating the same request, so they are raised at
once with a message that says what to check. A refusal usually means the server is not running
(or is restarting), so it is retried, but only for a few seconds, not the minute allowed below.

The wait before retry *n* (1-based) is the response's `Retry-After` (seconds or an HTTP date)
when it has one, else "full jitter" exponential backoff: uniform in
`[0, min(backoff_cap, backoff_base * 2**(n-1))]`. Attempts are capped (`max_attempts`) and so is
the sum of all waits (`max_total_delay`): a `Retry-After` that would exceed the remaining budget
ends the retries at once and the error (e.g. `RateLimited.retry_after`) is raised to the caller.
The waits after refused connections also count against `connect_refused_budget`; the last such
wait is shortened to what is left of it, and the attempt after it is the last.
Defaults: 8 attempts, backoff 0.25 s doubling up to 8 s, at most 60 s of waiting per request
(a 30% transient failure rate then fails one request in ~15,000: 0.3**8), at most 3 s of it
after refused connections.

Logging
-------
Every retry logs exactly one line at WARNING on the `platforge.transport` logger, e.g.
`retrying GET /api/user/ls after connection refused (attempt 2 of 8), waiting 0.40 s`: the
method, the path (never the query, with registered secrets masked), what failed (a fixed
phrase or an HTTP status, never the server's text) and the wait. Giving up because a wait would
exceed `max_total_delay` is one more WARNING line. No handler is installed: the `platforge`
command line shows these lines on stderr (`platforge.cli._logging`); a library user's logging
configuration decides for them.

Secrets
-------
Error messages carry the method, the URL path (never the query) and the server's message, with
every registered secret (passwords, tokens, and per-request values such as a secret's content)
replaced by `***`. Request bodies and headers never appear in an error.
"""

from __future__ import annotations

import email.utils
import enum
import json
import logging
import math
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Generic, Protocol, TypeVar

import httpx

__all__ = [
    "AuthenticationError",
    "BadRequest",
    "Conflict",
    "ConnectionRefused",
    "DnsError",
    "ErrorMapper",
    "NotFound",
    "Page",
    "PagingError",
    "PermissionDenied",
    "PlatformError",
    "RateLimited",
    "RateLimiter",
    "Redactor",
    "RetryPolicy",
    "ServerError",
    "TlsError",
    "Transport",
    "TransportError",
    "TransportStats",
    "error_class_for_status",
    "error_from_status",
    "is_idempotent",
    "iter_pages",
    "paginate",
    "parse_retry_after",
    "response_message",
]

log = logging.getLogger("platforge.transport")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_MESSAGE_CHARS = 500

# ── errors ───────────────────────────────────────────────────────────────────────────────────


class PlatformError(Exception):
    """A request to a platform failed. `status` is the HTTP status (None when no response came
    back), `method` and `path` say which request, `attempts` how many tries were made."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.attempts = attempts

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        # `args` is what tracebacks and pickling fall back on: keep it the (masked) message.
        self._message = value
        self.args = (value,)

    def __str__(self) -> str:
        where = " ".join(p for p in (self.method, self.path) if p)
        status = f"HTTP {self.status}" if self.status is not None else type(self).__name__
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        head = f"{where} failed with {status}{tries}" if where else f"{status}{tries}"
        return f"{head}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, method={self.method!r}, "
            f"path={self.path!r}, message={self.message!r})"
        )

    def _fields(self) -> dict[str, Any]:
        return {
            "status": self.status, "method": self.method, "path": self.path, "attempts": self.attempts,
        }

    def __reduce__(self):  # keyword-only arguments need help to survive pickling (xdist, Pulumi)
        return (_rebuild_error, (type(self), self.message, self._fields()))


def _rebuild_error(cls: type[PlatformError], message: str, fields: dict[str, Any]) -> PlatformError:
    return cls(message, **fields)


class BadRequest(PlatformError):
    """The platform rejected the request as invalid (400, 405, 413, 422): fix the input."""


class AuthenticationError(PlatformError):
    """No valid session: missing or wrong credentials, or an expired session (401)."""


class PermissionDenied(PlatformError):
    """Authenticated, but not allowed to do this (403)."""


class NotFound(PlatformError):
    """The object (or the command) does not exist (404)."""


class Conflict(PlatformError):
    """The request clashes with the current state: already exists, not unique, in use (409)."""


class RateLimited(PlatformError):
    """Throttled (429). `retry_after` is the server's requested wait in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "retry_after": self.retry_after}


class ServerError(PlatformError):
    """The platform failed (5xx)."""


class TransportError(PlatformError):
    """No usable response: connection refused or dropped, timeout, protocol error.
    `request_sent` is False only when the request provably never reached the server; when True
    a non-idempotent request may or may not have taken effect, so re-read before repeating it."""

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "request_sent": self.request_sent}


class TlsError(TransportError):
    """The TLS handshake failed: the endpoint does not speak TLS (an `https://` URL for a
    plain-HTTP server) or its certificate is not trusted. Never retried: nothing was sent."""

    def __init__(self, message: str, *, request_sent: bool = False, **kwargs: Any) -> None:
        super().__init__(message, request_sent=request_sent, **kwargs)


class DnsError(TransportError):
    """The endpoint's host name did not resolve. Never retried: nothing was sent."""

    def __init__(self, message: str, *, request_sent: bool = False, **kwargs: Any) -> None:
        super().__init__(message, request_sent=request_sent, **kwargs)


class ConnectionRefused(TransportError):
    """Nothing accepted the connection at the endpoint's host and port. Retried for every
    request, but only within `RetryPolicy.connect_refused_budget`: nothing was sent."""

    def __init__(self, message: str, *, request_sent: bool = False, **kwargs: Any) -> None:
        super().__init__(message, request_sent=request_sent, **kwargs)


class PagingError(PlatformError):
    """A listing did not end: the server seems to ignore `offset`."""


_STATUS_CLASSES: dict[int, type[PlatformError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    405: BadRequest,
    409: Conflict,
    413: BadRequest,
    422: BadRequest,
    429: RateLimited,
}


def error_class_for_status(status: int) -> type[PlatformError]:
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    return PlatformError


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def response_message(response: httpx.Response) -> str:
    """The human part of an error response: a JSON `error`/`message`/`detail`, an HTML page's
    title, else the (truncated) body text."""
    text = response.text
    content_type = response.headers.get("content-type", "")
    if "json" in content_type or text[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("error", "message", "detail"):
                value = data.get(key)
                if value:
                    return truncate(value if isinstance(value, str) else json.dumps(value))
    if "html" in content_type:
        title = _TITLE.search(text)
        return f"HTML page {truncate(title.group(1).strip())!r}" if title else "an HTML page"
    return truncate(text.strip()) or f"HTTP {response.status_code} with an empty body"


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_from_status(response: httpx.Response) -> PlatformError | None:
    """The platform-neutral mapper: status >= 400 is an error, classed by status."""
    if response.status_code < 400:
        return None
    cls = error_class_for_status(response.status_code)
    return cls(response_message(response), status=response.status_code)


class ErrorMapper(Protocol):
    """Decides whether `response` is an error. Returns the error (method, path and retry_after
    are filled in by the transport) or None for a success."""

    def __call__(self, response: httpx.Response) -> PlatformError | None: ...


# ── secrets ──────────────────────────────────────────────────────────────────────────────────


class Redactor:
    """Replaces registered secret strings with `***` (longest first, so that a secret containing
    another is removed whole). Thread-safe; secrets are never part of its repr."""

    MASK = "***"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def discard(self, secret: str | None) -> None:
        with self._lock:
            self._secrets.discard(secret or "")

    def scrub(self, text: str, extra: Iterable[str] = ()) -> str:
        with self._lock:
            secrets = self._secrets | {s for s in extra if s}
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, self.MASK)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


# ── retry policy ─────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. `max_attempts` counts the first try; `max_total_delay`
    caps the sum of all waits of one request, `connect_refused_budget` the sum of the waits
    after refused connections (a server that is down rarely comes back within seconds)."""

    max_attempts: int = 8
    backoff_base: float = 0.25
    backoff_cap: float = 8.0
    max_total_delay: float = 60.0
    connect_refused_budget: float = 3.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    # Statuses retried for any method because the server refused the work before doing it.
    refused_statuses: frozenset[int] = frozenset({429})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.backoff_base, self.backoff_cap, self.max_total_delay, self.connect_refused_budget) < 0:
            raise ValueError("backoff_base, backoff_cap, max_total_delay and connect_refused_budget must be >= 0")

    @classmethod
    def never(cls) -> RetryPolicy:
        return cls(max_attempts=1)

    def backoff_ceiling(self, retry: int) -> float:
        """The upper bound of the jittered wait before retry number `retry` (1-based)."""
        return min(self.backoff_cap, self.backoff_base * 2 ** (retry - 1))

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, ceiling], which spreads out clients that failed together."""
        return rng.uniform(0.0, self.backoff_ceiling(retry))


def is_idempotent(method: str, idempotent: bool | None = None) -> bool:
    """The caller's explicit word wins; otherwise the method decides (see the module docstring)."""
    return idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds to wait: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
    None when absent or unparseable; a date in the past means 0."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


# ── rate limiting ────────────────────────────────────────────────────────────────────────────


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

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, burst={self.burst})"


# ── transport ────────────────────────────────────────────────────────────────────────────────


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


def _no_cookies() -> CookieJar:
    """Authentication is explicit per request; a jar would silently replay whatever a server
    set (and send two session cookies after a re-login)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


# Exceptions raised before any byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Exceptions after which the request may have been (partly) processed.
_MAYBE_SENT = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


class Transport:
    """One platform endpoint over a shared `httpx.Client` (connection reuse), with timeouts,
    the retry rules of the module docstring, an optional client-side rate limit shared by all
    requests, and an error mapper supplied by the platform client.

    `sleep`, `rng` and `wall_clock` are injectable for tests; the rate limiter has its own clock.
    """

    def __init__(
        self,
        base_url: str,
        *,
        error_mapper: ErrorMapper = error_from_status,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: httpx.Timeout | float = httpx.Timeout(30.0, connect=10.0),
        headers: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        http_transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits = httpx.Limits(max_connections=20, max_keepalive_connections=10),
        verify: bool | str = True,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.error_mapper = error_mapper
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter
        self.redactor = redactor or Redactor()
        self.stats = TransportStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._wall_clock = wall_clock
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=dict(headers or {}),
            timeout=timeout,
            transport=http_transport,
            limits=limits,
            verify=verify,
            follow_redirects=False,
            cookies=_no_cookies(),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # The one entry point ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        idempotent: bool | None = None,
        secret_values: Iterable[str] = (),
    ) -> httpx.Response:
        """Send a request and return the successful response, or raise a `PlatformError`.

        `json=None` sends no body (a JSON body is sent for any method, DELETE included).
        `idempotent` overrides the method's default (module docstring). `secret_values` are
        masked in any error message, in addition to the transport's registered secrets.
        """
        method = method.upper()
        safe = is_idempotent(method, idempotent)
        secrets = tuple(s for s in secret_values if s)
        policy = self.retry
        waited = 0.0
        refused_waited = 0.0
        self.stats.add(requests=1)
        attempt = 0
        while True:
            attempt += 1
            self._throttle()
            self.stats.add(attempts=1)
            outcome = self._attempt(method, path, params, json, headers, auth)
            if outcome.response is not None:
                return outcome.response
            error = outcome.error
            assert error is not None
            error.attempts = attempt
            error.method, error.path = method, path
            error.message = self.redactor.scrub(error.message, secrets)
            if isinstance(error, RateLimited):
                self.stats.add(throttled=1)
            allowed = outcome.retry == _Retry.ANY or (outcome.retry == _Retry.IDEMPOTENT and safe)
            if not allowed or attempt >= policy.max_attempts:
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
            self._sleep(delay)

    # Pieces ---------------------------------------------------------------------------------

    def _log_path(self, path: str, secrets: Iterable[str]) -> str:
        """The path as a log line may show it: no query or fragment, secrets masked."""
        return self.redactor.scrub(re.split(r"[?#]", path, maxsplit=1)[0], secrets)

    def _throttle(self) -> None:
        if self.rate_limiter is not None:
            waited = self.rate_limiter.acquire()
            if waited:
                self.stats.add(rate_limit_wait_seconds=waited)

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Any,
        headers: Mapping[str, str] | None,
        auth: httpx.Auth | tuple[str, str] | None,
    ) -> _Outcome:
        """One try, classified for the retry rules of the module docstring."""
        request: httpx.Request | None = None
        try:
            request = self._client.build_request(method, path, params=params, json=body, headers=headers)
            response = self._client.send(request, auth=auth) if auth else self._client.send(request)
        except _NOT_SENT as exc:
            return _connect_failure(exc, request.url if request is not None else self._client.base_url)
        except _MAYBE_SENT as exc:
            return _Outcome(error=_transport_error(exc, sent=True), retry=_Retry.IDEMPOTENT, reason=_phrase(exc))
        except httpx.HTTPError as exc:  # bad URL, unsupported protocol, decoding: deterministic
            error = TransportError(f"{type(exc).__name__}: {truncate(str(exc), 200)}", request_sent=False)
            return _Outcome(error=error, retry=_Retry.NEVER, reason=_phrase(exc))
        error = self.error_mapper(response)
        if error is None:
            return _Outcome(response=response)
        if error.status is None:
            error.status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._wall_clock())
        if isinstance(error, RateLimited) and error.retry_after is None:
            error.retry_after = retry_after
        if error.status in self.retry.refused_statuses:
            retry = _Retry.ANY
        elif error.status in self.retry.retry_statuses:
            retry = _Retry.IDEMPOTENT
        else:
            retry = _Retry.NEVER
        return _Outcome(error=error, retry=retry, retry_after=retry_after, reason=_status_phrase(error.status))


class _Retry(enum.Enum):
    ANY = "any"  # the server provably did not act: safe for every request
    IDEMPOTENT = "idempotent"  # the server may have acted: safe for idempotent requests only
    NEVER = "never"  # deterministic, or a bug: repeating cannot help


@dataclass
class _Outcome:
    response: httpx.Response | None = None
    error: PlatformError | None = None
    retry: _Retry = _Retry.NEVER
    retry_after: float | None = None
    reason: str = "an error"  # what failed, for the retry log line: a fixed phrase, never server text


_EPSILON = 1e-9


def _transport_error(exc: httpx.HTTPError, *, sent: bool) -> TransportError:
    detail = truncate(str(exc) or type(exc).__name__, 200)
    what = "connection failed before a complete response" if sent else "could not connect"
    return TransportError(f"{what} ({type(exc).__name__}: {detail})", request_sent=sent)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions behind it: `__cause__`, `__context__` (httpcore's connection
    pool re-raises its ConnectError `from None`, which leaves the OS error only there) and the
    exception an httpcore error was built from (`httpcore.ConnectError(oserror)`). Only httpx
    and httpcore exceptions are looked behind: the OS or ssl error at the bottom is the answer,
    and whatever *it* happened during (the caller's own `except` block) is not."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if type(current).__module__.partition(".")[0] in ("httpx", "httpcore"):
            todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
            todo.extend(a for a in current.args if isinstance(a, BaseException))


def _root(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> BaseException | None:
    return next((e for e in _causes(exc) if isinstance(e, kind)), None)


def _host_port(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return f"{host}:{port}" if port else host


def _connect_failure(exc: httpx.HTTPError, url: httpx.URL) -> _Outcome:
    """Nothing was sent. TLS and DNS failures are permanent, a refusal is retried within the
    refused budget, anything else (timeouts, unreachable networks, ...) by the general rules."""
    tls = _root(exc, ssl.SSLError)
    if tls is not None:
        detail = truncate(str(tls) or type(tls).__name__, 200)
        if isinstance(tls, ssl.SSLCertVerificationError):
            message = (f"the TLS certificate of {_host_port(url)} is not trusted ({detail}): check the host name, "
                       "or trust the CA that signed it (SSL_CERT_FILE, or the client's verify=)")
        else:
            message = (f"TLS handshake with {_host_port(url)} failed ({detail}): the endpoint may not speak TLS; "
                       "check the scheme of the URL (http:// vs https://)")
        return _Outcome(error=TlsError(message), retry=_Retry.NEVER, reason="TLS handshake failure")
    dns = _root(exc, socket.gaierror)
    if dns is not None:
        detail = truncate(str(dns) or type(dns).__name__, 200)
        message = f"could not resolve host {url.host!r} ({detail}): check the host name in the URL"
        return _Outcome(error=DnsError(message), retry=_Retry.NEVER, reason="DNS failure")
    if _root(exc, ConnectionRefusedError) is not None:
        message = f"connection refused by {_host_port(url)}: is the server running, and is this its port?"
        return _Outcome(error=ConnectionRefused(message), retry=_Retry.ANY, reason="connection refused")
    return _Outcome(error=_transport_error(exc, sent=False), retry=_Retry.ANY, reason=_phrase(exc))


def _phrase(exc: BaseException) -> str:
    """`ConnectTimeout` -> "connect timeout": names the failure without its (server) text."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(exc).__name__).lower()


def _status_phrase(status: int | None) -> str:
    if status is None:
        return "an error response"
    try:
        return f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
    except (TypeError, ValueError):
        return f"HTTP {status}"


# ── paging ───────────────────────────────────────────────────────────────────────────────────

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `total` is the number of matches when the platform reports it."""

    items: Sequence[T]
    total: int | None = None


PageFetcher = Callable[[int, int], "Page[T] | Sequence[T]"]


def iter_pages(fetch: PageFetcher[T], *, page_size: int = 100, max_pages: int = 100_000) -> Iterator[Sequence[T]]:
    """Yield pages from `fetch(offset, limit)` until the listing is complete: a page shorter
    than `limit` (or empty), or `offset` reaching a reported `total`. A page *longer* than the
    limit means the server ignored it and sent everything from `offset`, which also ends it."""
    if page_size < 1:
        raise ValueError("page_size must be >= 1")
    offset = 0
    for _ in range(max_pages):
        page = fetch(offset, page_size)
        items, total = (page.items, page.total) if isinstance(page, Page) else (page, None)
        if items:
            yield items
        offset += len(items)
        if len(items) != page_size or (total is not None and offset >= total):
            return
    raise PagingError(f"listing did not end after {max_pages} pages of {page_size}: does the server honour offset?")


def paginate(
    fetch: PageFetcher[T],
    *,
    page_size: int = 100,
    key: Callable[[T], Hashable] | None = None,
    max_pages: int = 100_000,
) -> list[T]:
    """The complete listing. Offset paging is not a snapshot: an object created while paging can
    shift an item into the next page twice (pass `key` to drop such duplicates), and one deleted
    can shift an item out of view (list again if that matters)."""
    out: list[T] = []
    seen: set[Hashable] = set()
    for items in iter_pages(fetch, page_size=page_size, max_pages=max_pages):
        for item in items:
            if key is not None:
                k = key(item)
                if k in seen:
                    continue
                seen.add(k)
            out.append(item)
    return out
