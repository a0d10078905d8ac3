"""The `url` fields of Dataloop's objects: absolute, under the sandbox's own `/api/v1`."""

from __future__ import annotations

from fastapi import Request

__all__ = ["api_url"]


def api_url(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + "/api/v1" + path
