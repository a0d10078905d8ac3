"""Studio's error body: `{"message": ..., "detail": ...}` (contract §2.2).

The `datachain` client shows `message` (`StudioClient._send_request`); the device-login client
(`dvc_studio_client.auth`) reads DRF's `detail`, and compares it with codes such as
`authorization_pending`. So both keys are always there: `detail` is the route's code when it
passes one (`kind`), else the message again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..._kit.sandbox.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, Unauthorized

__all__ = ["ENVELOPE", "HTTP_MESSAGES", "ApiError", "BadRequest", "Conflict", "Forbidden", "NotFound", "StudioEnvelope",
           "TooMany", "Unauthorized"]


@dataclass(frozen=True)
class StudioEnvelope:
    def body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {"message": message, "detail": kind or message}


class TooMany(ApiError):
    status = 429


ENVELOPE = StudioEnvelope()
HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}
