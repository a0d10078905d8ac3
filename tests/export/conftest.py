"""Shared helpers for the export tests: run the CLI in-process and read a sandbox's access log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from platforge.cli import app

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli(*args: object) -> CliResult:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def log_lines(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def default_reads(line: dict) -> bool:
    return line["method"] in ("GET", "HEAD") or line["path"] == "/login"


def writes_since(path: str, mark: int, reads=default_reads) -> list[dict]:
    """Requests after `mark` that could change something (not a read, not a login)."""
    return [r for r in log_lines(path)[mark:] if not reads(r)]


def plan_json(stack: Path, *extra: object) -> tuple[int, dict]:
    result = cli("plan", stack, "--json", *extra)
    assert result.exit_code in (0, 2), result.output
    return result.exit_code, json.loads(result.stdout)


def assert_round_trip(stack: Path, access_log: str, reads=default_reads) -> dict:
    """The exported stack is valid input and plans nothing but consented imports with no field
    change; the apply that records ownership makes zero platform writes; the next plan is empty."""
    code, plan = plan_json(stack)
    ops = {a["op"] for a in plan["actions"]}
    assert ops <= {"import", "no-op"}, [a for a in plan["actions"] if a["op"] not in ("import", "no-op")]
    imports = [a for a in plan["actions"] if a["op"] == "import"]
    assert all(a["adopt"] and not a["changes"] and not a.get("blocked") for a in imports), imports
    assert code == (2 if imports else 0)
    mark = len(log_lines(access_log))
    applied = cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.output
    assert writes_since(access_log, mark, reads) == []
    state = json.loads((stack / ".platforge/state.json").read_text())
    assert {a["address"] for a in imports} <= set(state["resources"])
    again = cli("plan", stack)
    assert again.exit_code == 0 and "No changes" in again.stdout, again.output
    return plan
