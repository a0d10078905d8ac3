"""Every kind through the promises: apply then an empty plan, a second apply with zero writes,
a changed secret redeploys a new sealing of the new value, an `activated`-only change is one
status call and no deploy, a delete is an archive the plan calls out, and drift says "not
observable" (never in sync) with the last run's status, labelled as such."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from platforge.report import plan_html

from .cases import CASES, SECRET_ENV, Case
from .conftest import DEPLOY, STATUS, World, sha256

KINDS = sorted(CASES)
SECRET_KINDS = sorted(k for k, c in CASES.items() if c.has_secret)


def applied(world: World, case: Case, monkeypatch: pytest.MonkeyPatch, body: str | None = None) -> Path:
    monkeypatch.setenv(SECRET_ENV, "s-" + secrets.token_hex(12))
    stack = world.stack(body or case.body, files=case.files)
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.output
    assert world.count(mark, DEPLOY) == 1
    return stack


def sealed_hashes(document: object) -> list[str]:
    out: list[str] = []
    if isinstance(document, dict):
        if document.get("sealed") is True:
            return [str(document["plaintext_sha256"])]
        for value in document.values():
            out += sealed_hashes(value)
    elif isinstance(document, list):
        for value in document:
            out += sealed_hashes(value)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_apply_then_plan_is_empty_and_a_second_apply_writes_nothing(world: World, kind: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[kind]
    stack = applied(world, case, monkeypatch)
    stored = world.configurations()[(case.configuration_type, case.deployed_id)]
    assert stored["activated"] is True and stored["archived"] is False
    mark = world.mark()
    plan = world.cli("plan", stack)
    assert plan.exit_code == 0, plan.output
    assert "No changes" in plan.output
    again = world.cli("apply", stack, "--yes")
    assert again.exit_code == 0, again.output
    assert world.requests_since(mark) == []  # not even a token: nothing needed the platform
    state = json.loads((stack / ".platforge" / "state.json").read_text())
    assert state["resources"][case.address]["platform_id"] == case.deployed_id  # the id D8 answered


@pytest.mark.parametrize("kind", SECRET_KINDS)
def test_a_changed_secret_plans_an_update_and_redeploys_it_sealed_afresh(world: World, kind: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[kind]
    stack = applied(world, case, monkeypatch)
    before = world.configurations()[(case.configuration_type, case.deployed_id)]["document"]
    new_value = "s-" + secrets.token_hex(12)
    monkeypatch.setenv(SECRET_ENV, new_value)
    plan = world.cli("plan", stack, "--json")
    assert plan.exit_code == 2, plan.output
    (action,) = [a for a in json.loads(plan.stdout)["actions"] if a["address"] == case.address]
    assert action["op"] == "update"
    assert [c["path"] for c in action["changes"]] == ["secrets"]
    assert action["changes"][0]["new"] == "(sensitive)"
    assert new_value not in plan.output
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.output
    assert world.count(mark, DEPLOY) == 1 and world.count(mark, STATUS) == 0
    after = world.configurations()[(case.configuration_type, case.deployed_id)]["document"]
    assert set(sealed_hashes(after)) == {sha256(new_value)}
    assert not set(sealed_hashes(before)) & set(sealed_hashes(after))
    assert world.cli("plan", stack).exit_code == 0


@pytest.mark.parametrize("kind", KINDS)
def test_an_activated_only_change_is_one_status_call_and_no_deploy(world: World, kind: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[kind]
    stack = applied(world, case, monkeypatch)
    header = f"[{case.table}.{case.name}]"
    disabled = case.body.replace(header, header + "\n        activated = false", 1)
    world.stack(disabled, files=case.files)
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.output
    assert world.count(mark, STATUS) == 1 and world.count(mark, DEPLOY) == 0
    stored = world.configurations()[(case.configuration_type, case.deployed_id)]
    assert stored["activated"] is False and stored["archived"] is False
    assert world.cli("plan", stack).exit_code == 0
    # and back: enabled again by the same one call
    world.stack(case.body, files=case.files)
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.count(mark, STATUS) == 1 and world.count(mark, DEPLOY) == 0
    assert world.configurations()[(case.configuration_type, case.deployed_id)]["activated"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_a_delete_is_an_archive_that_the_plan_calls_out(world: World, kind: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[kind]
    stack = applied(world, case, monkeypatch)
    world.stack("", files={})
    (stack / "main.toml").write_text(world.platform_table(), encoding="utf-8")
    plan = world.cli("plan", stack, "--prune", "--json")
    assert plan.exit_code == 2, plan.output
    (action,) = json.loads(plan.stdout)["actions"]
    assert action["op"] == "delete"
    assert action["delete_as"]["verb"] == "archive" and "super-administrator" in action["delete_as"]["note"]
    assert "NOTE: this delete is an archive, a soft delete" in plan_html(json.loads(plan.stdout))
    text = world.cli("plan", stack, "--prune", "--markdown", stack.parent / "plan.md")
    assert "is an archive, a soft delete" in text.output
    assert "archive, a soft delete" in (stack.parent / "plan.md").read_text()
    mark = world.mark()
    result = world.cli("apply", stack, "--yes", "--prune")
    assert result.exit_code == 0, result.output
    assert world.count(mark, STATUS) == 1 and world.count(mark, DEPLOY) == 0
    stored = world.configurations()[(case.configuration_type, case.deployed_id)]
    assert stored["archived"] is True and stored["activated"] is False
    assert world.cli("plan", stack, "--prune").exit_code == 0


@pytest.mark.parametrize("kind", KINDS)
def test_drift_says_not_observable_with_the_last_runs_status(world: World, kind: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[kind]
    stack = applied(world, case, monkeypatch)
    world.seed_run(case.configuration_type, case.deployed_id, "FAILED")
    report = world.cli("drift", stack, "--format", "json")
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    assert data["in_sync"] == [] and data["summary"]["not_observable"] == 1
    (finding,) = data["findings"]
    assert finding["cause"] == "not_observable"
    text = world.cli("drift", stack)
    if kind == "context":  # nothing runs a context: no probe, only "cannot be checked"
        assert "run_status" not in finding and "last run" not in text.output and "cannot be checked" in text.output
        return
    assert finding["run_status"]["status"] == "FAILED" and finding["run_status"]["run_id"]
    assert "last run (of the object's job, not its configuration): FAILED" in text.output
    assert "In sync" not in text.output.split("Not observable (1)")[1]
    assert "cannot be checked" in text.output
    for fmt in ("markdown", "html"):
        out = world.cli("drift", stack, "--format", fmt)
        assert "last run (of the object" in out.stdout and "FAILED" in out.stdout


def test_a_failed_probe_is_an_unknown_status_and_never_fails_drift(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES["workflow"]
    stack = applied(world, case, monkeypatch)
    text = (stack / "main.toml").read_text().replace(f'ops_endpoint = "{world.url}"', 'ops_endpoint = "http://127.0.0.1:9"')
    (stack / "main.toml").write_text(text)
    report = world.cli("drift", stack, "--format", "json")
    assert report.exit_code == 0, report.output
    (finding,) = json.loads(report.stdout)["findings"]
    assert finding["cause"] == "not_observable"
    assert finding["run_status"]["status"] == "unknown" and finding["run_status"]["error"]
    assert "last run (of the object's job, not its configuration): unknown" in world.cli("drift", stack).output


def test_plan_never_probes_and_a_never_run_object_says_so(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES["vm_launcher"]
    stack = applied(world, case, monkeypatch)
    mark = world.mark()
    assert world.cli("plan", stack).exit_code == 0
    assert world.requests_since(mark) == []
    report = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert report["findings"][0]["run_status"] == {"status": "never_run", "run_id": None, "at": None}
    assert [r for r in world.requests_since(mark) if r[1] != "/securetoken/v1/token"] == [("POST", "/v1/dag/status")]
