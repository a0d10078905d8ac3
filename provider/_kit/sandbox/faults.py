"""Platform-neutral ASGI middleware for every sandbox: fault injection, body limits, access log.

Fault injection lets users test their pipelines (and us our client) against the failures real
platforms produce: slowness, throttling, 5xx and connections dropped mid-request. Every fault is
off by default. Injected faults happen *before* the request reaches the handler, so an injected
503 or drop never leaves a half-applied change behind.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Scope = dict[str, Any]


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: float = 0.0
    rate_limit: float = 0.0  # requests per second; 0 = unlimited
    error_rate: float = 0.0  # probability of an injected 503
    drop_rate: float = 0.0  # probability of closing the connection mid-request
    max_body_bytes: int = 100 * 1024 * 1024
    seed: int | None = None
    exempt_paths: tuple[str, ...] = ("/login", "/openapi.json", "/docs", "/healthz")

    def validate(self) -> None:
        for name in ("error_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")
        if self.latency_ms < 0:
            raise ValueError(f"--latency-ms must be >= 0, got {self.latency_ms}")
        if self.rate_limit < 0:
            raise ValueError(f"--rate-limit must be >= 0, got {self.rate_limit}")


class TokenBucket:
    """Thread-safe token bucket; capacity is one second's worth of requests."""

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


class AccessLog:
    """One JSON line per request: time, method, path, status, duration in milliseconds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, **record: Any) -> None:
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._fh.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class DroppedConnection(Exception):
    """Raised after the response has started, which makes the server close the connection."""


async def _send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
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


class FaultMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware) so that it can drop connections."""

    def __init__(self, app, faults: FaultConfig, access_log: AccessLog | None = None) -> None:
        self.app = app
        self.faults = faults
        self.access_log = access_log
        self.random = random.Random(faults.seed)
        self.bucket = TokenBucket(faults.rate_limit) if faults.rate_limit > 0 else None

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_box = {"status": 0, "logged": False}

        def log() -> None:
            if self.access_log is not None and not status_box["logged"]:
                status_box["logged"] = True
                self.access_log.write(
                    ts=round(time.time(), 3),
                    method=scope["method"],
                    path=scope["path"],
                    status=status_box["status"] or 0,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Log before the last byte leaves: a client that has its response can rely on
                # the log line being there (tests count writes in the access log).
                log()
            await send(message)

        try:
            await self._handle(scope, receive, send_wrapper)
        finally:
            log()

    async def _handle(self, scope: Scope, receive, send) -> None:
        faults = self.faults
        path = scope["path"]
        exempt = path in faults.exempt_paths
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        if self.bucket is not None and not exempt:
            wait = self.bucket.take()
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                await _send_json(
                    send,
                    429,
                    {"error": "Too many requests: rate limit exceeded"},
                    [(b"retry-after", str(retry_after).encode())],
                )
                return
        if not exempt and faults.error_rate > 0 and self.random.random() < faults.error_rate:
            await _send_json(
                send, 503, {"error": "Service temporarily unavailable (injected)"},
                [(b"retry-after", b"0")],
            )
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
            await _send_json(send, 413, {"error": _too_large(faults.max_body_bytes)})
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


class BodyTooLarge(Exception):
    pass


def _limited_receive(receive, limit: int):
    """Count streamed (chunked) bodies too; a request over the limit is cut off."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(_too_large(limit))
        return message

    return wrapped
