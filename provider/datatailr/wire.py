"""The Datatailr wire convention (contract §1.2, §1.3), in one place.

Requests: `{base}/api/{cmd}/{sub}`; GET arguments in the query string, every other method's in
a JSON body (DELETE included). Flags are the literal string `"True"` in a query and JSON `true`
in a body, and are sent only when set (they are CLI flags: there is no "false"). Numbers are sent
as strings in bodies, as the SDK's `str()` does. Lists are comma-joined, never a Python repr.
`None` is never sent. Values go raw: no quotes added around values with spaces (§7.2.2).

Responses: `{"result": X}`. An error is a status >= 400, *or any status* with a non-empty
`"error"` key; an authentication failure is a 401, a redirect to a login URL, or an HTML login
page.

Listings page by offset: `offset` + `batch-size`, the rows as a bare list (or, for `kv ls`, an
object with `items` and the `total` of matches).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .._kit.client import (
    AuthenticationError,
    BadRequest,
    Conflict,
    NotFound,
    OffsetPaging,
    PermissionDenied,
    PlatformError,
    error_from_status,
    response_message,
    truncate,
)

log = logging.getLogger("platforge.datatailr")

COOKIE_NAME = "X-Datatailr-Oidc-Data"
# The wire version this client speaks (the SDK sends it on every call).
SDK_VERSION = "0.2.3"
STDERR_HEADER = "X-Datatailr-Stderr"

Arg = str | int | float | bool | Sequence[str | int] | Mapping[str, Any] | None

#: How `ls`-style commands page (contract §1.4); the client sets the page size.
PAGING = OffsetPaging(offset="offset", limit="batch-size", items="items", total="total")


def api_path(command: str) -> str:
    """`"user/ls"` → `/api/user/ls`; nothing else ever goes in the path."""
    cmd, _, sub = command.strip("/").partition("/")
    if not cmd or not sub or "/" in sub:
        raise ValueError(f"a Datatailr command is 'cmd/sub', got {command!r}")
    return f"/api/{cmd}/{sub}"


def comma_list(values: Sequence[str | int], what: str = "value") -> str:
    """`["a", "b"]` → `"a,b"`. An item containing a comma would silently become two."""
    items = [str(v) for v in values]
    for item in items:
        if "," in item:
            raise ValueError(f"{what} {item!r} contains a comma and cannot be sent in a comma list")
    return ",".join(items)


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):  # bool is handled by the callers
        return str(value)
    if isinstance(value, Sequence):
        return comma_list(value, key)
    raise TypeError(f"cannot encode {key!r} of type {type(value).__name__} on the Datatailr wire")


def encode_query(args: Mapping[str, Arg]) -> dict[str, str]:
    """Query-string form: flags as `"True"` (httpx would write `true`), `None`/`False` omitted."""
    out: dict[str, str] = {}
    for key, value in args.items():
        if value is None or value is False:
            continue
        out[key] = "True" if value is True else _scalar(key, value)
    return out


def encode_body(args: Mapping[str, Arg]) -> dict[str, Any]:
    """JSON-body form: flags as `true`, numbers as strings, mappings (e.g. a job's `data`) as
    they are, `None`/`False` omitted."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if value is None or value is False:
            continue
        if value is True or isinstance(value, Mapping):
            out[key] = value
        else:
            out[key] = _scalar(key, value)
    return out


# ── responses ────────────────────────────────────────────────────────────────────────────────


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def is_login_page(response: httpx.Response) -> bool:
    if "html" not in response.headers.get("content-type", ""):
        return False
    text = response.text
    return "Enter your login credentials" in text or ("<title" in text and "Login" in text)


_SESSION_HINT = "not authenticated or the session expired"


def _classify_message(message: str) -> type[PlatformError]:
    """For a 200 carrying `{"error": ...}`: the status says nothing, so the text decides."""
    text = message.lower()
    if "permission denied" in text or "not allowed" in text or "forbidden" in text:
        return PermissionDenied
    if "not found" in text or "does not exist" in text or "no such" in text:
        return NotFound
    if "already exists" in text or "not unique" in text or "not_unique" in text:
        return Conflict
    if "not authenticated" in text or "session expired" in text:
        return AuthenticationError
    return PlatformError


def datatailr_error(response: httpx.Response) -> PlatformError | None:
    """The error mapper for `Transport` (contract §1.3)."""
    status = response.status_code
    if status == 401:
        return AuthenticationError(f"{_SESSION_HINT} ({response_message(response)})", status=status)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        try:
            where = str(httpx.URL(location).copy_with(query=None, fragment=None)) if location else "nowhere"
        except (httpx.InvalidURL, ValueError, TypeError):
            where = "an invalid location"
        if "login" in location.lower():
            return AuthenticationError(f"{_SESSION_HINT} (redirected to the login page)", status=status)
        if "license.html" in location:
            return PermissionDenied("the license of this Datatailr installation has expired", status=status)
        return PlatformError(f"unexpected redirect to {where}: check the base URL", status=status)
    if is_login_page(response):
        return AuthenticationError(f"{_SESSION_HINT} (got the login page)", status=status)
    if status == 413:
        return BadRequest("request body too large (HTTP 413): the platform's limit is 100 MB", status=status)
    if status >= 400:
        return error_from_status(response)
    data = _json_object(response)
    if data is not None and data.get("error"):
        error = data["error"]
        message = truncate(error if isinstance(error, str) else str(error))
        return _classify_message(message)(message, status=status)
    return None


def is_session_rejected(response: httpx.Response) -> bool:
    """Whether the session was not accepted (a 401, a redirect to the login page, the login
    page itself, or a 200 saying "not authenticated"): what makes the client log in again."""
    if response.status_code < 300 and b'"error"' not in response.content and not is_login_page(response):
        return False  # the common case, decided without parsing the body
    return isinstance(datatailr_error(response), AuthenticationError)


def unwrap(response: httpx.Response) -> Any:
    """The payload of a successful response: `result` of the JSON envelope, or the body text
    for a non-JSON reply. A `result` string is returned as is, never JSON-decoded (§7.2.3)."""
    _log_stderr(response)
    method, path = response.request.method, response.request.url.path
    if "json" not in response.headers.get("content-type", ""):
        return response.text
    try:
        data = response.json()
    except ValueError:
        raise PlatformError("the response is not valid JSON", status=response.status_code,
                            method=method, path=path) from None
    if not isinstance(data, dict) or "result" not in data:
        shape = type(data).__name__ if not isinstance(data, dict) else "object without 'result'"
        raise PlatformError(f"unexpected response: a JSON {shape} instead of the {{\"result\": ...}} envelope",
                            status=response.status_code, method=method, path=path)
    return data["result"]


def _log_stderr(response: httpx.Response) -> None:
    """Warnings the platform attaches to a success (base64 text in `X-Datatailr-Stderr`)."""
    encoded = response.headers.get(STDERR_HEADER)
    if not encoded:
        return
    try:
        text = base64.b64decode(encoded).decode("utf-8", "replace").strip()
    except (binascii.Error, ValueError):
        return
    if text:
        log.warning("%s %s: %s", response.request.method, response.request.url.path, truncate(text))
