"""End-to-end fixtures: a sandbox with an access log, credentials in the environment, and
stack directories (the quickstart, or written by the test) pointed at the sandbox."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.cli_run import CliResult, run_cli
from tests.datatailr.sdk.conftest import sdk_toolchain  # noqa: F401  (fixture re-export)

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "examples" / "quickstart"
SECRET_MARKER = "MARKER-s3cr3t-9d1c"


class World:
    """One sandbox, one set of credentials, helpers to run the CLI and count writes."""

    def __init__(self, sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        monkeypatch.setenv("DATATAILR_USER_NAME", sandbox.admin_user)
        monkeypatch.setenv("DATATAILR_USER_PASSWORD", sandbox.admin_password)
        monkeypatch.setenv("QUICKSTART_INITIAL_PASSWORD", "initial-" + SECRET_MARKER)
        monkeypatch.setenv("QUICKSTART_WAREHOUSE_PASSWORD_DEV", "dev-" + SECRET_MARKER)
        monkeypatch.setenv("QUICKSTART_WAREHOUSE_PASSWORD_PROD", "prod-" + SECRET_MARKER)
        monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)

    def quickstart(self, name: str = "quickstart") -> Path:
        target = self.tmp_path / name
        shutil.copytree(QUICKSTART, target, ignore=shutil.ignore_patterns(".platforge"))
        platform = target / "platform.toml"
        platform.write_text(re.sub(r'endpoint = ".*"', f'endpoint = "{self.sandbox.url}"', platform.read_text()))
        return target

    def stack(self, body: str, name: str = "stack", state: str = "") -> Path:
        target = self.tmp_path / name
        target.mkdir(exist_ok=True)
        header = f'[platform]\ntype = "datatailr"\nendpoint = "{self.sandbox.url}"\nenvironment = "dev"\n\n{state}\n'
        (target / "main.toml").write_text(header + textwrap.dedent(body), encoding="utf-8")
        return target

    def cli(self, *args: str) -> CliResult:
        return run_cli(*args)

    def log_lines(self) -> list[dict]:
        with open(self.sandbox.access_log, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def writes_since(self, mark: int) -> list[dict]:
        return [r for r in self.log_lines()[mark:] if r["method"] != "GET" and r["path"] != "/login"]

    def mark(self) -> int:
        return len(self.log_lines())

    def sandbox_client(self):
        """An admin client of the sandbox, for changes made behind platforge's back."""
        from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin

        if getattr(self, "_client", None) is None:
            self._client = DatatailrClient(self.sandbox.url, PasswordLogin(self.sandbox.admin_user,
                                                                           self.sandbox.admin_password))
            self._client.login()
        return self._client


@pytest.fixture
def world(sandbox_factory, tmp_path, monkeypatch) -> World:
    return World(sandbox_factory(access_log=True), tmp_path, monkeypatch)
