"""DSS's wire as `dataikuapi` 15.2.0 speaks it (contract §0, §3.2).

- Bodies are JSON whatever the Content-Type says: the client sends none.
- Query flags come Python-capitalised (`True`/`False`) or lower-case; both are accepted.
- Documents are read-modify-write: a client GETs a settings document, changes a few fields and
  PUTs the whole of it back, so the sandbox must return every field it was given. Numbers keep
  the text they were written in (`RawFloat`), so `1.50` or `1e5` in a field the sandbox does not
  know comes back as `1.50` or `1e5`, not as Python's `1.5` or `100000.0`; documents are stored
  and served with `dumps`, which writes them compactly in UTF-8.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from .errors import BadRequest

__all__ = ["MAX_DEPTH", "DSSResponse", "RawFloat", "dumps", "flag", "json_body", "loads", "msg", "name_of", "reply"]

#: Deeper documents are refused: nothing DSS stores nests this far, and a limit keeps every
#: recursive walk over a document (sealing secrets, encoding) far from Python's own limit.
MAX_DEPTH = 64


class RawFloat(float):
    """A JSON number that is not a plain integer, remembering how it was written."""

    text: str

    def __new__(cls, text: str) -> RawFloat:
        value = super().__new__(cls, text)
        value.text = text
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        return (RawFloat, (self.text,))


def _parse_int(text: str) -> int | RawFloat:
    return RawFloat(text) if text == "-0" else int(text)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str | bytes) -> Any:
    """Parse JSON, keeping every number's text. ValueError on anything that is not JSON."""
    return json.loads(text, parse_float=RawFloat, parse_int=_parse_int, parse_constant=_no_constants)


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def dumps(value: Any) -> str:
    """Compact JSON, numbers as they were written."""
    if isinstance(value, RawFloat):
        return value.text
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(_string(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


class DSSResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")


def reply(content: Any, status: int = 200) -> DSSResponse:
    return DSSResponse(content, status_code=status)


def msg(text: str) -> DSSResponse:
    """What DSS answers a write the client reads as text or ignores (contract §5, item 7)."""
    return reply({"msg": text})


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise BadRequest(f"Invalid JSON body: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        _storable(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def _storable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequest("Invalid JSON body: text contains characters that are not valid Unicode") from exc


async def json_body(request: Request) -> Any:
    """The request body as JSON, whatever its Content-Type (the SDK sends none). An empty body
    is None; anything that is not JSON is a 400."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        value = loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise BadRequest("Invalid JSON body: the request body must be a JSON document") from exc
    _check(value)
    return value


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def flag(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter as any DSS client sends it (`True`, `true`, `False`, ...)."""
    value = request.query_params.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Invalid value for query parameter {name}: {value!r} (expected true or false)")


_NAME_FORBIDDEN = re.compile(r"[/\\?#%\x00-\x1f\x7f]")


def name_of(value: Any, what: str, *, pattern: re.Pattern[str] | None = None, max_len: int = 200) -> str:
    """A user-chosen identifier (login, group, connection, ...): text that can stand in a URL
    path segment, as the SDK puts identifiers into paths unescaped (contract §0, item 5)."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Invalid {what}: a non-empty string is required")
    if len(value) > max_len:
        raise BadRequest(f"Invalid {what} {value[:40]!r}...: at most {max_len} characters")
    if value != value.strip() or _NAME_FORBIDDEN.search(value):
        raise BadRequest(f"Invalid {what} {value!r}: no surrounding spaces, control characters, '/', '\\', '?', '#' or '%'")
    if pattern is not None and not pattern.fullmatch(value):
        raise BadRequest(f"Invalid {what} {value!r}: must match {pattern.pattern}")
    return value
