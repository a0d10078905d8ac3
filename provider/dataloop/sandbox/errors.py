"""Dataloop's error body: `{"name", "message", "status"}` (contract §2.8).

dtlpy reads only `message` (`PlatformException`: `error.json().get('message', error.text)`) and
maps the HTTP status to its exception class, so `name` follows the status (`NotFound`,
`BadRequest`, ...) unless a route passes a finer `kind`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..._kit.sandbox.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientStorage,
    NotFound,
    Unauthorized,
)

__all__ = ["ENVELOPE", "HTTP_MESSAGES", "ApiError", "BadRequest", "Conflict", "DataloopEnvelope", "Forbidden",
           "InsufficientStorage", "NotFound", "Unauthorized"]

_NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
          408: "RequestTimeout", 409: "Conflict", 413: "PayloadTooLarge", 424: "FailedDependency",
          429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable", 507: "InsufficientStorage"}


@dataclass(frozen=True)
class DataloopEnvelope:
    def body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {"name": kind or _NAMES.get(status, "Error"), "message": message, "status": status}


ENVELOPE = DataloopEnvelope()
HTTP_MESSAGES = {404: "Route not found", 405: "Method not allowed on this route"}
