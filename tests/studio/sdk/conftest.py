"""The vendor's own client (`datachain==0.62.0`, with `[remote]`) against a Studio sandbox, as
contract §3.2 points it at 127.0.0.1: `DATACHAIN_STUDIO_URL`, `DATACHAIN_STUDIO_TOKEN` and
`DATACHAIN_STUDIO_TEAM`, with every config and data directory it honours inside the test's
temporary folder, and telemetry off.

The CLI runs as a subprocess (`.venv/bin/datachain`) with that environment and a temporary
`HOME`. `StudioClient` runs in process; it reads the environment on each call, so each test
sets it with `monkeypatch`, and the module is imported only inside a test, with `HOME` already
pointing into the temporary folder, so nothing ever reads or writes the real home (each
`pytest -n` worker is its own process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.studio.sandbox.conftest import TEAM, Studio, StudioFactory, studio_factory  # noqa: F401  (fixtures)

DATACHAIN = Path(sys.executable).parent / "datachain"


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DATACHAIN), *args], env=self.env, cwd=self.cwd, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"datachain {' '.join(args)}: {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(DATACHAIN), *args], env={**self.env, "PYTHONUNBUFFERED": "1"}, cwd=self.cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @property
    def global_config(self) -> Path:
        return Path(self.env["DATACHAIN_GLOBAL_CONFIG_DIR"]) / "config"


def client_env(studio: Studio, root: Path, token: str | None = None) -> dict[str, str]:
    """The recipe of contract §3.2, inside `root`."""
    for name in ("home", "global", "system", "work"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATACHAIN_", "PLATFORGE_"))}
    env.update({
        "HOME": str(root / "home"), "XDG_CONFIG_HOME": str(root / "home" / ".config"),
        "XDG_CACHE_HOME": str(root / "home" / ".cache"), "XDG_DATA_HOME": str(root / "home" / ".local" / "share"),
        "DATACHAIN_STUDIO_URL": studio.url, "DATACHAIN_STUDIO_TEAM": studio.team,
        "DATACHAIN_ROOT_DIR": str(root / "work" / ".datachain"), "DATACHAIN_GLOBAL_CONFIG_DIR": str(root / "global"),
        "DATACHAIN_SYSTEM_CONFIG_DIR": str(root / "system"), "DATACHAIN_NO_ANALYTICS": "1", "ITERATIVE_DO_NOT_TRACK": "1",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    })
    if token != "":
        env["DATACHAIN_STUDIO_TOKEN"] = token or studio.token
    return env


@pytest.fixture
def box(studio_factory: StudioFactory) -> Studio:  # noqa: F811
    return studio_factory(team=TEAM, job_seconds=0.2)


@pytest.fixture
def cli(box: Studio, tmp_path: Path) -> Cli:
    env = client_env(box, tmp_path / "client")
    return Cli(env, tmp_path / "client" / "work")


@pytest.fixture
def studio_client(box: Studio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """`StudioClient(team=...)` of the real package, pointed at the sandbox."""
    for name, value in client_env(box, tmp_path / "inproc").items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("DATACHAIN_") and n not in client_env(box, tmp_path / "inproc")]:
        monkeypatch.delenv(name)
    from datachain.remote.studio import StudioClient

    def make(team: str | None = None, token: str | None = None) -> Any:
        if token is not None:
            monkeypatch.setenv("DATACHAIN_STUDIO_TOKEN", token)
        return StudioClient(team=team, timeout=30)

    return make
