"""Errors every sandbox raises, and the envelope each platform wraps them in.

A vendor SDK reads errors in its own platform's shape only (`{"error": ...}`,
`{"errorType": ..., "message": ...}`, `{"detail": ...}`, ...), so the kit never writes an error
body itself: the exception handlers, the fault middleware and the connection guard all ask the
platform's `Envelope`. Statuses mean the same on every platform, so the exceptions are named
after them, and a platform that needs a finer type on the wire (DSS's `errorType`, Dataloop's
`name`) passes a `kind`, which its envelope may use.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["FALLBACK_ENVELOPE", "ApiError", "BadRequest", "Conflict", "Envelope", "Forbidden", "InsufficientStorage",
           "MessageEnvelope", "NotFound", "Unauthorized", "envelope_of", "error_response", "install_error_handlers",
           "send_error"]

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Envelope(Protocol):
    """A platform's error body. It must be a JSON object: the SDKs index into it."""

    def body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class MessageEnvelope:
    """The commonest shape, the message under one key: `{"error": ...}`, `{"detail": ...}`."""

    key: str = "error"

    def body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {self.key: message}


#: For an app that did not say (`app.state.envelope` unset): the shape sandboxes had before
#: platforms supplied their own.
FALLBACK_ENVELOPE = MessageEnvelope("error")


class ApiError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None, *, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class InsufficientStorage(ApiError):
    """507: storing this would pass a quota (the database size, or a platform's own)."""

    status = 507


def envelope_of(app: Any) -> Envelope:
    state = getattr(app, "state", None)
    return getattr(state, "envelope", None) or FALLBACK_ENVELOPE


def error_response(envelope: Envelope, status: int, message: str, headers: Mapping[str, str] | None = None,
                   kind: str | None = None) -> JSONResponse:
    return JSONResponse(envelope.body(status, message, kind), status_code=status, headers=headers)


async def send_error(send: Send, envelope: Envelope, status: int, message: str,
                     headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """An error answered from ASGI middleware, below FastAPI (faults, body limit, connection guard)."""
    payload = json.dumps(envelope.body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query")]
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid value')}")
    return "Invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI, envelope: Envelope, http_messages: Mapping[int, str] | None = None) -> None:
    """Every error leaves in the platform's envelope, FastAPI's own (422 validation, 404 no
    route, 405) included, so that no SDK ever meets a body it cannot read. Validation errors are
    400: no platform answers 422. `http_messages` rewords the router's own 404 and 405 in the
    platform's terms."""
    reworded = dict(http_messages or {})

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(envelope, exc.status, exc.message, kind=exc.kind)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(envelope, 400, _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        message = reworded.get(exc.status_code, message)
        return error_response(envelope, exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(UnicodeEncodeError)
    async def _unencodable(_: Request, exc: UnicodeEncodeError) -> JSONResponse:
        # A lone surrogate in a JSON string cannot be stored as UTF-8 text.
        return error_response(envelope, 400, "Invalid request: text contains characters that are not valid Unicode")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
        return error_response(envelope, 500, f"Internal sandbox error: {type(exc).__name__}")
