"""A fault-injecting HTTP proxy in front of a sandbox.

The sandbox's own fault flags fire before a request reaches its handler, so they never show
the hardest case: the platform acted, and its answer was lost. This proxy forwards requests to
the sandbox and, per request, by a seeded draw:

- answers 429 (`Retry-After: 0`) without forwarding (throttled: the platform did not act);
- answers 503 without forwarding (a server error);
- for a write, forwards it, lets the sandbox act, then closes the connection without an
  answer (the response is lost after the server acted);
- or forwards it and relays the answer.

The draw is a hash of the seed, the request (method, path, query, body) and how many times
that same request was seen before, not a sequential random stream: concurrent requests arrive
in a different order on every run, and the faults must not depend on that order.

It records every request, so a test can tell whether a write whose answer was lost was sent
again (it must not be: the platform had acted, and live state shows it).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host",
              "proxy-connection", "te", "trailer", "upgrade"}


@dataclass
class Seen:
    method: str
    path: str
    digest: str  # method, path, query and body: the same write sent again has the same digest
    fault: str  # "" (relayed), "429", "503", "lost"
    upstream_status: int | None  # None: not forwarded


class FaultProxy:
    def __init__(self, upstream: str, seed: int, throttle: float = 0.30, server_error: float = 0.10,
                 lost: float = 0.10) -> None:
        self.upstream = upstream
        self.rates = (throttle, server_error, lost)
        self.enabled = True
        self.seen: list[Seen] = []
        self.seed = seed
        self._times: dict[str, int] = {}
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=upstream, timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def _draw(self, write: bool, digest: str) -> str:
        throttle, server_error, lost = self.rates
        with self._lock:
            n = self._times[digest] = self._times.get(digest, 0) + 1
        r = int.from_bytes(hashlib.sha256(f"{self.seed}:{digest}:{n}".encode()).digest()[:8], "big") / 2**64
        if not self.enabled:
            return ""
        if r < throttle:
            return "429"
        if r < throttle + server_error:
            return "503"
        if write and r < throttle + server_error + lost:
            return "lost"
        return ""

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        method = handler.command
        path = handler.path.split("?", 1)[0]
        write = method != "GET" and path not in ("/login", "/logout")
        digest = hashlib.sha256(f"{method} {handler.path}\n".encode() + body).hexdigest()
        fault = self._draw(write, digest)
        if fault in ("429", "503"):
            self._record(Seen(method, path, digest, fault, None))
            payload = b'{"error": "injected by the test proxy"}'
            handler.send_response(int(fault))
            if fault == "429":
                handler.send_header("Retry-After", "0")
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = self._http.request(method, handler.path, headers=headers, content=body)
        self._record(Seen(method, path, digest, fault, upstream.status_code))
        if fault == "lost":
            handler.close_connection = True  # the platform acted; its answer never arrives
            return
        handler.send_response(upstream.status_code)
        for key, value in upstream.headers.multi_items():
            if key.lower() not in HOP_BY_HOP:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(upstream.content)))
        handler.end_headers()
        handler.wfile.write(upstream.content)

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    # ---- what happened -----------------------------------------------------------------

    def faults(self) -> dict[str, int]:
        out = {"requests": len(self.seen), "429": 0, "503": 0, "lost": 0}
        for s in self.seen:
            if s.fault:
                out[s.fault] += 1
        return out

    def resent_after_landing(self) -> list[str]:
        """Writes forwarded again after an earlier copy had landed (2xx) with its answer lost."""
        landed: set[str] = set()
        resent = []
        for s in self.seen:
            if s.upstream_status is None:
                continue
            if s.digest in landed:
                resent.append(f"{s.method} {s.path}")
            if s.fault == "lost" and s.upstream_status < 300:
                landed.add(s.digest)
        return resent
