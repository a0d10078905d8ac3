"""Tailer's error bodies: three services on one port, three shapes (WIRE.md §1).

- the SDK API proxy (and `/_sandbox/`): `{"payload": {"message": ...}}` (the SDK prints the raw
  body of any non-200 and reads `payload` only on success);
- the ops API under `/v1/`: `{"code": <http>, "data": {}, "message": ...}` (contract §2.2);
- the token exchange under `/securetoken/`: Google's `{"error": {"code", "message", "status"}}`.

The kit asks one `Envelope` for every error body, including those it writes below FastAPI (the
body limit, injected faults, the router's 404 and 405), and an envelope is not told the path.
So `FamilyMiddleware`, outermost, notes in a context variable which service a request is for,
and the envelope answers in that service's shape. A route may name the shape itself (`kind`).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..._kit.sandbox.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, Unauthorized

__all__ = ["ENVELOPE", "FIREBASE", "HTTP_MESSAGES", "OPS", "PROXY", "ApiError", "BadRequest", "Conflict", "FamilyMiddleware",
           "Forbidden", "NotFound", "TailerEnvelope", "Unauthorized", "family_of"]

PROXY, OPS, FIREBASE = "proxy", "ops", "firebase"
_FAMILY: ContextVar[str] = ContextVar("tailer_error_family", default=PROXY)
_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  405: "METHOD_NOT_ALLOWED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE",
                  507: "RESOURCE_EXHAUSTED"}


def family_of(path: str) -> str:
    if path.startswith("/v1/"):
        return OPS
    if path.startswith("/securetoken/"):
        return FIREBASE
    return PROXY


@dataclass(frozen=True)
class TailerEnvelope:
    def body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        family = kind if kind in (PROXY, OPS, FIREBASE) else _FAMILY.get()
        if family == OPS:
            return {"code": status, "data": {}, "message": message}
        if family == FIREBASE:
            return {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}}
        return {"payload": {"message": message}}


class FamilyMiddleware:
    """Pure ASGI: sets the error family for the request's whole handling (the kit's middleware
    and handlers run inside this call, so they see it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _FAMILY.set(family_of(scope.get("path", "")))
        try:
            await self.app(scope, receive, send)
        finally:
            _FAMILY.reset(token)


ENVELOPE = TailerEnvelope()
HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}
