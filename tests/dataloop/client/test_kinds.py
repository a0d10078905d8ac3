"""Every Dataloop kind through the core's Engine against the fake gate: create, converge, keep
server ids, refuse ambiguous names, never store or print an integration's options, never delete
a dataset without its own confirmation, replace a trigger whose type changes, and change an
installed pipeline by uninstalling, patching and installing it again."""

from __future__ import annotations

import json
import secrets

import pytest
from platforge.provider.dataloop.kinds.pipeline import node_id, port_id

from platforge.core.errors import AdoptionError, PlanError, StackError
from platforge.core.model import Op

from .conftest import EMAIL, ORG_ID, PREFIX, FakeDataloop, StackHarness

SECRET = "sk-MARKER-" + secrets.token_hex(4)  # generated per run: no credential in the repository
OPTIONS = json.dumps({"key": "OPENAI_API_KEY", "value": SECRET})

ALL_KINDS = """
[org_member.bob]
email = "Bob@Acme.test"
role = "admin"

[integration.openai-key]
type = "key_value"
options = { from_env = "OPENAI_INTEGRATION" }

[project.vision]

[project_member.vision-bob]
project = "vision"
email = "bob@acme.test"
role = "annotator"

[dataset.raw]
project = "vision"
expiration_days = 30

[service.detector]
project = "vision"
package_id = "5f5f0c1e2a3b4c5d6e7f8091"
package_revision = "1.0.0"
init_params = { threshold = 0.5 }
secrets = ["openai-key"]
execution_timeout = 600
[service.detector.runtime]
pod_type = "regular-xs"
autoscaler = { max_replicas = 2 }

[trigger.nightly]
project = "vision"
type = "Cron"
service = "detector"
cron = "0 2 * * *"
input = { threshold = 0.9 }

[trigger.on-upload]
project = "vision"
type = "Event"
service = "detector"
actions = ["Created", "Updated"]
filter = { "$and" = [{ dir = "/incoming" }] }

[pipeline.ingest]
project = "vision"
description = "new images to the detector"
installed = true
[[pipeline.ingest.nodes]]
name = "incoming"
type = "storage"
namespace = { function_name = "dataset_handler", service_name = "pipeline-utils" }
outputs = [{ name = "item" }]
[[pipeline.ingest.nodes]]
name = "detect"
type = "function"
namespace = { function_name = "run", service_name = "detector" }
inputs = [{ name = "item" }]
outputs = [{ name = "item" }]
[[pipeline.ingest.connections]]
source = "incoming"
target = "detect"
"""


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch):
    monkeypatch.setenv("OPENAI_INTEGRATION", OPTIONS)


def apply(harness: StackHarness, **kwargs):
    return harness.engine().apply(**kwargs)


def one(store: dict, **match):
    (found,) = [v for v in store.values() if all(v.get(k) == w for k, w in match.items())]
    return found


def test_all_eight_kinds_apply_converge_and_a_second_apply_writes_nothing(harness: StackHarness):
    harness.write(ALL_KINDS)
    plan, result = apply(harness)
    assert result.ok, result.failed
    assert {a.op for a in plan.actions} == {Op.CREATE}
    gate = harness.gate
    assert gate.org_members["bob@acme.test"]["role"] == "admin"
    project = one(gate.projects, name="vision")
    pid = project["id"]
    assert gate.members[pid]["bob@acme.test"]["role"] == "annotator"
    integration = one(gate.integrations, name="openai-key")
    assert gate.integration_options[integration["id"]] == json.loads(OPTIONS)
    dataset = one(gate.datasets, name="raw")
    assert dataset["projects"] == [pid] and dataset["expirationOptions"] == {"itemMaxDays": 30}
    service = one(gate.services, name="detector")
    assert service["secrets"] == [integration["id"]] and service["initParams"] == {"threshold": 0.5}
    assert service["runtime"]["podType"] == "regular-xs" and service["runtime"]["autoscaler"]["maxReplicas"] == 2
    assert service["runtime"]["autoscaler"]["queueLength"] == 1000  # undeclared: Dataloop's own
    nightly = one(gate.triggers, name="nightly")
    assert nightly["type"] == "Cron" and nightly["spec"]["cron"] == "0 2 * * *"
    assert nightly["spec"]["operation"] == {"type": "function", "serviceId": service["id"], "functionName": "run"}
    event = one(gate.triggers, name="on-upload")
    assert event["spec"]["resource"] == "Item" and event["spec"]["actions"] == ["Created", "Updated"]
    pipeline = one(gate.pipelines, name="ingest")
    assert pipeline["status"] == "Installed"
    nodes = {n["name"]: n for n in pipeline["nodes"]}
    assert nodes["detect"]["id"] == node_id("vision", "ingest", "detect")
    assert nodes["detect"]["inputs"][0]["portId"] == port_id(nodes["detect"]["id"], "inputs", "item")
    (connection,) = pipeline["connections"]
    assert connection["src"]["nodeId"] == nodes["incoming"]["id"] and connection["condition"] == "{}"
    assert pipeline["startNodes"][0]["nodeId"] == nodes["incoming"]["id"]

    state = harness.state()
    assert state["resources"]["project.vision"]["platform_id"] == pid
    assert state["resources"]["service.detector"]["platform_id"] == service["id"]

    # The plan after apply is empty, and applying again sends no write.
    assert not harness.engine().plan().has_changes
    mark = gate.mark()
    _, again = apply(harness)
    assert again.ok and gate.writes(mark) == []


def test_live_state_costs_one_request_per_listing_page_never_one_per_object(harness: StackHarness):
    harness.write(ALL_KINDS)
    apply(harness)
    harness.page_size = 1  # every listing of more than one object takes several pages
    gate = harness.gate
    engine = harness.engine()
    engine.client.me()
    mark = gate.mark()
    assert not engine.plan().has_changes
    requests = gate.requests[mark:]
    gets = sorted(r.url.path.removeprefix(PREFIX) for r in requests if r.method == "GET")
    assert len(gets) == len(set(gets)), gets  # each bare-array listing once
    assert not any(p.startswith(("/services/", "/datasets/", "/triggers/", "/pipelines/")) for p in gets)
    queries = [(r.url.path, json.loads(r.content)) for r in requests if r.method == "POST"]
    triggers = [b["page"] for p, b in queries if b.get("resource") == "triggers"]
    assert triggers == [0, 1]  # two triggers, one per page, one listing
    assert all(r.method in ("GET", "POST") for r in requests) and gate.writes(mark) == []


def test_a_name_two_objects_share_is_refused_with_their_ids_and_adopted_by_id(harness: StackHarness):
    gate = harness.gate
    pid = gate.add_project("vision")
    first = gate.add_dataset(pid, "raw")
    second = gate.add_dataset(pid, "raw")
    harness.write("""
    [project.vision]
    [dataset.raw]
    project = "vision"
    """)
    with pytest.raises(StackError) as caught:
        harness.engine().plan(adopt=["project.vision"])
    message = str(caught.value)
    assert "2 live dataset objects match vision/raw" in message and first in message and second in message
    plan, result = apply(harness, adopt=["project.vision", f"dataset.raw={second}"])
    assert result.ok and harness.state()["resources"]["dataset.raw"]["platform_id"] == second
    assert set(gate.datasets) == {first, second}  # adopted, nothing created


def test_a_project_name_two_projects_share_is_refused_naming_both(harness: StackHarness):
    gate = harness.gate
    a, b = gate.add_project("vision"), gate.add_project("vision")
    harness.write("""
    [external]
    project = ["vision"]
    [dataset.raw]
    project = "vision"
    """)
    with pytest.raises(PlanError) as caught:
        harness.engine().plan()
    assert a in str(caught.value) and b in str(caught.value)
    harness.write(f"""
    [dataset.raw]
    project = "{b}"
    """)
    plan, result = apply(harness)
    assert result.ok and one(gate.datasets, name="raw")["projects"] == [b]
    assert not harness.engine().plan().has_changes


def test_a_rename_is_an_update_of_the_same_id(harness: StackHarness):
    harness.write('[project.vision]\n[dataset.raw]\nproject = "vision"\n')
    apply(harness)
    did = harness.state()["resources"]["dataset.raw"]["platform_id"]
    harness.write('[project.vision]\n[dataset.raw]\nproject = "vision"\nname = "raw-v2"\n')
    plan, result = apply(harness)
    (action,) = plan.changes
    assert action.op is Op.UPDATE and result.ok
    assert harness.gate.datasets[did]["name"] == "raw-v2" and len(harness.gate.datasets) == 1


def test_integration_options_are_sent_on_write_only_and_never_planned_or_stored(harness: StackHarness, monkeypatch):
    harness.write(ALL_KINDS)
    engine = harness.engine()
    first = engine.plan()
    assert SECRET not in json.dumps(first.to_json())
    mark = harness.gate.mark()
    apply(harness)
    carrying = [r for r in harness.gate.requests[mark:] if SECRET.encode() in r.content]
    assert [(r.method, r.url.path) for r in carrying] == [("POST", f"{PREFIX}/orgs/{ORG_ID}/integrations")]
    state = harness.state_text()
    assert SECRET not in state
    assert json.loads(state)["resources"]["integration.openai-key"]["fingerprints"]["options"].startswith("hmac-sha256:")

    # A new value: one PATCH with the credentials, shown as sensitive in the plan.
    rotated = SECRET + "-ROTATED"
    monkeypatch.setenv("OPENAI_INTEGRATION", OPTIONS.replace(SECRET, rotated))
    plan = harness.engine().plan()
    (action,) = plan.changes
    assert action.address == "integration.openai-key" and action.op is Op.UPDATE
    assert action.to_json()["changes"][0]["new"] == "(sensitive)" and "ROTATED" not in json.dumps(plan.to_json())
    mark = harness.gate.mark()
    apply(harness)
    (patch,) = harness.gate.writes(mark)
    body = json.loads(patch.content)
    assert patch.method == "PATCH" and body["credentials"]["options"]["value"] == rotated
    assert "ROTATED" not in harness.state_text()
    assert not harness.engine().plan().has_changes


def test_integration_options_that_are_not_a_json_object_are_refused_without_the_value(harness: StackHarness,
                                                                                       monkeypatch):
    monkeypatch.setenv("OPENAI_INTEGRATION", "sk-NOT-JSON-4411")
    harness.write('[integration.openai-key]\ntype = "key_value"\noptions = { from_env = "OPENAI_INTEGRATION" }\n')
    with pytest.raises(StackError) as caught:
        harness.engine()
    message = str(caught.value)
    assert "main.toml:6 [integration.openai-key]" in message and ".options: expected" in message and "JSON object" in message
    assert "sk-NOT-JSON-4411" not in message
    assert harness.gate.requests == []


def test_bad_input_names_file_line_field_expected_and_found(harness: StackHarness):
    harness.write("""
    [project_member.x]
    project = "vision"
    email = "bob@acme.test"
    role = "boss"

    [dataset.raw]
    project = "vision"
    expiration_days = "30"

    [trigger.t]
    project = "vision"
    type = "Cron"
    service = "detector"
    """)
    with pytest.raises(StackError) as caught:
        harness.engine()
    problems = {p.path: p for p in caught.value.problems}
    role = problems["project_member.x.role"]
    assert role.line == 10 and "'owner'" in role.message and "the string 'boss'" in role.message
    days = problems["dataset.raw.expiration_days"]
    assert days.line == 14 and "a positive number of days" in days.message and "the string '30'" in days.message
    assert any("needs cron" in p.message for p in caught.value.problems)
    assert harness.gate.requests == []


def test_a_dataset_is_never_deleted_until_its_stack_applies_deletion_protection_off(harness: StackHarness):
    harness.write('[project.vision]\n[dataset.raw]\nproject = "vision"\n')
    apply(harness)
    did = harness.state()["resources"]["dataset.raw"]["platform_id"]
    assert harness.state()["resources"]["dataset.raw"]["applied"]["deletion_protection"] is True
    harness.write('[project.vision]\n')
    plan = harness.engine().plan(prune=True)
    (action,) = plan.changes
    assert action.op is Op.DELETE and "items and annotations would be lost" in action.blocked
    mark = harness.gate.mark()
    engine = harness.engine()
    engine.policy = engine.policy.with_confirmed_deletes(["dataset.raw"])  # no flag overrides it
    with pytest.raises(AdoptionError) as caught:
        engine.apply(prune=True)
    assert "deletion_protection = false" in str(caught.value)
    assert harness.gate.writes(mark) == [] and did in harness.gate.datasets

    harness.write('[project.vision]\n[dataset.raw]\nproject = "vision"\ndeletion_protection = false\n')
    (update,) = harness.engine().plan().changes
    assert update.op is Op.UPDATE and [c.path for c in update.changes] == ["deletion_protection"]
    apply(harness)
    assert harness.gate.writes(mark) == [], "platforge's own setting: nothing is sent to Dataloop"
    harness.write('[project.vision]\n')
    _, result = apply(harness, prune=True)
    assert result.ok and did not in harness.gate.datasets


def test_a_dataset_is_never_replaced_to_change_what_cannot_change(harness: StackHarness):
    harness.write('[project.vision]\n[dataset.raw]\nproject = "vision"\nexpiration_days = 30\n')
    apply(harness)
    harness.write('[project.vision]\n[dataset.raw]\nproject = "vision"\nexpiration_days = 7\n')
    plan = harness.engine().plan()
    (action,) = plan.changes
    assert action.op is Op.UPDATE and "never deletes a dataset" in action.blocked
    mark = harness.gate.mark()
    with pytest.raises(AdoptionError):
        apply(harness)
    assert harness.gate.writes(mark) == []


def test_a_trigger_whose_type_changes_is_replaced(harness: StackHarness):
    base = """
    [project.vision]
    [service.detector]
    project = "vision"
    package_id = "5f5f0c1e2a3b4c5d6e7f8091"
    [trigger.t]
    project = "vision"
    service = "detector"
    """
    harness.write(base + 'type = "Cron"\ncron = "0 2 * * *"\n')
    apply(harness)
    old = harness.state()["resources"]["trigger.t"]["platform_id"]
    harness.write(base + 'type = "Event"\nresource = "Dataset"\n')
    plan = harness.engine().plan()
    (action,) = plan.changes
    assert action.op is Op.REPLACE and action.reason == "type cannot change in place"
    assert [c.path for c in action.changes if c.forces_replace] == ["type"]
    mark = harness.gate.mark()
    _, result = apply(harness)
    assert result.ok
    assert harness.gate.write_lines(mark) == [f"DELETE /triggers/{old}", "POST /triggers"]
    (trigger,) = harness.gate.triggers.values()
    assert trigger["type"] == "Event" and trigger["spec"]["resource"] == "Dataset"
    assert not harness.engine().plan().has_changes


def test_a_trigger_update_sends_back_what_it_does_not_manage(harness: StackHarness):
    harness.write(ALL_KINDS)
    apply(harness)
    nightly = one(harness.gate.triggers, name="nightly")
    nightly["spec"]["operation"]["extra"] = "kept"
    harness.write(ALL_KINDS.replace('cron = "0 2 * * *"', 'cron = "0 3 * * *"'))
    mark = harness.gate.mark()
    _, result = apply(harness)
    assert result.ok and harness.gate.write_lines(mark) == [f"PATCH /triggers/{nightly['id']}"]
    assert nightly["spec"]["cron"] == "0 3 * * *" and nightly["spec"]["operation"]["extra"] == "kept"


def test_an_installed_pipeline_is_uninstalled_patched_and_installed_again(harness: StackHarness):
    harness.write(ALL_KINDS)
    apply(harness)
    pipeline = one(harness.gate.pipelines, name="ingest")
    plid = pipeline["id"]
    pipeline["nodes"][0]["metadata"]["position"] = {"x": 7, "y": 8, "z": 0}  # moved in the UI
    moved = pipeline["nodes"][0]["name"]
    assert not harness.engine().plan().has_changes  # the canvas is the UI's
    changed = ALL_KINDS.replace('name = "detect"\ntype = "function"\nnamespace = { function_name = "run",',
                                'name = "detect"\ntype = "function"\nnamespace = { function_name = "predict",')
    harness.write(changed)
    plan = harness.engine().plan()
    (action,) = plan.changes
    assert action.op is Op.UPDATE and action.changes[0].path == "nodes.detect.namespace.function_name"
    mark = harness.gate.mark()
    _, result = apply(harness)
    assert result.ok
    assert harness.gate.write_lines(mark) == [f"POST /pipelines/{plid}/uninstall", f"PATCH /pipelines/{plid}",
                                              f"POST /pipelines/{plid}/install"]
    nodes = {n["name"]: n for n in harness.gate.pipelines[plid]["nodes"]}
    assert nodes["detect"]["namespace"]["functionName"] == "predict"
    assert nodes["detect"]["id"] == node_id("vision", "ingest", "detect")  # the same node, the same id
    assert nodes[moved]["metadata"]["position"] == {"x": 7, "y": 8, "z": 0}
    assert harness.gate.pipelines[plid]["status"] == "Installed"
    assert not harness.engine().plan().has_changes

    # Only the install state: no uninstall-patch-install round.
    harness.write(changed.replace("installed = true", "installed = false"))
    mark = harness.gate.mark()
    apply(harness)
    assert harness.gate.write_lines(mark) == [f"POST /pipelines/{plid}/uninstall"]


def test_node_ids_are_deterministic_and_a_ui_added_node_is_drift(harness: StackHarness, tmp_path):
    harness.write(ALL_KINDS)
    apply(harness)
    pipeline = one(harness.gate.pipelines, name="ingest")
    ids = sorted(n["id"] for n in pipeline["nodes"])
    assert ids == sorted(node_id("vision", "ingest", name) for name in ("incoming", "detect"))
    pipeline["nodes"].append({"id": "x-1", "name": "extra", "type": "code", "inputs": [], "outputs": [],
                              "metadata": {"position": {"x": 0, "y": 0}}})
    report = harness.engine().drift()
    (finding,) = [f for f in report.to_json()["findings"] if f["address"] == "pipeline.ingest"]
    assert finding["cause"] == "out_of_band" and finding["changes"][0]["path"].startswith("nodes.extra")


def test_pipeline_connections_must_name_ports_that_exist(harness: StackHarness):
    harness.write("""
    [pipeline.p]
    project = "vision"
    [[pipeline.p.nodes]]
    name = "a"
    type = "code"
    outputs = [{ name = "x" }, { name = "y" }]
    [[pipeline.p.nodes]]
    name = "b"
    type = "code"
    inputs = [{ name = "z" }]
    [[pipeline.p.connections]]
    source = "a"
    target = "b"
    """)
    with pytest.raises(StackError) as caught:
        harness.engine()
    assert "node a has 2 outputs; name the source_port" in str(caught.value)


def test_group_rows_and_the_creators_binding_are_neither_drift_nor_unmanaged(harness: StackHarness):
    harness.write('[project.vision]\n[project_member.bob]\nproject = "vision"\nemail = "bob@acme.test"\n'
                  'role = "engineer"\n')
    apply(harness)
    gate = harness.gate
    pid = one(gate.projects, name="vision")["id"]
    gate.members[pid]["carol@acme.test"] = {**gate._user("carol@acme.test", "annotator"), "membershipType": "group"}
    report = harness.engine().drift().to_json()
    assert report["findings"] == [], report["findings"]
    gate.members[pid]["dave@acme.test"] = {**gate._user("dave@acme.test", "engineer"), "membershipType": "member"}
    gate.members[pid]["bob@acme.test"]["role"] = "owner"
    found = {(f["cause"], f["address"]) for f in harness.engine().drift().to_json()["findings"]}
    assert found == {("out_of_band", "project_member.bob"), ("unmanaged", "project_member.vision/dave@acme.test")}
    assert EMAIL not in json.dumps(sorted(found))


def test_service_updates_merge_the_declared_runtime_and_resolve_secrets(harness: StackHarness):
    harness.write(ALL_KINDS)
    apply(harness)
    service = one(harness.gate.services, name="detector")
    harness.write(ALL_KINDS.replace("autoscaler = { max_replicas = 2 }", "autoscaler = { max_replicas = 4 }"))
    mark = harness.gate.mark()
    apply(harness)
    (patch,) = harness.gate.writes(mark)
    body = json.loads(patch.content)
    assert set(body) == {"runtime"} and body["runtime"]["autoscaler"] == {
        "type": "rabbitmq", "minReplicas": 0, "maxReplicas": 4, "queueLength": 1000}
    assert service["runtime"]["podType"] == "regular-xs"


def test_deleting_a_service_waits_for_it_and_the_next_plan_sees_it_gone(harness: StackHarness):
    body = """
    [project.vision]
    [service.detector]
    project = "vision"
    package_id = "5f5f0c1e2a3b4c5d6e7f8091"
    """
    harness.write(body)
    apply(harness)
    sid = harness.state()["resources"]["service.detector"]["platform_id"]
    harness.gate.service_delete_polls = 2
    harness.write("[project.vision]\n")
    _, result = apply(harness, prune=True)
    assert result.ok and sid not in harness.gate.services and sid not in harness.gate.deleting
    assert "service.detector" not in harness.state()["resources"]


def test_an_unknown_project_for_a_child_is_a_plan_without_reads_of_it(harness: StackHarness, gate: FakeDataloop):
    harness.write('[project.vision]\n[dataset.raw]\nproject = "vision"\n')
    plan = harness.engine().plan()
    assert [(a.address, a.op) for a in plan.actions] == [("project.vision", Op.CREATE), ("dataset.raw", Op.CREATE)]
    assert not any(r.url.path.endswith("/datasets/query") for r in gate.requests)


def test_a_trigger_naming_a_service_of_another_project_is_refused_before_any_request(harness: StackHarness):
    harness.write("""
    [project.vision]
    [project.audio]
    [service.detector]
    project = "audio"
    package_id = "5f5f0c1e2a3b4c5d6e7f8091"
    [trigger.t]
    project = "vision"
    type = "Cron"
    cron = "0 2 * * *"
    service = "detector"
    """)
    with pytest.raises(StackError) as caught:
        harness.engine()
    (problem,) = caught.value.problems
    assert problem.path == "trigger.t" and "declared in project 'audio'" in problem.message
    assert harness.gate.requests == []


def test_only_what_may_pass_on_a_retry_is_temporary():
    from platforge.provider.dataloop import ServerError, TransportError
    from platforge.provider.dataloop.platform import PLATFORM

    from platforge.core.errors import PlanError as Refused

    assert PLATFORM.is_transient(ServerError("gateway", status=502))
    assert PLATFORM.is_transient(TransportError("reset"))
    assert not PLATFORM.is_transient(ServerError("bug", status=500))
    assert not PLATFORM.is_transient(Refused("ambiguous"))


def test_a_project_is_created_in_the_organisation_the_platform_table_names(harness: StackHarness):
    """In one request (`account` in the create), never created in the caller's first
    organisation and moved afterwards."""
    harness.write('[project.vision]\n')
    mark = harness.gate.mark()
    _, result = apply(harness)
    assert result.ok
    creates = [r for r in harness.gate.writes(mark) if r.url.path.endswith("/projects")]
    assert [json.loads(r.content) for r in creates] == [{"name": "vision", "account": ORG_ID}]
    assert not [r for r in harness.gate.writes(mark) if r.url.path.endswith("/org")]


def test_a_plan_lists_many_projects_with_one_query_per_hundred_not_one_per_project(harness: StackHarness,
                                                                                     monkeypatch):
    """DQL takes `context.projects` / `projectId $in`: the `…/query` kinds of a stack spread over
    several projects are read with one query per `PROJECTS_PER_QUERY` projects (here 2, so three
    projects take two queries), each row handed to its own project, so an object made behind the
    stack's back in the last project is still found, and nothing is planned for the rest."""
    from platforge.provider.dataloop.kinds import common

    monkeypatch.setattr(common, "PROJECTS_PER_QUERY", 2)
    names = ["alpha", "beta", "gamma"]
    harness.write("".join(f'[project.{p}]\n\n[dataset.raw-{p}]\nproject = "{p}"\nname = "raw"\n\n' for p in names))
    _, result = apply(harness)
    assert result.ok, result.failed
    gate = harness.gate
    stray = gate.add_dataset(one(gate.projects, name="gamma")["id"], "stray")
    mark = gate.mark()
    plan = harness.engine().plan()
    assert not plan.has_changes
    assert [(u.kind, u.identity) for u in plan.unmanaged] == [("dataset", ("gamma", "stray"))]
    queries = [json.loads(r.content) for r in gate.requests[mark:] if r.url.path.endswith("/datasets/query")]
    assert sorted(len(q["context"]["projects"]) for q in queries) == [1, 2]
    assert {p for q in queries for p in q["context"]["projects"]} == {one(gate.projects, name=p)["id"] for p in names}
    assert not any(r.url.path.endswith(f"/datasets/{stray}") for r in gate.requests[mark:])


def test_triggers_read_their_services_with_the_service_kinds_one_query_whichever_lists_first(
        harness: StackHarness):
    """A trigger names its service: listing triggers of many projects must not list each
    project's services on its own (the services of 200 projects took 164 queries in the
    10,000-object bench when the trigger listing ran before the service listing it waits on)."""
    names = ["alpha", "beta", "gamma"]
    stack = "".join(
        f'[project.{p}]\n\n[service.svc-{p}]\nproject = "{p}"\nname = "detector"\npackage_id = "5f5f0c1e2a3b4c5d6e7f8091"\n'
        f'package_revision = "1.0.0"\n\n[trigger.cron-{p}]\nproject = "{p}"\nname = "nightly"\ntype = "Cron"\n'
        f'service = "svc-{p}"\ncron = "0 2 * * *"\n\n' for p in names)
    harness.write(stack)
    _, result = apply(harness)
    assert result.ok, result.failed
    gate = harness.gate
    engine = harness.engine()
    triggers = engine.platform.kinds["trigger"]
    mark = gate.mark()
    listed = triggers.list_scopes(engine.ctx, names)  # before any service listing of the run
    assert sorted((t.identity, t.fields["service"]) for t in listed) == [((p, "nightly"), "detector") for p in names]
    resources = [json.loads(r.content)["resource"] for r in gate.requests[mark:] if r.url.path.endswith("/query/faas")]
    assert sorted(resources) == ["services", "triggers"]
    engine.platform.kinds["service"].list_scopes(engine.ctx, names)  # the same query, already read
    assert len([r for r in gate.requests[mark:] if r.url.path.endswith("/query/faas")]) == 2


def test_an_apply_verifies_a_level_spread_over_projects_with_one_query_not_one_read_each(harness: StackHarness):
    """Issue 11: under a rate limit reads cost writes. One dataset in each of three projects is
    read back from one datasets query naming the three projects (a kind that lists scopes
    together is verified for all of them at once), not with three GETs by id."""
    names = ["alpha", "beta", "gamma"]
    harness.write("".join(f'[project.{p}]\n\n' for p in names))
    assert apply(harness)[1].ok
    harness.write("".join(f'[project.{p}]\n\n[dataset.raw-{p}]\nproject = "{p}"\nname = "raw"\n\n' for p in names))
    gate = harness.gate
    engine = harness.engine()
    preview = engine.plan()
    mark = gate.mark()
    _, result = engine.apply(preview=preview)
    assert result.ok, result.failed
    requests = gate.requests[mark:]
    assert [r.method for r in requests if r.url.path.endswith("/datasets")] == ["POST"] * 3
    assert not [r for r in requests if r.method == "GET" and "/datasets/" in r.url.path]
    queries = [json.loads(r.content) for r in requests if r.url.path.endswith("/datasets/query")]
    assert [sorted(q["context"]["projects"]) for q in queries] == [sorted(one(gate.projects, name=p)["id"] for p in names)]
    assert not harness.engine().plan().has_changes


def test_writes_name_services_and_integrations_from_the_runs_listings_not_one_listing_each(harness: StackHarness):
    """Issue 11: a trigger's service and a service's secrets are resolved from the listings the
    run already holds (fresh after every write of their kind), not re-listed per trigger or per
    service written: in the 10,000-object bench that was 400 service and 224 integration listings."""
    names = ["alpha", "beta", "gamma", "delta"]
    harness.write('[integration.openai-key]\ntype = "key_value"\noptions = { from_env = "OPENAI_INTEGRATION" }\n\n'
                  + "".join(f'[project.{p}]\n\n' for p in names))
    assert apply(harness)[1].ok
    harness.write('[integration.openai-key]\ntype = "key_value"\noptions = { from_env = "OPENAI_INTEGRATION" }\n\n'
                  + "".join(
                      f'[project.{p}]\n\n[service.svc-{p}]\nproject = "{p}"\nname = "detector"\n'
                      f'package_id = "5f5f0c1e2a3b4c5d6e7f8091"\npackage_revision = "1.0.0"\nsecrets = ["openai-key"]\n\n'
                      + "".join(f'[trigger.cron{t}-{p}]\nproject = "{p}"\nname = "nightly{t}"\ntype = "Cron"\n'
                                f'service = "svc-{p}"\ncron = "0 {t} * * *"\n\n' for t in range(2))
                      for p in names))
    gate = harness.gate
    engine = harness.engine()
    preview = engine.plan()
    mark = gate.mark()
    _, result = engine.apply(preview=preview)
    assert result.ok, result.failed
    requests = gate.requests[mark:]
    per_project = [json.loads(r.content)["filter"] for r in requests if r.url.path.endswith("/query/faas")
                   and not isinstance(json.loads(r.content)["filter"]["$and"][0]["projectId"], dict)]
    assert per_project == [], per_project  # only the levels' queries over all four projects
    assert len([r for r in requests if r.method == "GET" and r.url.path.endswith("/integrations")]) <= 1
    assert len([r for r in requests if r.method == "POST" and r.url.path.endswith("/triggers")]) == 8
    assert {one(gate.services, name="detector", projectId=one(gate.projects, name=p)["id"])["id"]
            for p in names} == {t["spec"]["operation"]["serviceId"] for t in gate.triggers.values()}
