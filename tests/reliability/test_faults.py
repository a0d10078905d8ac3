"""Issue 11: with 30% of answers 429, 10% 503 and 10% of write answers lost after the platform
acted (a proxy between platforge and the sandbox), apply converges exactly on its first run,
for a create, an update and a prune, and no write whose answer was lost is sent again.

Each step is its own test (they wait on the client's rate limiter, not on the CPU, so they
run side by side); the stack before the step is applied with the faults off."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from platforge.cli import app

from .crashes import CREATE_PATHS, DELETE_PATHS, body, leftovers
from .proxy import FaultProxy

STEPS = {"create": (None, 1, []), "update": (1, 2, []), "prune": (1, 3, ["--prune"])}


@pytest.mark.parametrize("step", list(STEPS))
def test_apply_converges_exactly_on_its_first_run_through_injected_faults(sandbox_factory, tmp_path, monkeypatch,
                                                                          step):
    sandbox = sandbox_factory(access_log=True)
    proxy = FaultProxy(sandbox.url, seed={"create": 1, "update": 2, "prune": 3}[step]).start()
    monkeypatch.setenv("DATATAILR_USER_NAME", sandbox.admin_user)
    monkeypatch.setenv("DATATAILR_USER_PASSWORD", sandbox.admin_password)
    monkeypatch.setenv("CRASH_SECRET", "secret-value-1")
    stack = tmp_path / "stack"
    stack.mkdir()
    header = f'[platform]\ntype = "datatailr"\nendpoint = "{proxy.url}"\nenvironment = "dev"\n\n'
    runner = CliRunner()

    outputs: list[str] = []

    def cli(*args: str) -> int:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        outputs.append(result.stdout[-3000:] + result.stderr[-3000:])
        return result.exit_code

    size = 6
    before, version, extra = STEPS[step]
    try:
        if before is not None:
            proxy.enabled = False
            (stack / "main.toml").write_text(header + body("x", size, before), encoding="utf-8")
            assert cli("apply", str(stack), "--yes") == 0
            monkeypatch.setenv("CRASH_SECRET", "secret-value-2")
        mark = len(proxy.seen)
        (stack / "main.toml").write_text(header + body("x", size, version), encoding="utf-8")
        proxy.enabled = True
        assert cli("apply", str(stack), "--yes", *extra) == 0, f"apply did not converge on its first run:\n{outputs[-1]}"
        proxy.enabled = False  # the checks read through the same endpoint, without faults
        assert cli("plan", str(stack), *extra) == 0, "the plan after the apply is not empty"
    finally:
        proxy.stop()

    kept = size if step != "prune" else size // 2
    expected = ([f"user.x-u{n}" for n in range(kept)] + [f"kv.x/k{n}" for n in range(kept)]
                + ["group.x-team", "group.x-dev", "group.x-ops"] + ([] if step == "prune" else ["secret.x/s"]))
    assert leftovers(sandbox, "x") == sorted(expected), "exactly what the stack declares, nothing lost or extra"

    seen = proxy.seen[mark:]
    faults = {f: sum(1 for s in seen if s.fault == f) for f in ("429", "503", "lost")}
    assert faults["429"] >= 8 and faults["503"] >= 2 and faults["lost"] >= 1, faults  # they really fired
    assert proxy.resent_after_landing() == [], "a write whose answer was lost was sent again"
    with open(sandbox.access_log, encoding="utf-8") as fh:
        log = [json.loads(line) for line in fh]
    duplicates = [r for r in log if (r["path"] in CREATE_PATHS and r["status"] == 409)
                  or (r["path"] in DELETE_PATHS and r["status"] == 404)]
    assert duplicates == []
    print(json.dumps({"step": step, "requests": len(seen), **faults,
                      "writes_landed": sum(1 for s in seen if s.upstream_status and s.method != "GET")}))
