"""Fault injection and the request body limit, as ASGI middleware under every sandbox.

Fault injection lets users test their pipelines (and us our client) against the failures real
platforms produce: slowness, throttling, 5xx and connections dropped mid-request. Every fault is
off by default. Injected faults happen *before* the request reaches the handler, so an injected
503 or drop never leaves a half-applied change behind. The errors are worded in the platform's
envelope, and the platform names the paths that are never faulted (its login, typically, so
that a client can always get a session to retry with).
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Iterable
from typing import Any

from .errors import Envelope, send_error
from .settings import FaultConfig

__all__ = ["BodyTooLarge", "DroppedConnection", "FaultConfig", "FaultMiddleware", "TokenBucket"]

Scope = dict[str, Any]


class TokenBucket:
    """The sandbox's one token bucket: thread-safe, capacity one second's worth of requests.

    A request refused for want of a token takes none, so a client that honours Retry-After gets
    in. (The client kit's `RateLimiter` is a bucket too, but it queues callers instead of
    refusing them: it paces our own requests, this one throttles everybody else's.)"""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token; return 0 on success, else the seconds until one is available."""
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


class DroppedConnection(Exception):
    """Raised after the response has started, which makes the server close the connection."""


class BodyTooLarge(Exception):
    pass


class FaultMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware) so that it can drop connections."""

    def __init__(self, app: Any, faults: FaultConfig, envelope: Envelope, exempt_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.faults = faults
        self.envelope = envelope
        self.exempt_paths = frozenset(exempt_paths)
        self.random = random.Random(faults.seed)
        self.bucket = TokenBucket(faults.rate_limit) if faults.rate_limit > 0 else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        faults = self.faults
        exempt = scope["path"] in self.exempt_paths
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        if self.bucket is not None and not exempt:
            wait = self.bucket.take()
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                await send_error(send, self.envelope, 429, "Too many requests: rate limit exceeded",
                                 [(b"retry-after", str(retry_after).encode())])
                return
        if not exempt and faults.error_rate > 0 and self.random.random() < faults.error_rate:
            await send_error(send, self.envelope, 503, "Service temporarily unavailable (injected)",
                             [(b"retry-after", b"0")])
            return
        if not exempt and faults.drop_rate > 0 and self.random.random() < faults.drop_rate:
            # Promise a body, send none, then fail: the server closes the connection mid-response.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            raise DroppedConnection("connection dropped (injected)")
        declared = _content_length(scope)
        if declared is not None and declared > faults.max_body_bytes:
            await send_error(send, self.envelope, 413, _too_large(faults.max_body_bytes))
            return
        await self.app(scope, _limited_receive(receive, faults.max_body_bytes), send)


def _too_large(limit: int) -> str:
    return f"Request body too large: the limit is {limit} bytes"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _limited_receive(receive: Any, limit: int) -> Any:
    """Count streamed (chunked) bodies too; a request over the limit is cut off."""
    seen = 0

    async def wrapped() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(_too_large(limit))
        return message

    return wrapped
