"""A Datatailr sandbox process for benches: on a free port, over a database in a scratch folder,
with an access log the bench counts requests from. Its CPU and the bench's stay apart."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sandbox:
    """`python -m platforge sandbox datatailr` with `flags` (e.g. `--rate-limit 15`), ready when
    constructed. Several may share one scratch folder in turn: the database carries over."""

    def __init__(self, scratch: Path, password: str, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = scratch / f"access-{self.port}.jsonl"
        env = {**os.environ, "PLATFORGE_SANDBOX_ADMIN_PASSWORD": password}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "platforge", "sandbox", "datatailr", "--port", str(self.port), "--db",
             str(scratch / "sandbox.db"), "--access-log", str(self.log), *flags],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{self.url}/openapi.json", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the sandbox did not start")

    def requests(self) -> list[dict]:
        """Every request so far, from the access log."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
