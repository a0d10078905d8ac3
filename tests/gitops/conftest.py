"""The GitOps example (examples/gitops) copied to a temporary directory and run as CI runs it:
its ci/ scripts as subprocesses, against an embedded Datatailr sandbox named by
$PLATFORGE_ENDPOINT (the stacks keep their example.com endpoint, so the override is exercised)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GITOPS = REPO / "examples" / "gitops"
WAREHOUSE_PASSWORD = "gitops-MARKER-" + secrets.token_urlsafe(12)  # generated per run, never a literal
#: Variables a job gets from GitHub (or the runner), never from the machine running the tests.
CREDENTIAL_PREFIXES = ("GITHUB_", "PLATFORGE_", "DATATAILR_", "DATAIKU_", "DATALOOP_", "DATACHAIN_", "TAILER_",
                       "RETAIL_")


def platforge_command() -> str:
    """The `platforge` entry point of the Python running the tests."""
    beside = Path(sys.executable).parent / "platforge"
    found = str(beside) if beside.exists() else shutil.which("platforge")
    assert found, "the platforge command is not installed (pip install -e .)"
    assert " " not in found, "ci/common.sh splits $PLATFORGE on spaces"
    return found


@dataclass
class GitOpsRepo:
    root: Path
    env: dict[str, str]
    sandbox: object
    github_output: Path = field(init=False)
    step_summary: Path = field(init=False)

    def __post_init__(self) -> None:
        self.github_output = self.root / "github-output.txt"
        self.step_summary = self.root / "step-summary.md"

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run `ci/<script> args...` from the repository root, as a workflow step does."""
        merged = {**self.env, **(env or {})}
        return subprocess.run([str(self.root / "ci" / args[0]), *args[1:]], cwd=self.root, env=merged,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(self.root / "ci" / args[0]), *args[1:]], cwd=self.root, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def summary_env(self) -> dict[str, str]:
        """A job summary file, as GitHub Actions gives (drift.sh then also writes its Markdown)."""
        return {"GITHUB_STEP_SUMMARY": str(self.step_summary)}

    def outputs(self) -> dict[str, str]:
        """The step outputs written so far (the last value of each key)."""
        if not self.github_output.exists():
            return {}
        return dict(line.split("=", 1) for line in self.github_output.read_text().splitlines() if "=" in line)

    def out(self, name: str) -> Path:
        return self.root / "out" / name

    def client(self):
        """An admin client of the sandbox, for looking and for changes made behind platforge's back."""
        from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin

        client = DatatailrClient(self.sandbox.url, PasswordLogin(self.sandbox.admin_user, self.sandbox.admin_password))
        client.login()
        return client

    def apply_in_process(self, stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Set-up only: `platforge apply --yes` in this process (no interpreter start-up)."""
        from typer.testing import CliRunner

        from platforge.cli import app

        for key in ("DATATAILR_USER_NAME", "DATATAILR_USER_PASSWORD", "WAREHOUSE_PASSWORD"):
            monkeypatch.setenv(key, self.env[key])
        result = CliRunner().invoke(app, ["apply", str(self.root / "stacks" / stack), "--endpoint", self.sandbox.url,
                                          "--yes"], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr

    def writes(self) -> Counter:
        """Writes the sandbox answered, by (method, path) (its access log; logins left out)."""
        with open(self.sandbox.access_log, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        return Counter((r["method"], r["path"]) for r in rows if r["method"] != "GET" and r["path"] != "/login")


def make_repo(sandbox, tmp_path: Path) -> GitOpsRepo:
    root = tmp_path / "repo"
    shutil.copytree(GITOPS, root, ignore=shutil.ignore_patterns("out", ".platforge", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(CREDENTIAL_PREFIXES) and k != "WAREHOUSE_PASSWORD"}
    repo = GitOpsRepo(root, env, sandbox)
    env.update({
        "PLATFORGE": platforge_command(),
        "PLATFORGE_ENDPOINT": sandbox.url,
        "DATATAILR_USER_NAME": sandbox.admin_user,
        "DATATAILR_USER_PASSWORD": sandbox.admin_password,
        "WAREHOUSE_PASSWORD": WAREHOUSE_PASSWORD,
        "GITHUB_OUTPUT": str(repo.github_output),
        "NO_COLOR": "1",
    })
    return repo


@pytest.fixture
def repo(sandbox_factory, tmp_path: Path) -> GitOpsRepo:
    return make_repo(sandbox_factory(access_log=True), tmp_path)


@dataclass
class NoSandbox:
    url: str = "http://127.0.0.1:9"  # nothing listens: a test using it must not reach a platform
    admin_user: str = "admin"
    admin_password: str = "unused"
    access_log: str | None = None


@pytest.fixture
def offline_repo(tmp_path: Path) -> GitOpsRepo:
    return make_repo(NoSandbox(), tmp_path)
