"""When a failed request may be repeated, and how long to wait first.

A retry repeats a request whose first attempt may or may not have had an effect. platforge
promises that no write is sent twice unless live state proves the first did not happen, so the
transport repeats such a request only when a repeat cannot be a second write:

- GET, HEAD and OPTIONS only read, and are always repeated;
- a write (PUT, DELETE, POST, PATCH, uploads) is repeated only when its caller says
  `idempotent=True`, which callers reserve for requests outside the apply's writes whose
  protocol makes a repeat harmless (logging in, the state backend's own objects). An apply's
  writes are never marked so: after an ambiguous failure the applier reads live state and
  decides from it (`platforge.core.apply`). RFC 9110 calls PUT and DELETE idempotent, but a
  repeated PUT can undo someone else's change made in between, and a repeated DELETE answers
  404, which looks like a different failure.

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

A 401 is never retried here: renewing a session is the job of the client's `SessionAuth`, which
logs in again once and replays the request (a new session, not a repeat of a failed attempt).

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
"""

from __future__ import annotations

import email.utils
import enum
import math
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Protocol

import httpx

from ._errors import ConnectionRefused, DnsError, PlatformError, TlsError, TransportError, truncate

#: Methods repeated after an ambiguous failure without the caller saying so: those that only read.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Jitter(Protocol):
    """The one method of `random.Random` that backoff needs; tests pass a fake that shows the
    ceiling of every jittered wait."""

    def uniform(self, a: float, b: float) -> float: ...


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
        return min(self.backoff_cap, self.backoff_base * 2.0 ** (retry - 1))

    def backoff(self, retry: int, rng: Jitter) -> float:
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


# ── classification of one attempt ──────────────────────────────────────────────────────────


class Retry(enum.Enum):
    ANY = "any"  # the server provably did not act: safe for every request
    IDEMPOTENT = "idempotent"  # the server may have acted: safe for idempotent requests only
    NEVER = "never"  # deterministic, or a bug: repeating cannot help


@dataclass
class Outcome:
    """One attempt, classified: a response, or an error with what the retry rules allow."""

    response: httpx.Response | None = None
    error: PlatformError | None = None
    retry: Retry = Retry.NEVER
    retry_after: float | None = None
    reason: str = "an error"  # what failed, for the retry log line: a fixed phrase, never server text

    def allows_retry(self, idempotent: bool) -> bool:
        return self.retry == Retry.ANY or (self.retry == Retry.IDEMPOTENT and idempotent)


# Exceptions raised before any byte of the request reached the server.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Exceptions after which the request may have been (partly) processed.
MAYBE_SENT = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


def classify_exception(exc: httpx.HTTPError, url: httpx.URL) -> Outcome:
    """An attempt that raised instead of answering."""
    if isinstance(exc, NOT_SENT):
        return _connect_failure(exc, url)
    if isinstance(exc, MAYBE_SENT):
        return Outcome(error=_transport_error(exc, sent=True), retry=Retry.IDEMPOTENT, reason=phrase(exc))
    # Bad URL, unsupported protocol, decoding: deterministic.
    error = TransportError(f"{type(exc).__name__}: {truncate(str(exc), 200)}", request_sent=False)
    return Outcome(error=error, retry=Retry.NEVER, reason=phrase(exc))


def classify_error(error: PlatformError, policy: RetryPolicy, retry_after: float | None) -> Outcome:
    """An attempt that answered with what the platform's error mapper calls an error."""
    if error.status in policy.refused_statuses:
        retry = Retry.ANY
    elif error.status in policy.retry_statuses:
        retry = Retry.IDEMPOTENT
    else:
        retry = Retry.NEVER
    return Outcome(error=error, retry=retry, retry_after=retry_after, reason=status_phrase(error.status))


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


def _connect_failure(exc: httpx.HTTPError, url: httpx.URL) -> Outcome:
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
        return Outcome(error=TlsError(message), retry=Retry.NEVER, reason="TLS handshake failure")
    dns = _root(exc, socket.gaierror)
    if dns is not None:
        detail = truncate(str(dns) or type(dns).__name__, 200)
        message = f"could not resolve host {url.host!r} ({detail}): check the host name in the URL"
        return Outcome(error=DnsError(message), retry=Retry.NEVER, reason="DNS failure")
    if _root(exc, ConnectionRefusedError) is not None:
        message = f"connection refused by {_host_port(url)}: is the server running, and is this its port?"
        return Outcome(error=ConnectionRefused(message), retry=Retry.ANY, reason="connection refused")
    return Outcome(error=_transport_error(exc, sent=False), retry=Retry.ANY, reason=phrase(exc))


def phrase(exc: BaseException) -> str:
    """`ConnectTimeout` -> "connect timeout": names the failure without its (server) text."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(exc).__name__).lower()


def status_phrase(status: int | None) -> str:
    if status is None:
        return "an error response"
    try:
        return f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()
    except (TypeError, ValueError):
        return f"HTTP {status}"
