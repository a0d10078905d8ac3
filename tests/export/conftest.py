"""Shared helpers for the export tests: run the CLI in-process, read a sandbox's access log, and a
Datatailr sandbox populated by applying the quickstart's people and configuration."""

from __future__ import annotations

import json
import re
import runpy
import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_run import CliResult, run_cli

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"


def cli(*args: object) -> CliResult:
    return run_cli(*args)


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


@pytest.fixture
def populated(sandbox_factory, tmp_path, monkeypatch):
    """A sandbox holding the quickstart's people and configuration (no jobs), applied by a stack
    of its own; credentials and secret values generated for this run."""
    box = sandbox_factory(access_log=True)
    monkeypatch.setenv("DATATAILR_USER_NAME", box.admin_user)
    monkeypatch.setenv("DATATAILR_USER_PASSWORD", box.admin_password)
    monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
    values = {"QUICKSTART_INITIAL_PASSWORD": secrets.token_urlsafe(12),
              "QUICKSTART_WAREHOUSE_PASSWORD_DEV": secrets.token_urlsafe(16),
              "QUICKSTART_WAREHOUSE_PASSWORD_PROD": secrets.token_urlsafe(16)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "source"
    source.mkdir()
    for name in ("platform.toml", "people.toml", "config.toml"):
        shutil.copy(QUICKSTART / name, source / name)
    platform = source / "platform.toml"
    platform.write_text(re.sub(r'endpoint = ".*"', f'endpoint = "{box.url}"', platform.read_text()))
    applied = cli("apply", source, "--yes")
    assert applied.exit_code == 0, applied.output
    return box, values


def program(directory: Path):
    """An exported program's `__main__.py` as the language host runs it: its folder first on
    sys.path, its own modules fresh (a second run in this process declares everything again)."""
    def run() -> dict:
        for name in [m for m in sys.modules if m == "adopted" or m.startswith("adopted.")]:
            del sys.modules[name]
        sys.path.insert(0, str(directory))
        try:
            return runpy.run_path(str(directory / "__main__.py"), run_name="__main__")
        finally:
            sys.path.remove(str(directory))
    return run


def stack_settings(directory: Path, stack: str) -> dict[str, str]:
    """The `platforge:*` settings the export wrote to `Pulumi.<stack>.yaml`, as the engine hands
    stack config to a provider (strings; JSON for numbers and booleans)."""
    out = {}
    for line in (directory / f"Pulumi.{stack}.yaml").read_text().splitlines():
        key, sep, raw = line.strip().partition(": ")
        if sep and key.startswith("platforge:"):
            value = json.loads(raw)
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def assert_program_adopts(directory: Path, stack: str, credentials: dict[str, str], writes: Callable[[], list],
                          adopt: list[str], env: dict[str, str | None] | None = None) -> None:
    """The exported program's first `up` (the SDK, engine-backed mocks, the real provider plugin
    configured from the written stack settings plus the credentials) creates, that is adopts,
    exactly the objects `adopt` lists, with no platform write (`writes()`: those since the mark);
    the second `up` is all `same`."""
    from tests.pulumi.harness import MiniEngine, ProviderProcess
    from tests.pulumi.programs import EngineMocks, run_program

    config = {**stack_settings(directory, stack), **credentials}
    provider = ProviderProcess(directory, project="platforge-export", env=env)
    try:
        provider.configure(config, set(credentials))
        engine = MiniEngine(provider)
        first = EngineMocks(engine)
        run = run_program(program(directory), first, config=config)
        assert sorted(run.exports["addresses"]) == sorted(adopt)
        assert [s.op for s in first.steps] == ["create"] * len(adopt), [(s.urn, s.op) for s in first.steps]
        assert writes() == []
        second = EngineMocks(engine)
        run_program(program(directory), second, config=config)
        assert [s.op for s in second.steps] == ["same"] * len(adopt), [(s.urn, s.op, s.diff) for s in second.steps]
        assert writes() == []
    finally:
        provider.close()
