"""Dataloop's wire as dtlpy 1.126.5 speaks it (contract §1.0, §3.1, §3.4).

- Bodies are JSON, except `POST /projects`, which dtlpy sends form-urlencoded (`form_or_json`).
- Updates carry the whole entity back, read-only fields included (§1.0, §3.4 item 8): routes read
  the fields they know and ignore the rest, so the checks here are per field.
- Anything a client may send is checked before it reaches SQLite or a comparison: text must be
  storable (no lone surrogates, no NUL), documents at most `MAX_DEPTH` deep, so that bad input is
  a 400 in Dataloop's error body and never a 500.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ..._kit.sandbox.body import (
    MAX_DEPTH,
    bool_field,
    check_json,
    int_field,
    json_body,
    name_field,
    str_field,
)
from .errors import BadRequest

__all__ = ["MAX_DEPTH", "bool_field", "dict_field", "email_of", "form_or_json", "int_field", "json_body", "list_field",
           "name_field", "no_content", "obj", "reply", "str_field"]

_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s/\\?#%]{1,128}@[^@\s/\\?#%]{1,128}")


def reply(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def no_content() -> Response:
    return Response(status_code=204)


async def form_or_json(request: Request) -> Any:
    """A form-urlencoded body as a dict of its fields (the last value of a repeated one), else JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return await json_body(request)
    raw = await request.body()
    try:
        fields = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("Invalid form body") from exc
    check_json(fields)
    return fields


def obj(body: Any, what: str, *, empty_ok: bool = False) -> dict[str, Any]:
    if body is None and empty_ok:
        return {}
    if not isinstance(body, dict):
        raise BadRequest(f"Invalid {what}: the request body must be a JSON object")
    return body


def dict_field(doc: dict[str, Any], name: str, what: str) -> Any:
    value = doc.get(name)
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"Invalid {what}.{name}: expected an object")
    return value


def list_field(doc: dict[str, Any], name: str, what: str, *, of: type | tuple[type, ...] | None = None,
               max_len: int = 1000) -> Any:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise BadRequest(f"Invalid {what}.{name}: expected a list")
    if len(value) > max_len:
        raise BadRequest(f"Invalid {what}.{name}: at most {max_len} entries")
    if of is not None and not all(isinstance(v, of) and not isinstance(v, bool) for v in value):
        raise BadRequest(f"Invalid {what}.{name}: unexpected entry type")
    return value


def email_of(value: Any, what: str = "email") -> str:
    """An e-mail, which is a user's id on Dataloop's wire (contract §5.1); kept in lower case."""
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()):
        shown = value[:60] if isinstance(value, str) else type(value).__name__
        raise BadRequest(f"Invalid {what} {shown!r}: an e-mail address is required")
    return value.strip().lower()
