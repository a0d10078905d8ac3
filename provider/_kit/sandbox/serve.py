"""Run a sandbox app: in the foreground for the CLI, or on a background thread for embedding.

The embedded form binds 127.0.0.1 on a free port and is what the demo, the examples and the
tests use.

Both run uvicorn's h11 protocol with two guards (`ServerLimits`):

- **Concurrent connections.** Beyond `max_connections` open connections, a new connection's
  request is answered `503` in the app's error envelope (`app.state.envelope`), `Retry-After: 1`
  and `Connection: close`; connections already accepted are not disturbed.
- **Idle timeout.** A connection on which the server waits for the client (before the first
  request, inside a partial request line, headers or body, or between keep-alive requests) is
  closed after `idle_timeout` seconds without a byte, so half-open and slowloris sockets do not
  pile up. A client that stops reading a response for as long is cut off too. The time a
  handler takes is not counted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import FALLBACK_ENVELOPE, Envelope, envelope_of
from .settings import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, ServerLimits

__all__ = ["DEFAULT_IDLE_TIMEOUT", "DEFAULT_MAX_CONNECTIONS", "EmbeddedServer", "ServerLimits", "bind", "embedded",
           "guarded_protocol", "limits_of", "serve_foreground", "url_of", "uvicorn_config"]

RETRY_AFTER_SECONDS = 1


def _over_capacity_app(limit: int, envelope: Envelope):
    payload = json.dumps(
        envelope.body(503, f"Too many open connections (the sandbox allows {limit}); retry shortly")
    ).encode()

    async def app(scope, receive, send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


def guarded_protocol(limits: ServerLimits, envelope: Envelope = FALLBACK_ENVELOPE) -> type[asyncio.Protocol]:
    """An h11 protocol class enforcing `limits`; one class per server (it counts that server's
    accepted connections). The refusal is worded in `envelope`, the served platform's."""
    limits.validate()
    accepted: set[H11Protocol] = set()
    refuse = _over_capacity_app(limits.max_connections, envelope)

    class GuardedH11Protocol(H11Protocol):
        _idle_timer: asyncio.TimerHandle | None = None
        _write_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if limits.max_connections and len(accepted) >= limits.max_connections:
                self.app = refuse  # answer its request with a 503, then close
            else:
                accepted.add(self)
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            accepted.discard(self)
            self._cancel_timers()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._write_timer is None:
                self._arm_write_timer()

        def resume_writing(self) -> None:
            super().resume_writing()
            if self._write_timer is not None:
                self._write_timer.cancel()
                self._write_timer = None

        # ── timers ───────────────────────────────────────────────────────────────────────────

        def _waiting_for_client(self) -> bool:
            return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

        def _watch(self) -> None:
            """(Re)start the idle timer while the server waits for the client; stop it while a
            complete request is being handled."""
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            if self.transport is None or self.transport.is_closing():
                return
            if self._waiting_for_client():
                self._idle_timer = self.loop.call_later(limits.idle_timeout, self._idle_expired)

        def _idle_expired(self) -> None:
            self._idle_timer = None
            if self.transport.is_closing() or not self._waiting_for_client():
                return  # a handler runs: its time is not counted (the timer restarts after it)
            if self.flow.read_paused:
                self._watch()  # the server, not the client, stopped reading: not idle
            else:
                self.transport.close()

        def _arm_write_timer(self) -> None:
            pending = self.transport.get_write_buffer_size()
            self._write_timer = self.loop.call_later(limits.idle_timeout, self._check_reader, pending)

        def _check_reader(self, pending_before: int) -> None:
            """Writing has been paused for `idle_timeout`: cut the client off unless it read
            something meanwhile."""
            self._write_timer = None
            if self.transport.get_write_buffer_size() < pending_before:
                self._arm_write_timer()
            else:
                self.transport.abort()  # close() would wait for the unread data to drain

        def _cancel_timers(self) -> None:
            for name in ("_idle_timer", "_write_timer"):
                timer = getattr(self, name)
                if timer is not None:
                    timer.cancel()
                    setattr(self, name, None)

    return GuardedH11Protocol


def limits_of(app, limits: ServerLimits | None = None) -> ServerLimits:
    """The limits to serve `app` with: the given ones, else the app's own
    (`app.state.server_limits`, set by the sandbox from its configuration), else the defaults."""
    if limits is not None:
        return limits
    state = getattr(app, "state", None)
    return getattr(state, "server_limits", None) or ServerLimits()


def uvicorn_config(app, host: str, port: int, limits: ServerLimits, **kwargs) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, http=guarded_protocol(limits, envelope_of(app)), timeout_keep_alive=limits.idle_timeout,  # type: ignore[arg-type]
        **kwargs,
    )


class EmbeddedServer:
    """A uvicorn server on a daemon thread; `url` is known once `start()` returns."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, limits: ServerLimits | None = None) -> None:
        self.app = app
        self.limits = limits_of(app, limits)
        config = uvicorn_config(
            app, host, port, self.limits, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, name="platforge-sandbox", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("sandbox server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("sandbox server did not start in time")
            time.sleep(0.01)
        sock = self.server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def embedded(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(app, host, port).start()
    try:
        yield server
    finally:
        server.stop()


def bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one); raises OSError if it is taken."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve_foreground(
    app, host: str, port: int, limits: ServerLimits | None = None,
    on_bound: Callable[[str], None] | None = None, sock: socket.socket | None = None,
) -> None:
    """Serve until interrupted, on `sock` or on a socket bound to host:port. The socket is bound
    first, so `on_bound` gets the real URL (with the port the system picked for port 0) before
    the first request is accepted."""
    sock = sock or bind(host, port)
    try:
        if on_bound is not None:
            on_bound(url_of(host, sock))
        config = uvicorn_config(app, host, sock.getsockname()[1], limits_of(app, limits), log_level="info", access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
