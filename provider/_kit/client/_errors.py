"""Typed errors and the mappers that turn a response into one.

Platforms signal failure differently (Datatailr also sends `{"error": ...}` with status 200,
Dataiku some "not found" as a 500), so the decision "is this response an error, and which" is a
function the platform supplies (`ErrorMapper`); `error_from_status` is the neutral default. The
classes are what callers branch on (`NotFound` means absent, `Conflict` means exists), so they
stay few and platform-neutral.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Any, Protocol

import httpx

MAX_MESSAGE_CHARS = 500


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

    def __reduce__(self) -> tuple[Callable[..., PlatformError], tuple[Any, ...]]:
        # Keyword-only arguments need help to survive pickling (xdist workers, Pulumi).
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
    """A listing cannot be trusted to be complete: it did not end within `max_pages`, a page
    came back again (the server ignores the offset or page number), a cursor did not advance, or
    a reply did not have the shape of a page. Raised rather than returning a partial listing,
    because a listing that silently misses objects makes a reconcile delete or re-create them."""


class PollTimeout(PlatformError):
    """An asynchronous operation was still running when the poller's deadline passed. It may
    still finish: check its state before starting it again. `what` names what was awaited,
    `waited` the seconds spent and `checks` how often it was asked."""

    def __init__(self, message: str, *, what: str = "", waited: float = 0.0, checks: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.what = what
        self.waited = waited
        self.checks = checks

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "what": self.what, "waited": self.waited, "checks": self.checks}


class OperationFailed(PlatformError):
    """An asynchronous operation reached a failure state: the platform accepted the request and
    then failed to carry it out, so repeating the request is a decision, not a retry."""

    def __init__(self, message: str, *, what: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.what = what

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "what": self.what}


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


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """An error response's body when it is a JSON object, else None: where each platform's
    error mapper finds its own message key (Dataloop `message`, Studio `detail`, Tailer
    `payload.message`)."""
    if response.content[:1] != b"{":
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def response_message(response: httpx.Response) -> str:
    """The human part of an error response: a JSON `error`/`message`/`detail`, an HTML page's
    title (a proxy's error page is kilobytes of markup around one useful line), else the
    (truncated) body text."""
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


def worth_deciding_again(exc: Exception, server_statuses: Collection[int] | None = None) -> bool:
    """Whether a failed action may pass when decided again from live state: a throttle, a lost
    connection, a server error (only those in `server_statuses`, when a platform's other 5xx
    are deterministic); never a TLS or DNS failure, which fails the same way again."""
    if isinstance(exc, (TlsError, DnsError)):
        return False
    if isinstance(exc, ServerError):
        return server_statuses is None or exc.status in server_statuses
    return isinstance(exc, (TransportError, RateLimited))
