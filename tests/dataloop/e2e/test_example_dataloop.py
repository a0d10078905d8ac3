"""`examples/dataloop`, as a user runs it: pointed at a fresh embedded sandbox whose project holds
a pushed package (platforge does not manage packages), it plans, applies every object it
declares, converges (the plan after it is empty, a second apply sends no write), and its secret
stays in the environment: never in the files, the state or the output."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from .conftest import SECRET_MARKER, World

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "dataloop"
OPTIONS_ENV = "DATALOOP_EXAMPLE_OPENAI_OPTIONS"


def example_against(world: World, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The example copied next to the sandbox, with the project it adopts and the package its
    service runs made as the vision team would (the gate's own API, as dtlpy does): (stack, package)."""
    project = world.call("POST", "/projects", {"name": "vision-prod"})
    package = world.package(project["id"], name="detector")
    stack = world.tmp_path / "example"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".platforge"))
    platform = stack / "platform.toml"
    platform.write_text(re.sub(r'endpoint = ".*"', f'endpoint = "{world.url}"', platform.read_text()))
    functions = stack / "project.toml"
    text, replaced = re.subn(r'package_id = "[0-9a-f]{24}"', f'package_id = "{package}"', functions.read_text())
    assert replaced == 1
    functions.write_text(text)
    monkeypatch.setenv(OPTIONS_ENV, json.dumps({"key": "OPENAI_API_KEY", "value": "sk-" + SECRET_MARKER}))
    return stack, package


def test_the_files_hold_no_secret_and_name_the_variable_instead():
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(EXAMPLE.glob("*.toml")))
    assert f'options = {{ from_env = "{OPTIONS_ENV}" }}' in text
    assert 'password_env = "DATALOOP_PASSWORD"' in text
    assert not re.search(r"sk-[A-Za-z0-9]|password\s*=\s*\"", text)


def test_the_example_applies_on_a_fresh_sandbox_then_plans_nothing_and_a_second_apply_writes_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch):
    stack, package = example_against(world, monkeypatch)
    first = world.cli("plan", stack)
    assert first.exit_code == 2, first.stdout + first.stderr
    assert "1 to import, 11 to create" in first.stdout, first.stdout
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr

    org = world.org_id()
    members = {m["email"]: m["role"] for m in world.call("GET", f"/orgs/{org}/members")}
    assert {k: members[k] for k in ("alice@example.com", "bob@example.com", "carol@example.com")} == {
        "alice@example.com": "admin", "bob@example.com": "member", "carol@example.com": "worker"}
    pid = world.project("vision-prod")["id"]
    bindings = {m["email"]: m["role"] for m in world.call("GET", f"/projects/{pid}/members")
                if m["membershipType"] == "member"}
    assert bindings == {"admin@sandbox.local": "owner", "alice@example.com": "owner", "bob@example.com": "engineer",
                        "carol@example.com": "annotator"}
    (integration,) = world.call("GET", f"/orgs/{org}/integrations")
    assert integration["name"] == "openai-key" and integration["type"] == "key_value"
    (dataset,) = world.query("/datasets/query", "datasets", context={"projects": [pid]})
    assert dataset["name"] == "raw-images" and dataset["expirationOptions"]["itemMaxDays"] == 90
    (service,) = world.query("/query/faas", "services", {"projectId": pid})
    assert (service["name"], service["packageId"], service["packageRevision"]) == ("detector", package, "1.0.0")
    assert service["secrets"] == [integration["id"]] and service["runtime"]["autoscaler"]["queueLength"] == 20
    (trigger,) = world.query("/query/faas", "triggers", {"projectId": pid})
    assert trigger["spec"]["cron"] == "0 2 * * *" and trigger["spec"]["operation"]["serviceId"] == service["id"]
    (pipeline,) = world.query("/pipelines/query", "pipeline", {"projectId": pid})
    assert pipeline["status"] == "Installed" and sorted(n["name"] for n in pipeline["nodes"]) == ["detect", "incoming"]
    assert len(pipeline["connections"]) == 1

    again = world.cli("plan", stack)
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout
    mark = world.mark()
    second = world.cli("apply", stack, "--yes")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert world.writes_since(mark) == []
    drift = world.cli("drift", stack, "--format", "json")
    findings = {(f["cause"], f["address"]) for f in json.loads(drift.stdout)["findings"]}
    assert findings <= {("unmanaged", "org_member.admin@sandbox.local")}, findings

    state = (stack / ".platforge" / "state.json").read_text(encoding="utf-8")
    assert SECRET_MARKER not in state
    for output in (first, applied, again, second, drift):
        assert SECRET_MARKER not in output.stdout + output.stderr


def test_a_trigger_runs_a_service_whose_table_name_differs_from_its_dataloop_name(world: World):
    project = world.call("POST", "/projects", {"name": "vision-prod"})
    package = world.package(project["id"], name="detector")
    stack = world.stack(f"""
        [adopt]
        objects = ["project.vision-prod"]
        [project.vision-prod]
        [service.vision-detector]
        project = "vision-prod"
        name = "detector"
        package_id = "{package}"
        [trigger.nightly]
        project = "vision-prod"
        type = "Cron"
        service = "vision-detector"
        cron = "0 2 * * *"
        """)
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    plan = world.cli("plan", stack)
    assert plan.exit_code == 0, plan.stdout + plan.stderr  # the live trigger names "detector": in sync
