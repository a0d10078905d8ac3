"""Studio's wire as `datachain` 0.62.0 speaks it (contract §2, §3.3).

- Bodies are JSON objects; the client adds `team_name` to every one (and to every query string).
- Anything a client may send is checked before it reaches SQLite or a comparison: text must be
  storable (no lone surrogates, no NUL), numbers finite and within SQLite's integers, documents
  at most `MAX_DEPTH` deep, so that bad input is a 400 in Studio's error body, never a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ..._kit.sandbox.body import (
    INT_MAX,
    MAX_DEPTH,
    bool_field,
    int_field,
    json_body,
    name_field,
    storable_text,
    str_field,
)
from .errors import BadRequest

__all__ = ["MAX_DEPTH", "bool_field", "created", "environment_dict", "int_field", "int_text", "json_body", "name_field", "no_content", "obj",
           "query_int", "query_value", "reply", "str_field", "str_list_field", "time_field"]



def reply(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def created(content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=201)


def no_content() -> Response:
    return Response(status_code=204)


def obj(body: Any, what: str) -> dict[str, Any]:
    """A JSON object body; an empty body is an empty object (the client sends `{team_name}` or nothing)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest(f"Invalid {what}: the request body must be a JSON object")
    return body


def str_list_field(doc: dict[str, Any], name: str, what: str, *, max_items: int = 1000, max_len: int = 1000) -> Any:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > max_items:
        raise BadRequest(f"Invalid {what}.{name}: expected a list of at most {max_items} strings")
    for item in value:
        if not isinstance(item, str) or len(item) > max_len:
            raise BadRequest(f"Invalid {what}.{name}: every entry must be a string of at most {max_len} characters")
    return value


def int_text(text: str, what: str, *, low: int = 0, high: int = INT_MAX) -> int:
    """An integer written in a path or a query string (digits only)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not low <= int(text) <= high:
        raise BadRequest(f"Invalid {what} {text[:40]!r}: expected an integer between {low} and {high}")
    return int(text)


def query_value(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    value = values[-1]
    storable_text(value)
    return value


def query_int(request: Request, name: str, *, low: int = 0, high: int = INT_MAX) -> int | None:
    value = query_value(request, name)
    return None if value is None else int_text(value, name, low=low, high=high)


def time_field(doc: dict[str, Any], name: str, what: str) -> Any:
    """An ISO-8601 instant as a timezone-aware datetime (no zone: UTC), or None."""
    value = str_field(doc, name, what, max_len=64)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise BadRequest(f"Invalid {what}.{name} {value[:40]!r}: expected an ISO-8601 date and time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 1970 <= moment.astimezone(UTC).year <= 9998:
        raise BadRequest(f"Invalid {what}.{name}: the year must be between 1970 and 9998")
    return moment.astimezone(UTC)


def environment_dict(text: Any, what: str) -> dict[str, str]:
    """`"K=V\\nK2=V2"` (what the client sends) as the dict Studio answers with (contract §5 #10)."""
    if text is None:
        return {}
    if not isinstance(text, str) or len(text) > 100_000:
        raise BadRequest(f"Invalid {what}: expected a string of KEY=VALUE lines")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"Invalid {what}: line {line[:40]!r} is not KEY=VALUE")
        env[key.strip()] = value
    return env
