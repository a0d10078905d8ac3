"""DSS's error body: `{"errorType", "message", "detailedMessage", "detailedMessageHTML",
"stackTraceStr"}` (contract §2.7), the shape `dataikuapi.utils.handle_http_exception` reads.

`errorType` is the Java exception class DSS would name. The kit's errors carry a `kind`; a route
that knows the DSS class passes it, otherwise the status picks one. The one place DSS answers
"not found" with a 500 (a missing code env, contract §1.2 CodeEnv) raises `MissingCodeEnv`.
"""

from __future__ import annotations

import html
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

__all__ = ["CODED_IO", "ENVELOPE", "HTTP_MESSAGES", "UNKNOWN_OBJECT", "ApiError", "BadRequest", "Conflict",
           "DataikuEnvelope", "Forbidden", "InsufficientStorage", "MissingCodeEnv", "NotFound", "Unauthorized"]

UNKNOWN_OBJECT = "com.dataiku.dip.exceptions.UnknownObjectException"
CODED = "com.dataiku.dip.exceptions.CodedException"
CODED_IO = "com.dataiku.dip.exceptions.CodedIOException"
ILLEGAL_ARGUMENT = "java.lang.IllegalArgumentException"
UNAUTHORIZED = "com.dataiku.dip.exceptions.UnauthorizedException"
FORBIDDEN = "com.dataiku.dip.exceptions.ForbiddenException"
SERVER = "com.dataiku.common.server.APIError$SerializedErrorException"

_BY_STATUS = {400: ILLEGAL_ARGUMENT, 401: UNAUTHORIZED, 403: FORBIDDEN, 404: UNKNOWN_OBJECT, 405: ILLEGAL_ARGUMENT,
              409: CODED, 413: ILLEGAL_ARGUMENT}


@dataclass(frozen=True)
class DataikuEnvelope:
    def body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {
            "errorType": kind or _BY_STATUS.get(status, SERVER),
            "message": message,
            "detailedMessage": message,
            "detailedMessageHTML": html.escape(message),
            "stackTraceStr": "",
        }


ENVELOPE = DataikuEnvelope()
HTTP_MESSAGES = {404: "Not found: no such API endpoint", 405: "Method not allowed on this API endpoint"}


class MissingCodeEnv(ApiError):
    """DSS answers a request for a code env that does not exist with a 500 (contract §1.2, §2.7),
    worded as its `CodedIOException`. The only 500 the sandbox ever gives on purpose."""

    status = 500

    def __init__(self, lang: str, name: str) -> None:
        super().__init__(f"{lang} env {name} doesn't exist", kind=CODED_IO)
