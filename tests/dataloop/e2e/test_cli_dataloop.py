"""The `platforge` command line against the embedded Dataloop sandbox: a stack of all eight kinds
applies, converges (the plan after it is empty, a second apply sends no write), reports changes
made behind its back under their cause, keeps datasets from being deleted without their own
confirmation, and exits 0, 2 and 1 as documented."""

from __future__ import annotations

import json

from tests.dataloop.client.test_kinds import ALL_KINDS

from .conftest import SECRET_MARKER, World


def full_stack(world: World) -> tuple[str, str]:
    """ALL_KINDS with a package the sandbox knows, in a project the stack owns: (body, package)."""
    seed = world.stack("[project.vision]\n")
    assert world.cli("apply", seed, "--yes").exit_code == 0
    package = world.package(world.project("vision")["id"])
    return ALL_KINDS.replace("5f5f0c1e2a3b4c5d6e7f8091", package), package


def test_all_eight_kinds_apply_then_plan_is_empty_and_a_second_apply_writes_nothing(world: World):
    body, package = full_stack(world)
    stack = world.stack(body)
    first = world.cli("plan", stack)
    assert first.exit_code == 2, first.stdout + first.stderr
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr

    org = world.org_id()
    members = {m["email"]: m["role"] for m in world.call("GET", f"/orgs/{org}/members")}
    assert members["bob@acme.test"] == "admin"
    project = world.project("vision")
    pid = project["id"]
    bindings = {m["email"]: m["role"] for m in world.call("GET", f"/projects/{pid}/members")}
    assert bindings["bob@acme.test"] == "annotator"
    (integration,) = world.call("GET", f"/orgs/{org}/integrations")
    assert integration["name"] == "openai-key" and SECRET_MARKER not in json.dumps(integration)
    (dataset,) = world.query("/datasets/query", "datasets", context={"projects": [pid]})
    assert dataset["name"] == "raw" and dataset["expirationOptions"]["itemMaxDays"] == 30
    (service,) = world.query("/query/faas", "services", {"projectId": pid})
    assert service["packageId"] == package and service["secrets"] == [integration["id"]]
    assert service["runtime"]["podType"] == "regular-xs" and service["runtime"]["autoscaler"]["maxReplicas"] == 2
    triggers = {t["name"]: t for t in world.query("/query/faas", "triggers", {"projectId": pid})}
    assert triggers["nightly"]["spec"]["cron"] == "0 2 * * *"
    assert triggers["on-upload"]["spec"]["operation"]["serviceId"] == service["id"]
    (pipeline,) = world.query("/pipelines/query", "pipeline", {"projectId": pid})
    assert pipeline["status"] == "Installed" and sorted(n["name"] for n in pipeline["nodes"]) == ["detect", "incoming"]

    state = (stack / ".platforge" / "state.json").read_text(encoding="utf-8")
    assert SECRET_MARKER not in state
    resources = json.loads(state)["resources"]
    assert resources["pipeline.ingest"]["platform_id"] == pipeline["id"]
    assert resources["integration.openai-key"]["fingerprints"]["options"].startswith("hmac-sha256:")

    again = world.cli("plan", stack)
    assert again.exit_code == 0, again.stdout
    mark = world.mark()
    second = world.cli("apply", stack, "--yes")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert world.writes_since(mark) == []
    assert world.cli("drift", stack).exit_code == 0
    for output in (first, applied, again, second, world.cli("plan", stack, "--json")):
        assert SECRET_MARKER not in output.stdout + output.stderr


def test_out_of_band_changes_are_reported_by_cause_and_put_back(world: World):
    body, package = full_stack(world)
    stack = world.stack(body)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    pid = world.project("vision")["id"]

    world.call("PATCH", f"/projects/{pid}/members/bob@acme.test", {"role": "engineer"})          # out of band
    triggers = {t["name"]: t for t in world.query("/query/faas", "triggers", {"projectId": pid})}
    nightly = triggers["nightly"]
    world.call("PATCH", f"/triggers/{nightly['id']}", {**nightly, "spec": {**nightly["spec"], "cron": "0 5 * * *"}})
    world.call("DELETE", f"/triggers/{triggers['on-upload']['id']}")                              # missing
    (pipeline,) = world.query("/pipelines/query", "pipeline", {"projectId": pid})
    world.call("POST", f"/pipelines/{pipeline['id']}/uninstall", {})                              # out of band
    world.call("POST", "/datasets", {"name": "scratch", "projects": [pid]})                        # unmanaged

    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    found = {(f["cause"], f["address"]) for f in report["findings"]}
    assert {("out_of_band", "project_member.vision-bob"), ("out_of_band", "trigger.nightly"),
            ("missing", "trigger.on-upload"), ("out_of_band", "pipeline.ingest"),
            ("unmanaged", "dataset.vision/scratch")} <= found, found
    by_address = {f["address"]: f for f in report["findings"] if f["cause"] == "out_of_band"}
    (change,) = by_address["trigger.nightly"]["changes"]
    assert (change["path"], change["old"], change["new"]) == ("cron", "0 2 * * *", "0 5 * * *")  # declared, live
    (change,) = by_address["pipeline.ingest"]["changes"]
    assert (change["path"], change["new"]) == ("installed", False)
    assert report["secret_detection"].startswith("fingerprint")

    # Apply puts them back; the unmanaged dataset stays untouched.
    assert world.cli("apply", stack, "--yes").exit_code == 0
    after = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert {(f["cause"], f["address"]) for f in after["findings"]} <= {
        ("unmanaged", "dataset.vision/scratch"), ("unmanaged", "org_member.admin@sandbox.local")}
    names = sorted(d["name"] for d in world.query("/datasets/query", "datasets", context={"projects": [pid]}))
    assert names == ["raw", "scratch"]


def test_a_pipeline_change_uninstalls_patches_and_installs_it_again(world: World):
    body, _ = full_stack(world)
    stack = world.stack(body)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    pid = world.project("vision")["id"]
    (pipeline,) = world.query("/pipelines/query", "pipeline", {"projectId": pid})
    before = {n["name"]: n["id"] for n in pipeline["nodes"]}

    world.stack(body.replace('namespace = { function_name = "run", service_name = "detector" }',
                             'namespace = { function_name = "predict", service_name = "detector" }'))
    mark = world.mark()
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    plid = pipeline["id"]
    assert [(w["method"], w["path"]) for w in world.writes_since(mark)] == [
        ("POST", f"/api/v1/pipelines/{plid}/uninstall"), ("PATCH", f"/api/v1/pipelines/{plid}"),
        ("POST", f"/api/v1/pipelines/{plid}/install")]
    after = world.call("GET", f"/pipelines/{plid}")
    assert after["status"] == "Installed" and {n["name"]: n["id"] for n in after["nodes"]} == before
    detect = next(n for n in after["nodes"] if n["name"] == "detect")
    assert detect["namespace"]["functionName"] == "predict"
    assert world.cli("plan", stack).exit_code == 0


def test_a_trigger_whose_type_changes_is_replaced(world: World):
    body, _ = full_stack(world)
    stack = world.stack(body)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    old = json.loads((stack / ".platforge" / "state.json").read_text())["resources"]["trigger.nightly"]["platform_id"]
    world.stack(body.replace('type = "Cron"\nservice = "detector"\ncron = "0 2 * * *"',
                             'type = "Event"\nservice = "detector"\nresource = "Dataset"'))
    plan = json.loads(world.cli("plan", stack, "--json").stdout)
    (action,) = [a for a in plan["actions"] if a["op"] != "no-op"]
    assert (action["address"], action["op"]) == ("trigger.nightly", "replace")
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    writes = [(w["method"], w["path"]) for w in world.writes_since(mark)]
    assert writes == [("DELETE", f"/api/v1/triggers/{old}"), ("POST", "/api/v1/triggers")]
    assert world.cli("plan", stack).exit_code == 0


def test_a_dataset_is_deleted_only_once_its_stack_allows_it(world: World):
    stack = world.stack('[project.vision]\n[dataset.raw]\nproject = "vision"\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0
    world.stack("[project.vision]\n")
    plan = world.cli("plan", stack, "--prune")
    assert plan.exit_code == 2 and "deletion_protection = false" in plan.stdout
    mark = world.mark()
    refused = world.cli("apply", stack, "--yes", "--prune", "--confirm-delete", "dataset.raw")
    assert refused.exit_code == 1 and "items and annotations would be lost" in refused.stderr
    assert world.writes_since(mark) == []
    pid = world.project("vision")["id"]
    assert [d["name"] for d in world.query("/datasets/query", "datasets", context={"projects": [pid]})] == ["raw"]

    world.stack('[project.vision]\n[dataset.raw]\nproject = "vision"\ndeletion_protection = false\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.writes_since(mark) == [], "the setting is platforge's own: nothing reaches Dataloop"
    world.stack("[project.vision]\n")
    confirmed = world.cli("apply", stack, "--yes", "--prune")
    assert confirmed.exit_code == 0, confirmed.stdout + confirmed.stderr
    assert world.query("/datasets/query", "datasets", context={"projects": [pid]}) == []
    assert world.cli("plan", stack).exit_code == 0


def test_exit_codes_and_bad_input_before_any_request(world: World):
    mark = world.mark()
    bad = world.stack('[dataset.raw]\nproject = "vision"\nexpiration_days = "30"\n', name="bad")
    result = world.cli("plan", bad)
    assert result.exit_code == 1
    assert "main.toml:8 [dataset.raw.expiration_days]" in result.stderr
    assert "expected a positive number of days; found the string '30'" in result.stderr
    assert world.log_lines()[mark:] == []  # refused before the first request

    stack = world.stack("[project.vision]\n")
    assert world.cli("plan", stack).exit_code == 2
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.cli("plan", stack).exit_code == 0
    assert world.cli("drift", stack).exit_code == 0


def test_adopting_by_a_shared_name_is_refused_with_the_candidates(world: World):
    stack = world.stack('[project.vision]\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0
    pid = world.project("vision")["id"]
    first = world.call("POST", "/datasets", {"name": "raw", "projects": [pid]})["id"]
    second = world.call("POST", "/datasets", {"name": "raw", "projects": [pid]})["id"]
    world.stack('[project.vision]\n[dataset.raw]\nproject = "vision"\n')
    result = world.cli("plan", stack, "--adopt", "dataset.raw")
    assert result.exit_code == 1 and first in result.stderr and second in result.stderr
    adopted = world.cli("apply", stack, "--yes", "--adopt", f"dataset.raw={second}")
    assert adopted.exit_code == 0, adopted.stdout + adopted.stderr
    state = json.loads((stack / ".platforge" / "state.json").read_text())
    assert state["resources"]["dataset.raw"]["platform_id"] == second


def test_credentials_come_from_the_variables_the_stack_names_and_never_show(world: World, monkeypatch):
    stack = world.stack('[project.vision]\n')
    monkeypatch.setenv("DATALOOP_PASSWORD", "wrong-" + world.password)
    refused = world.cli("plan", stack)
    assert refused.exit_code == 1
    assert "DATALOOP_EMAIL and DATALOOP_PASSWORD" in refused.stderr and world.password not in refused.stderr

    monkeypatch.delenv("DATALOOP_PASSWORD")
    monkeypatch.delenv("DATALOOP_EMAIL")
    missing = world.cli("plan", stack)
    assert missing.exit_code == 1 and "no Dataloop credentials" in missing.stderr

    token = world.http().headers["Authorization"].removeprefix("Bearer ")
    monkeypatch.setenv("CI_DATALOOP_TOKEN", token)
    world.stack('[project.vision]\n').joinpath("main.toml").write_text(
        f'[platform]\ntype = "dataloop"\nendpoint = "{world.url}/api/v1"\norg = "acme"\n'
        'token_env = "CI_DATALOOP_TOKEN"\n\n[project.vision]\n', encoding="utf-8")
    with_token = world.cli("apply", stack, "--yes")
    assert with_token.exit_code == 0, with_token.stdout + with_token.stderr
    assert token not in with_token.stdout + with_token.stderr
    assert world.project("vision")["name"] == "vision"
