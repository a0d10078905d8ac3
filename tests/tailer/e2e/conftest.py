"""End-to-end fixtures: an embedded Tailer sandbox (SDK proxy, ops API and F1 on one port) with
an access log, per-run generated credentials in the environment (a refresh token and a Firebase
API key; never literals), the sandbox's public key written where `public_key_file` points, and
stack directories run through the `platforge` command line."""

from __future__ import annotations

import hashlib
import json
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from platforge.provider.sandbox import EmbeddedServer
from platforge.provider.tailer.sandbox import SandboxConfig, create_app, public_key_pem

from tests.cli_run import CliResult, run_cli

REFRESH_ENV = "PLATFORGE_TAILER_REFRESH_TOKEN"
API_KEY_ENV = "PLATFORGE_TAILER_FIREBASE_API_KEY"
ID_TOKEN_ENV = "PLATFORGE_TAILER_ID_TOKEN"
PROJECT = "sandbox-project"
DEPLOY = ("PUT", "/configuration/v2")
STATUS = ("POST", "/v1/configuration/status")
DAG_STATUS = ("POST", "/v1/dag/status")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class World:
    """One sandbox, its credentials, and helpers to run the CLI and count requests."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.refresh_token = "rt-" + secrets.token_urlsafe(24)
        self.api_key = "key-" + secrets.token_urlsafe(24)
        self.access_log = str(tmp_path / "access.jsonl")
        config = SandboxConfig(db_path=str(tmp_path / "tailer.db"), refresh_token=self.refresh_token,
                               firebase_api_key=self.api_key, access_log=self.access_log,
                               project_profiles=PROJECT)
        self.app = create_app(config)
        self.server = EmbeddedServer(self.app).start()
        self.url = self.server.url
        self.public_key = tmp_path / "tailer_public_key.pem"
        self.public_key.write_bytes(public_key_pem(self.app))
        monkeypatch.setenv(REFRESH_ENV, self.refresh_token)
        monkeypatch.setenv(API_KEY_ENV, self.api_key)
        monkeypatch.delenv(ID_TOKEN_ENV, raising=False)
        monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
        self._token: str | None = None

    def stop(self) -> None:
        self.server.stop()

    def platform_table(self, extra: str = "") -> str:
        return (f'[platform]\ntype = "tailer"\nendpoint = "{self.url}/"\nops_endpoint = "{self.url}"\n'
                f'securetoken_url = "{self.url}/securetoken/v1/token"\npublic_key_file = "{self.public_key}"\n'
                f'project_profile = "{PROJECT}"\n{extra}\n')

    def stack(self, body: str, name: str = "stack", extra: str = "", files: dict[str, str] | None = None) -> Path:
        target = self.tmp_path / name
        target.mkdir(exist_ok=True)
        (target / "main.toml").write_text(self.platform_table(extra) + textwrap.dedent(body), encoding="utf-8")
        for rel, content in (files or {}).items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        return target

    def cli(self, *args: object) -> CliResult:
        return run_cli(*args)

    # ---- the access log ------------------------------------------------------------------

    def log_lines(self) -> list[dict[str, Any]]:
        try:
            with open(self.access_log, encoding="utf-8") as fh:
                return [json.loads(line) for line in fh if line.strip()]
        except FileNotFoundError:
            return []

    def mark(self) -> int:
        return len(self.log_lines())

    def requests_since(self, mark: int) -> list[tuple[str, str]]:
        return [(r["method"], str(r["path"]).split("?")[0]) for r in self.log_lines()[mark:]
                if not str(r["path"]).startswith("/_sandbox/")]

    def count(self, mark: int, request: tuple[str, str]) -> int:
        return sum(1 for r in self.requests_since(mark) if r == request)

    def writes_since(self, mark: int) -> list[tuple[str, str]]:
        return [r for r in self.requests_since(mark) if r in (DEPLOY, STATUS)]

    # ---- the sandbox's test routes (as a test, not through platforge) --------------------

    def token(self) -> str:
        if self._token is None:
            answer = httpx.post(f"{self.url}/securetoken/v1/token", params={"key": self.api_key},
                                json={"grantType": "refresh_token", "refreshToken": self.refresh_token})
            answer.raise_for_status()
            self._token = str(answer.json()["id_token"])
        return self._token

    def inspect(self, route: str) -> Any:
        answer = httpx.get(f"{self.url}/_sandbox/{route}", headers={"Authorization": f"Bearer {self.token()}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def configurations(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(c["configuration_type"], c["configuration_id"]): c
                for c in self.inspect("configurations")["configurations"]}

    def deploys(self) -> list[dict[str, Any]]:
        return list(self.inspect("deploys")["deploys"])

    def seed_run(self, configuration_type: str, configuration_id: str, status: str, account: str = "000099",
                 environment: str = "DEV") -> dict[str, Any]:
        answer = httpx.post(f"{self.url}/_sandbox/runs", headers={"Authorization": f"Bearer {self.token()}"},
                            json={"account": account, "environment": environment,
                                  "configuration_type": configuration_type, "configuration_id": configuration_id,
                                  "status": status})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(tmp_path, monkeypatch)
    yield w
    w.stop()
