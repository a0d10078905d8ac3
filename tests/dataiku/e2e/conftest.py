"""End-to-end fixtures: an embedded Dataiku sandbox with an access log, the API key in the
environment, and stack directories pointed at it, run through the `platforge` command line."""

from __future__ import annotations

import json
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from platforge.provider.dataiku.client import DataikuClient
from platforge.provider.dataiku.sandbox import SandboxConfig, create_app
from platforge.provider.sandbox import EmbeddedServer

from tests.cli_run import CliResult, run_cli

SECRET_MARKER = "MARKER-dku-s3cr3t-41f7"


class World:
    """One sandbox, one API key, helpers to run the CLI, count writes and change DSS by hand."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.admin_key = "ADMIN-" + secrets.token_hex(12)
        self.access_log = str(tmp_path / "access.jsonl")
        config = SandboxConfig(db_path=str(tmp_path / "dss.db"), admin_api_key=self.admin_key,
                               access_log=self.access_log, build_seconds=0.05)
        self.server = EmbeddedServer(create_app(config)).start()
        self.url = self.server.url
        monkeypatch.setenv("DATAIKU_API_KEY", self.admin_key)
        monkeypatch.setenv("JDOE_PASSWORD", "jdoe-" + SECRET_MARKER)
        monkeypatch.setenv("PG_PASSWORD", "pg-" + SECRET_MARKER)
        monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
        self._client: DataikuClient | None = None

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        self.server.stop()

    def stack(self, body: str, name: str = "stack") -> Path:
        target = self.tmp_path / name
        target.mkdir(exist_ok=True)
        header = f'[platform]\ntype = "dataiku"\nendpoint = "{self.url}"\n\n'
        (target / "main.toml").write_text(header + textwrap.dedent(body), encoding="utf-8")
        return target

    def cli(self, *args: object) -> CliResult:
        return run_cli(*args)

    def log_lines(self) -> list[dict]:
        with open(self.access_log, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def mark(self) -> int:
        return len(self.log_lines())

    def writes_since(self, mark: int) -> list[dict]:
        return [r for r in self.log_lines()[mark:] if r["method"] != "GET"]

    def dss(self) -> DataikuClient:
        """An admin client of the sandbox, for changes made behind platforge's back."""
        if self._client is None:
            self._client = DataikuClient(self.url, self.admin_key)
        return self._client


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(tmp_path, monkeypatch)
    yield w
    w.stop()
