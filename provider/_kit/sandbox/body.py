"""Request bodies and the fields read from them, checked alike by every JSON sandbox: a body
that is not a JSON document, nests too deep, holds text SQLite cannot store (lone surrogates,
NUL) or a number that is not finite (`1e999` parses as infinity) is a 400 in the platform's
envelope, never a 500 at the first INSERT or the first echo. Each field check names the field
and what was expected, as a platform's own validation would."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from fastapi import Request

from .errors import BadRequest
from .fields import storable

__all__ = ["INT_MAX", "MAX_DEPTH", "MAX_NAME", "bool_field", "check_json", "int_field", "json_body", "name_field",
           "parse_json", "storable_text", "str_field"]

#: How deep a JSON document may nest.
MAX_DEPTH = 32
#: The longest user-chosen name.
MAX_NAME = 256
#: The largest integer SQLite stores.
INT_MAX = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def storable_text(text: str) -> None:
    """Text SQLite can store (a body's or a query string's), else a 400."""
    try:
        storable(text)
    except ValueError as exc:
        raise BadRequest(f"Invalid request: text {exc}") from exc


def check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise BadRequest(f"Invalid JSON body: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadRequest("Invalid JSON body: numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(key)
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("Invalid JSON body: the request body must be a JSON document") from exc
    check_json(value)
    return value


async def json_body(request: Request) -> Any:
    """The body as JSON (None when empty); anything else is a 400."""
    raw = await request.body()
    if not raw.strip():
        return None
    return parse_json(raw)


def str_field(doc: dict[str, Any], name: str, what: str, *, required: bool = False, choices: Iterable[str] | None = None,
              max_len: int = 100_000) -> Any:
    value = doc.get(name)
    if value is None:
        if required:
            raise BadRequest(f"Missing {what}.{name}")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"Invalid {what}.{name}: expected a string, got {type(value).__name__}")
    if len(value) > max_len:
        raise BadRequest(f"Invalid {what}.{name}: at most {max_len} characters")
    if choices is not None:
        allowed = tuple(choices)
        if value not in allowed:
            raise BadRequest(f"Invalid {what}.{name} {value[:60]!r}: expected one of {', '.join(allowed)}")
    return value


def name_field(doc: dict[str, Any], name: str, what: str, *, required: bool = True) -> Any:
    """A user-chosen name: 1-256 characters, no control characters, no surrounding spaces."""
    value = str_field(doc, name, what, required=required, max_len=MAX_NAME)
    if value is None:
        return None
    if not value.strip() or value != value.strip() or _CONTROL.search(value):
        raise BadRequest(f"Invalid {what}.{name} {value[:60]!r}: a non-empty name without control characters or "
                         "surrounding spaces is required")
    return value


def bool_field(doc: dict[str, Any], name: str, what: str) -> Any:
    value = doc.get(name)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"Invalid {what}.{name}: expected true or false")
    return value


def int_field(doc: dict[str, Any], name: str, what: str, *, low: int = 0, high: int = INT_MAX) -> Any:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadRequest(f"Invalid {what}.{name}: expected an integer between {low} and {high}")
    return value
