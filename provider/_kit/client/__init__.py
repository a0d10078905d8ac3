"""The client kit: what every platform's HTTP client shares. Nothing here knows a platform.

A platform client (`provider/datatailr/client.py`, and later Dataiku, Dataloop, ...) subclasses
`BaseClient` with its own *error mapper* (which responses are errors, and which class: platforms
signal errors differently), its authentication (`SessionAuth` with a login, or any `httpx.Auth`)
and its paging description (`OffsetPaging`, `PageIndexPaging` or `CursorPaging`).

- typed errors, error mappers: `_errors` (`PlatformError` and its classes, `error_from_status`)
- secrets out of messages: `_redact` (`Redactor`)
- which failures are retried, and the waits: `_retry` (`RetryPolicy`, the retry-safety table)
- a shared client-side rate limit: `_ratelimit` (`RateLimiter`)
- one endpoint, the retry loop and its log lines: `_transport` (`Transport`)
- the wire under httpx, HTTP/1.1 on kept-alive sockets (a third of httpcore's CPU per
  exchange): `_wire` (`WireTransport`; httpx's own transport where a proxy applies)
- complete listings, three paging styles: `_paging`
- bounded waiting for asynchronous operations: `_poll` (`poll`)
- multipart uploads: `_multipart` (`FilePart`, `Transport.upload`)
- renewable sessions as an httpx auth flow: `_auth` (`SessionAuth`)
- the client object: `_base` (`BaseClient`)

Import from this package, never from its private modules; they import one another, never this
face.
"""

from ._auth import Apply, SessionAuth, bearer, cookie, status_401
from ._base import BaseClient
from ._config import ConfigurationError, checked_base_url, user_agent
from ._errors import (
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionRefused,
    DnsError,
    ErrorMapper,
    NotFound,
    OperationFailed,
    PagingError,
    PermissionDenied,
    PlatformError,
    PollTimeout,
    RateLimited,
    ServerError,
    TlsError,
    TransportError,
    error_class_for_status,
    error_from_status,
    json_object,
    response_message,
    truncate,
    worth_deciding_again,
)
from ._multipart import FilePart
from ._paging import (
    CursorPaging,
    OffsetPaging,
    Page,
    PageIndexPaging,
    collect,
    iter_cursor_pages,
    iter_index_pages,
    iter_pages,
    paginate,
)
from ._poll import poll
from ._ratelimit import AdaptiveRateLimiter, RateLimiter
from ._redact import Redactor
from ._retry import RetryPolicy, is_idempotent, parse_retry_after
from ._transport import DEFAULT_TIMEOUT, Transport, TransportStats

__all__ = [
    "DEFAULT_TIMEOUT",
    "Apply",
    "AuthenticationError",
    "BadRequest",
    "BaseClient",
    "ConfigurationError",
    "Conflict",
    "ConnectionRefused",
    "CursorPaging",
    "DnsError",
    "ErrorMapper",
    "FilePart",
    "NotFound",
    "OffsetPaging",
    "OperationFailed",
    "Page",
    "PageIndexPaging",
    "PagingError",
    "PermissionDenied",
    "PlatformError",
    "PollTimeout",
    "RateLimited",
    "RateLimiter",
    "AdaptiveRateLimiter",
    "Redactor",
    "RetryPolicy",
    "ServerError",
    "SessionAuth",
    "TlsError",
    "Transport",
    "TransportError",
    "checked_base_url",
    "user_agent",
    "TransportStats",
    "bearer",
    "collect",
    "cookie",
    "error_class_for_status",
    "error_from_status",
    "is_idempotent",
    "iter_cursor_pages",
    "iter_index_pages",
    "iter_pages",
    "paginate",
    "parse_retry_after",
    "poll",
    "json_object",
    "response_message",
    "status_401",
    "truncate",
    "worth_deciding_again",
]
