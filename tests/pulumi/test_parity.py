"""Both front doors, one stack: `platforge plan --json --prune` (CLI, sandbox A) and the Pulumi
step plan (the resources `declare_stack` registers, through MiniEngine and the real plugin,
sandbox B) agree on what is created, updated, replaced and deleted — and applying the change
both ways leaves the two platforms identical."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from platforge.cli import app

from .conftest import STACK_V1, STACK_V2, STACK_V2_CHANGES, Api, stack_env, start_provider, start_sandbox, write_stack
from .harness import MiniEngine, summarize
from .programs import declared_from_stack

OPS = ("create", "update", "replace", "delete")


@pytest.fixture(scope="module")
def two_sandboxes(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    a, b = start_sandbox(root), start_sandbox(root)
    yield a, b
    a.stop()
    b.stop()


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _cli_plan(stack_dir: Path) -> dict[str, list[str]]:
    code, out, err = _cli("plan", stack_dir, "--json", "--prune")
    assert code in (0, 2), err
    document = json.loads(out)
    assert (code == 2) == any(a["op"] != "no-op" for a in document["actions"])
    return {op: sorted(a["address"] for a in document["actions"] if a["op"] == op) for op in OPS}


def _pulumi_plan(steps) -> dict[str, list[str]]:
    summary = summarize(steps)
    return {op: summary.get(op, []) for op in OPS}


def test_cli_plan_and_pulumi_steps_agree(two_sandboxes, tmp_path: Path, monkeypatch) -> None:
    box_a, box_b = two_sandboxes
    monkeypatch.setenv("DATATAILR_USER_NAME", box_a.admin_user)
    monkeypatch.setenv("DATATAILR_USER_PASSWORD", box_a.admin_password)
    monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    cli_dir, pulumi_dir = tmp_path / "cli", tmp_path / "pulumi"
    api_a, api_b = Api(box_a), Api(box_b)
    provider = start_provider(box_b)
    try:
        engine = MiniEngine(provider)

        # v1 everywhere: `platforge apply` on A, `pulumi up` on B.
        stack_env(monkeypatch, 1)
        write_stack(cli_dir, STACK_V1, box_a.url)
        write_stack(pulumi_dir, STACK_V1, box_b.url)
        code, _, err = _cli("apply", cli_dir, "--yes")
        assert code == 0, err
        steps = engine.up_program(declared_from_stack(pulumi_dir))
        assert {s.op for s in steps} == {"create"}
        assert api_a.snapshot() == api_b.snapshot()

        # Both agree there is nothing to do.
        assert _cli_plan(cli_dir) == {op: [] for op in OPS}
        assert {s.op for s in engine.preview_program(declared_from_stack(pulumi_dir))} == {"same"}

        # v2: the same plan from both front doors.
        stack_env(monkeypatch, 2)
        write_stack(cli_dir, STACK_V2, box_a.url)
        write_stack(pulumi_dir, STACK_V2, box_b.url)
        cli_plan = _cli_plan(cli_dir)
        pulumi_plan = _pulumi_plan(engine.preview_program(declared_from_stack(pulumi_dir)))
        assert cli_plan == pulumi_plan
        assert cli_plan == {op: STACK_V2_CHANGES.get(op, []) for op in OPS}

        # Applying it both ways leaves the two platforms identical, and both in sync.
        code, _, err = _cli("apply", cli_dir, "--yes", "--prune")
        assert code == 0, err
        applied = _pulumi_plan(engine.up_program(declared_from_stack(pulumi_dir)))
        assert applied == pulumi_plan
        live_a, live_b = api_a.snapshot(), api_b.snapshot()
        assert live_a == live_b
        assert live_b["users"]["bot"]["system"] is True and "dev/old" not in live_b["kv"]
        assert _cli_plan(cli_dir) == {op: [] for op in OPS}
        assert {s.op for s in engine.preview_program(declared_from_stack(pulumi_dir))} == {"same"}
    finally:
        provider.close()
        api_a.close()
        api_b.close()
