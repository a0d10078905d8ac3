"""The access log: one JSON line per request (time, method, path, status, duration in ms).

It is the outermost layer of every sandbox, so that injected faults, refused bodies and errors
are logged like any other request; tests and the demo count requests in it.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["AccessLog", "AccessLogMiddleware"]

Scope = dict[str, Any]


class AccessLog:
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


class AccessLogMiddleware:
    """Pure ASGI, so that a connection dropped on purpose (which raises once the response has
    started) is still logged, with the status it had started with."""

    def __init__(self, app: Any, access_log: AccessLog) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_box = {"status": 0, "logged": False}

        def log() -> None:
            if not status_box["logged"]:
                status_box["logged"] = True
                self.access_log.write(
                    ts=round(time.time(), 3),
                    method=scope["method"],
                    path=scope["path"],
                    status=status_box["status"] or 0,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Log before the last byte leaves: a client that has its response can rely on
                # the log line being there (tests count writes in the access log).
                log()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            log()
