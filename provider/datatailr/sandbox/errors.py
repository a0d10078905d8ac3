"""Datatailr's error envelope: `{"error": "..."}` with a status code that says what happened.

Contract §7.3.1 leaves the real statuses open; the sandbox uses 400 bad input, 401 no session,
403 permission denied, 404 not found, 409 conflict, 413 too large, 429 throttled, 503 injected
or too many connections, 507 a quota reached (blob bytes per user, database size). The errors
themselves are the kit's; the router's own 404 and 405 speak of commands, as the SDK's CLI does.
"""

from __future__ import annotations

from ..._kit.sandbox.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientStorage,
    MessageEnvelope,
    NotFound,
    Unauthorized,
)

__all__ = ["ENVELOPE", "HTTP_MESSAGES", "ApiError", "BadRequest", "Conflict", "Forbidden", "InsufficientStorage",
           "NotFound", "Unauthorized"]

ENVELOPE = MessageEnvelope("error")
HTTP_MESSAGES = {404: "Unknown command", 405: "Method not allowed for this command"}
