"""Changes an admin script makes through Dataloop's own SDK (`dtlpy`) behind the stack's back
are reported by `platforge drift` under their cause, and the next apply puts them back.

dtlpy keeps its login and environments in `$DATALOOP_PATH`, read when it is imported, so the
script runs in a process of its own with a private `DATALOOP_PATH`: nothing leaks between tests
or into the developer's own `~/.dataloop`."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from .conftest import ADMIN, World
from .test_cli_dataloop import full_stack

# Only looked for: importing dtlpy here would read (and write) `~/.dataloop` in the test process.
pytestmark = [pytest.mark.sdk,
              pytest.mark.skipif(importlib.util.find_spec("dtlpy") is None, reason="dtlpy is not installed")]

SCRIPT = textwrap.dedent("""
    import os, sys
    url, email, password = sys.argv[1:4]
    import dtlpy as dl
    dl.add_environment(environment=url + "/api/v1", alias="sandbox", gate_url=url, url=url + "/")
    dl.setenv("sandbox")
    dl.login_m2m(email=email, password=password, client_id="unused", client_secret="unused")
    project = dl.projects.get(project_name="vision")
    project.update_member(email="bob@acme.test", role=dl.MemberRole.DEVELOPER)
    trigger = project.triggers.get(trigger_name="nightly")
    trigger.cron = "0 4 * * *"
    trigger.update()
    service = project.services.get(service_name="detector")
    service.execution_timeout = 900
    service.update()
    dataset = project.datasets.get(dataset_name="raw")
    dataset.name = "raw-renamed"
    dataset.update()
    project.datasets.create(dataset_name="from-sdk")
    project.pipelines.get(pipeline_name="ingest").pause()
    org = dl.organizations.get(organization_name="acme")
    dl.organizations.update_member(email="bob@acme.test", role=dl.MemberOrgRole.MEMBER, organization=org)
    (integration,) = [i for i in org.integrations.list() if i["name"] == "openai-key"]
    org.integrations.update(new_name="openai-key-old", integrations_id=integration["id"], organization_id=org.id)
""")

RENAME = textwrap.dedent("""
    import sys
    url, email, password = sys.argv[1:4]
    import dtlpy as dl
    dl.add_environment(environment=url + "/api/v1", alias="sandbox", gate_url=url, url=url + "/")
    dl.setenv("sandbox")
    dl.login_m2m(email=email, password=password, client_id="unused", client_secret="unused")
    project = dl.projects.get(project_name="solo")
    project.name = "solo-renamed"
    project.update()
""")


def run_dtlpy(world: World, script: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DTLPY_", "DATALOOP_"))}
    env["DATALOOP_PATH"] = str(world.tmp_path / "dtlpy")
    path = world.tmp_path / "oob.py"
    path.write_text(script, encoding="utf-8")
    done = subprocess.run([sys.executable, str(path), world.url, ADMIN, world.password], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_changes_made_through_dtlpy_are_drift_by_cause(world: World):
    body, _ = full_stack(world)
    stack = world.stack(body)
    assert world.cli("apply", stack, "--yes").exit_code == 0

    run_dtlpy(world, SCRIPT)

    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2, result.stdout + result.stderr
    findings = {f["address"]: f for f in json.loads(result.stdout)["findings"]}
    changes = {address: [(c["path"], c["old"], c["new"]) for c in f["changes"]]
               for address, f in findings.items() if f["cause"] == "out_of_band"}
    assert changes == {
        "project_member.vision-bob": [("role", "annotator", "engineer")],
        "trigger.nightly": [("cron", "0 2 * * *", "0 4 * * *")],
        # The service names its integration by name: renamed, the service shows the new name.
        "service.detector": [("execution_timeout", 600, 900), ("secrets", ["openai-key"], ["openai-key-old"])],
        "dataset.raw": [("name", "raw", "raw-renamed")],
        "pipeline.ingest": [("installed", True, False)],
        "org_member.bob": [("role", "admin", "member")],
        "integration.openai-key": [("name", "openai-key", "openai-key-old")],
    }
    assert findings["dataset.vision/from-sdk"]["cause"] == "unmanaged"

    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert len(world.writes_since(mark)) == 7
    after = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert {f["cause"] for f in after["findings"]} == {"unmanaged"}
    assert "dataset.vision/from-sdk" in {f["address"] for f in after["findings"]}


def test_a_project_renamed_through_dtlpy_is_drift_and_named_back(world: World):
    stack = world.stack("[project.solo]\n")
    assert world.cli("apply", stack, "--yes").exit_code == 0
    run_dtlpy(world, RENAME)
    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2, result.stdout + result.stderr
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["address"] == "project.solo"]
    assert finding["cause"] == "out_of_band"
    assert [(c["path"], c["old"], c["new"]) for c in finding["changes"]] == [("name", "solo", "solo-renamed")]
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.project("solo")["name"] == "solo"
    assert world.cli("plan", stack).exit_code == 0
