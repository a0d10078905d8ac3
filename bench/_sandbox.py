"""A sandbox process for benches: on a free port, over a database in a scratch folder, with an
access log the bench counts requests from. Its CPU and the bench's stay apart.

Datatailr by default; `platform="dataiku"` starts the DSS sandbox, whose administrator
credential is an API key rather than a password; `platform="dataloop"` starts the Dataloop gate,
whose administrator logs in with an e-mail (`--admin-email`, a flag) and a password;
`platform="studio"` starts DataChain Studio, whose administrator holds a token (`--team`, a
flag, names the team it acts in). The credential goes through the environment variable each
sandbox reads, never the command line, where `ps` would show it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

#: Platform -> the variable its sandbox reads the administrator's credential from.
CREDENTIAL_ENV = {"datatailr": "PLATFORGE_SANDBOX_ADMIN_PASSWORD", "dataiku": "PLATFORGE_DATAIKU_ADMIN_API_KEY",
                  "dataloop": "PLATFORGE_SANDBOX_ADMIN_PASSWORD", "studio": "PLATFORGE_STUDIO_TOKEN",
                  "tailer": "PLATFORGE_TAILER_REFRESH_TOKEN"}  # and its Firebase API key: PLATFORGE_TAILER_FIREBASE_API_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sandbox:
    """`python -m platforge sandbox PLATFORM` with `flags` (e.g. `--rate-limit 15`), ready when
    constructed. Several may share one scratch folder in turn: the database carries over.
    `credential` is the administrator's password (Datatailr, Dataloop), API key (Dataiku) or
    token (Studio); it goes through the environment, never argv. The server's own output is kept
    beside its access log."""

    def __init__(self, scratch: Path, credential: str, *flags: str, platform: str = "datatailr") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = scratch / f"access-{self.port}.jsonl"
        self.output = (scratch / f"sandbox-{self.port}.out").open("wb")
        env = {**os.environ, CREDENTIAL_ENV[platform]: credential}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "platforge", "sandbox", platform, "--port", str(self.port), "--db",
             str(scratch / "sandbox.db"), "--access-log", str(self.log), *flags],
            env=env, stdout=self.output, stderr=subprocess.STDOUT)
        for _ in range(300):
            if self.process.poll() is not None:
                raise SystemExit(f"the {platform} sandbox exited at start (status {self.process.returncode}); "
                                 f"see {self.output.name}")
            try:
                urllib.request.urlopen(f"{self.url}/openapi.json", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"the {platform} sandbox did not start")

    def requests(self) -> list[dict]:
        """Every request so far, from the access log, without the readiness probe."""
        if not self.log.exists():
            return []
        records = (json.loads(line) for line in self.log.read_text().splitlines() if line.strip())
        return [r for r in records if r["path"] != "/openapi.json"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.close()
