"""Run a sandbox app: in the foreground for the CLI, or on a background thread for embedding.

The embedded form binds 127.0.0.1 on a free port and is what the demo, the examples and the
tests use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


class EmbeddedServer:
    """A uvicorn server on a daemon thread; `url` is known once `start()` returns."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off",
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


def serve_foreground(app, host: str, port: int) -> None:
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
