"""The Dataloop classes through the Pulumi engine protocol: the real plugin process driven over
gRPC (MiniEngine / ProviderProcess) against one embedded Dataloop sandbox for the module.

Every kind: create, a rerun that is `same` (the provider's own diff says no change), an update
seen live (a rename keeps the Dataloop id: the Pulumi id is that id), a refresh, an import with
nothing but the id, a destroy (and a second delete that finds nothing). A trigger whose type
changes is replaced. The integration's options are a secret that never reaches plain state, the
plugin's stderr (every logger at DEBUG) or the program directory. A dataset is deleted only
with `deletion_protection=False` applied first, as the CLI prunes it.
The CLI's plan and the Pulumi steps agree on one stack, and applying it both ways leaves two
sandboxes alike."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
from platforge.provider import get_platform
from platforge.provider.dataloop import DataloopClient, NotFound
from platforge.provider.dataloop.sandbox import SandboxConfig, create_app
from platforge.provider.sandbox import EmbeddedServer
from platforge.pulumi import dataloop
from platforge.pulumi.base import provider_for
from platforge.pulumi.dynamic import CONTROL_INPUTS
from typer.testing import CliRunner

from platforge.cli import app

from .conftest import PROJECT
from .harness import (
    DYNAMIC_TYPE,
    PROVIDER_KEY,
    UNKNOWN,
    CheckFailed,
    Declared,
    MiniEngine,
    ProviderError,
    ProviderProcess,
    dumps,
    is_secret,
    reveal,
    secret,
    serialize_like_sdk,
    summarize,
    urn_of,
)
from .programs import EngineMocks, PlainMocks, declared_from_stack, run_program

ADMIN = "admin@sandbox.local"
ORG = "acme"
MARKER = "MARKER-pulumi-dl-4b7d"
CLASSES = dataloop.RESOURCES
PROTECTION = "deletion_protection"

# Every logger of the plugin at DEBUG, on its stderr (httpx, the client kit, the core): what a
# secret must not reach even when someone turns logging all the way up.
DEBUG_LOGGING = "import logging\nlogging.basicConfig(level=logging.DEBUG)\n"


def options(value: str) -> dict[str, str]:
    return {"key": "OPENAI_API_KEY", "value": f"sk-{value}-{MARKER}"}


def options_sha256(document: dict[str, Any]) -> str:
    """What the sandbox keeps of an integration's options (it never returns them)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Gate:
    url: str
    password: str
    db: str
    access_log: str
    server: Any
    client: DataloopClient

    def log(self) -> list[dict]:
        with open(self.access_log, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def mark(self) -> int:
        return len(self.log())

    def writes_since(self, mark: int) -> list[tuple[str, str]]:
        """Requests that change something: not GETs, not the paged listings, not the login."""
        return [(r["method"], r["path"]) for r in self.log()[mark:]
                if r["method"] != "GET" and not str(r["path"]).endswith(("/query", "/query/faas"))
                and not str(r["path"]).startswith("/token")]

    def org(self) -> str:
        return self.client.org_id()

    def project_id(self, name: str) -> str:
        (project,) = [p for p in self.client.list_projects() if p["name"] == name]
        return str(project["id"])

    def integration_row(self, integration_id: str) -> tuple[str, str, str] | None:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            row = db.execute("SELECT name, type, options_sha256 FROM dl_integrations WHERE id = ?",
                             (integration_id,)).fetchone()
        return tuple(row) if row else None

    def package(self, project_id: str) -> str:
        """A package with a git codebase (no upload), for services to run."""
        created = self.client.write_json("POST", "/packages", {
            "name": "fn-pkg", "global": False, "projectId": project_id, "codebase": {
                "type": "git", "gitUrl": "https://github.com/acme/fn.git", "gitTag": "v1.0.0"},
            "modules": [{"name": "default_module", "entryPoint": "main.py", "className": "ServiceRunner",
                         "functions": [{"name": "run", "input": [{"name": "item", "type": "Item"}], "output": []},
                                       {"name": "predict", "input": [], "output": []}], "initInputs": []}]})
        return str(created["id"])


def start_gate(directory: Path) -> Gate:
    directory.mkdir(parents=True, exist_ok=True)
    password = "pw-" + secrets.token_hex(12)
    config = SandboxConfig(db_path=str(directory / "dataloop.db"), admin_password=password, admin_email=ADMIN,
                           access_log=str(directory / "access.jsonl"), org=ORG)
    server = EmbeddedServer(create_app(config)).start()
    client = DataloopClient(server.url, email=ADMIN, password=password, org=ORG)
    return Gate(server.url, password, config.db_path, config.access_log, server, client)


@pytest.fixture(scope="module")
def gate(tmp_path_factory) -> Iterator[Gate]:
    box = start_gate(tmp_path_factory.mktemp("dataloop"))
    yield box
    box.client.close()
    box.server.stop()


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory) -> Path:
    """The plugin's cwd: an empty program directory, so anything platforge wrote there would show."""
    return tmp_path_factory.mktemp("program")


def pulumi_config(box: Gate) -> tuple[dict[str, str], set[str]]:
    """The stack config `pulumi config set` would produce, and which keys are secret."""
    return ({"platforge:endpoint": box.url, "platforge:org": ORG, "platforge:email": ADMIN,
             "platforge:password": box.password, "aws:region": "unrelated-namespace"}, {"platforge:password"})


@pytest.fixture(scope="module")
def provider(gate: Gate, program_dir: Path, tmp_path_factory) -> Iterator[ProviderProcess]:
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(DEBUG_LOGGING, encoding="utf-8")
    process = ProviderProcess(program_dir, project=PROJECT, env={
        "PYTHONPATH": str(site), "DATALOOP_EMAIL": None, "DATALOOP_PASSWORD": None, "DATALOOP_TOKEN": None})
    process.configure(*pulumi_config(gate))
    yield process
    process.close()


@pytest.fixture(scope="module")
def base(gate: Gate) -> dict[str, str]:
    """A project, a package, an integration and a service, made directly in Dataloop, for the
    kinds that refer to them."""
    tag = secrets.token_hex(3)
    c = gate.client
    project = f"base-{tag}"
    pid = str(c.create_project(project)["id"])
    package = gate.package(pid)
    integration = f"base-key-{tag}"
    c.create_integration(gate.org(), "key_value", integration, options("base"))
    service = f"base-svc-{tag}"
    c.create_service({"name": service, "projectId": pid, "packageId": package, "initParams": {}})
    return {"project": project, "project_id": pid, "package": package, "integration": integration,
            "service": service}


@pytest.fixture
def engine(provider: ProviderProcess) -> MiniEngine:
    return MiniEngine(provider)


def resource_type(kind: str) -> str:
    return f"pulumi-python:{CLASSES[kind]._resource_type_name}"


_BLOBS: dict[str, str] = {}


def provider_blob(kind: str) -> str:
    if kind not in _BLOBS:
        _BLOBS[kind] = serialize_like_sdk(provider_for("dataloop", kind))
    return _BLOBS[kind]


def secret_outputs(kind: str) -> tuple[str, ...]:
    kind_obj = get_platform("dataloop").kinds[kind]
    return tuple(sorted(kind_obj.sensitive_fields | kind_obj.create_only_fields))


def declared(kind: str, name: str, props: dict[str, Any]) -> Declared:
    """The registration `platforge.pulumi.dataloop.<Class>(name, **props)` makes (checked by
    `test_the_classes_register_what_the_tests_assume`)."""
    hidden = set(secret_outputs(kind))
    inputs = {k: secret(v) if k in hidden else v for k, v in props.items() if v is not None}
    inputs[PROVIDER_KEY] = provider_blob(kind)
    return Declared(urn_of(name, project=PROJECT, type_=resource_type(kind)), inputs, secret_outputs(kind),
                    aliases=(urn_of(name, project=PROJECT, type_=DYNAMIC_TYPE),))


def up(engine: MiniEngine, d: Declared):
    return engine.up(d.urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs, aliases=d.aliases)


def _missing(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except NotFound:
        return None


def _by_id(items: list[dict], platform_id: Any) -> dict | None:
    return next((i for i in items if str(i.get("id")) == str(platform_id)), None)


# ---- what Dataloop holds, per kind (None: gone) ------------------------------------------


def _project(g: Gate, outs: dict) -> Any:
    found = _by_id(g.client.list_projects(), outs["platform_id"])
    return found and found["name"]


def _org_member(g: Gate, outs: dict) -> Any:
    found = next((m for m in g.client.list_org_members(g.org()) if m.get("email") == outs["email"]), None)
    return found and found["role"]


def _project_member(g: Gate, outs: dict) -> Any:
    pid = g.project_id(outs["project"])
    found = next((m for m in g.client.list_project_members(pid) if m.get("email") == outs["email"]), None)
    return found and found["role"]


def _dataset(g: Gate, outs: dict) -> Any:
    found = _by_id(g.client.list_datasets(g.project_id(outs["project"])), outs["platform_id"])
    return found and (found["name"], (found.get("expirationOptions") or {}).get("itemMaxDays"))


def _service(g: Gate, outs: dict) -> Any:
    found = _missing(lambda: g.client.get_service(str(outs["platform_id"])))
    return found and (found["name"], found.get("initParams"), found.get("executionTimeout"),
                      found["runtime"]["podType"], len(found.get("secrets") or ()))


def _trigger(g: Gate, outs: dict) -> Any:
    found = _by_id(g.client.list_triggers(g.project_id(outs["project"])), outs["platform_id"])
    return found and (found["type"], found["spec"].get("cron"), found["spec"].get("input"))


def _pipeline(g: Gate, outs: dict) -> Any:
    found = _missing(lambda: g.client.get_pipeline(str(outs["platform_id"])))
    if found is None:
        return None
    functions = {n["name"]: n["namespace"].get("functionName") for n in found["nodes"]}
    return found.get("description"), found["status"] == "Installed", functions


def _nodes(function: str) -> list[dict[str, Any]]:
    return [{"name": "incoming", "type": "storage", "outputs": [{"name": "item"}],
             "namespace": {"function_name": "dataset_handler", "service_name": "pipeline-utils"}},
            {"name": "detect", "type": "function", "inputs": [{"name": "item"}],
             "namespace": {"function_name": function, "service_name": "detector"}}]


@dataclass
class Case:
    kind: str
    create: Callable[[dict], dict]
    update: Callable[[dict], dict]
    live: Callable[[Gate, dict], Any]
    created: Callable[[dict], Any]
    updated: Callable[[dict], Any]
    # An import by id cannot know the integration's options (Dataloop never returns them): the
    # program's next `up` writes the declared ones.
    import_changes: bool = False


CASES = [
    Case("project",
         create=lambda n: {"name": n["name"]},
         update=lambda n: {"name": n["name"] + "-v2"},
         live=_project, created=lambda n: n["name"], updated=lambda n: n["name"] + "-v2"),
    Case("org_member",
         create=lambda n: {"email": n["email"], "role": "member"},
         update=lambda n: {"email": n["email"], "role": "admin"},
         live=_org_member, created=lambda n: "member", updated=lambda n: "admin"),
    Case("project_member",
         create=lambda n: {"project": n["project"], "email": n["email"], "role": "annotator"},
         update=lambda n: {"project": n["project"], "email": n["email"], "role": "engineer"},
         live=_project_member, created=lambda n: "annotator", updated=lambda n: "engineer"),
    Case("integration",
         create=lambda n: {"name": n["name"], "type": "key_value", "options": json.dumps(options("v1"))},
         update=lambda n: {"name": n["name"] + "-v2", "type": "key_value", "options": json.dumps(options("v2"))},
         live=lambda g, o: g.integration_row(str(o["platform_id"])),
         created=lambda n: (n["name"], "key_value", options_sha256(options("v1"))),
         updated=lambda n: (n["name"] + "-v2", "key_value", options_sha256(options("v2"))),
         import_changes=True),
    Case("dataset",
         create=lambda n: {"project": n["project"], "name": n["name"], "expiration_days": 30},
         update=lambda n: {"project": n["project"], "name": n["name"] + "-v2", "expiration_days": 30,
                           PROTECTION: False},
         live=_dataset, created=lambda n: (n["name"], 30), updated=lambda n: (n["name"] + "-v2", 30)),
    Case("service",
         create=lambda n: {"project": n["project"], "name": n["name"], "package_id": n["package"],
                           "init_params": {"threshold": 0.5}, "runtime": {"pod_type": "regular-xs"},
                           "secrets": [n["integration"]], "execution_timeout": 300},
         update=lambda n: {"project": n["project"], "name": n["name"], "package_id": n["package"],
                           "init_params": {"threshold": 0.75}, "runtime": {"pod_type": "regular-xs"},
                           "secrets": [n["integration"]], "execution_timeout": 600},
         live=_service,
         created=lambda n: (n["name"], {"threshold": 0.5}, 300, "regular-xs", 1),
         updated=lambda n: (n["name"], {"threshold": 0.75}, 600, "regular-xs", 1)),
    Case("trigger",
         create=lambda n: {"project": n["project"], "name": n["name"], "type": "Cron", "service": n["service"],
                           "cron": "0 2 * * *", "input": {"threshold": 0.9}},
         update=lambda n: {"project": n["project"], "name": n["name"], "type": "Cron", "service": n["service"],
                           "cron": "0 3 * * *", "input": {"threshold": 0.9}},
         live=_trigger,
         created=lambda n: ("Cron", "0 2 * * *", {"threshold": 0.9}),
         updated=lambda n: ("Cron", "0 3 * * *", {"threshold": 0.9})),
    Case("pipeline",
         create=lambda n: {"project": n["project"], "name": n["name"], "description": "first", "installed": True,
                           "nodes": _nodes("run"), "connections": [{"source": "incoming", "target": "detect"}]},
         update=lambda n: {"project": n["project"], "name": n["name"], "description": "second", "installed": True,
                           "nodes": _nodes("predict"), "connections": [{"source": "incoming", "target": "detect"}]},
         live=_pipeline,
         created=lambda n: ("first", True, {"incoming": "dataset_handler", "detect": "run"}),
         updated=lambda n: ("second", True, {"incoming": "dataset_handler", "detect": "predict"})),
]


def test_every_kind_has_a_lifecycle_case() -> None:
    assert {c.kind for c in CASES} == set(get_platform("dataloop").kinds) == set(CLASSES)


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_lifecycle(case: Case, engine: MiniEngine, provider: ProviderProcess, gate: Gate, base: dict) -> None:
    tag = secrets.token_hex(3)
    n = {"name": f"{case.kind}-{tag}", "email": f"m-{tag}@acme.test", **base}
    d = declared(case.kind, f"{case.kind}.{tag}", case.create(n))

    created = up(engine, d)
    assert created.op == "create"
    outs = reveal(created.outputs)
    assert case.live(gate, outs) == case.created(n)
    kind = get_platform("dataloop").kinds[case.kind]
    if kind.identified_by_id:  # the Pulumi id is Dataloop's id, which a rename keeps
        assert created.id == str(outs["platform_id"])

    again = up(engine, d)  # the program unchanged: the provider's own diff finds nothing to do
    assert again.op == "same" and again.diff.changes == "none", again.diff

    d2 = declared(case.kind, f"{case.kind}.{tag}", case.update(n))
    updated = up(engine, d2)
    assert updated.op == "update" and updated.diff.replaces == [], updated.diff
    assert updated.id == created.id
    outs = reveal(updated.outputs)
    assert outs["platform_id"] == reveal(created.outputs)["platform_id"]
    assert case.live(gate, outs) == case.updated(n)
    assert up(engine, d2).op == "same"

    refreshed = engine.refresh(d2.urn)  # nothing changed behind Pulumi's back
    assert refreshed.op == "refresh-same" and refreshed.id == created.id, refreshed
    assert up(engine, d2).op == "same"

    # Import by id: a Read that carries nothing but the id and the provider (no old outputs).
    state = engine.state[d2.urn]
    imported = provider.read(state.id, d2.urn, {}, {PROVIDER_KEY: provider_blob(case.kind)})
    assert imported.id == state.id
    for field_name in reveal(d2.inputs):
        if field_name not in (PROVIDER_KEY, PROTECTION, *CONTROL_INPUTS, *secret_outputs(case.kind)):
            assert field_name in imported.inputs, field_name
    checked = provider.check(d2.urn, imported.inputs, d2.inputs)
    assert checked.failures == []
    diff = provider.diff(state.id, d2.urn, imported.outputs, checked.inputs, imported.inputs)
    if case.import_changes:
        assert diff.changes == "some" and diff.replaces == []
    elif PROTECTION in d2.inputs:  # platforge's own setting, never Dataloop's: the next `up` records it
        assert diff.changes == "some" and diff.replaces == []
    else:
        assert diff.changes == "none", diff

    deleted = engine.destroy(d2.urn)
    assert deleted.op == "delete"
    assert case.live(gate, outs) is None
    provider.delete(state.id, d2.urn, state.outputs, state.inputs)  # already gone: still a success


def test_a_refresh_sees_changes_made_in_dataloop_and_the_next_up_puts_them_back(engine: MiniEngine, gate: Gate,
                                                                                base: dict) -> None:
    """What Dataloop fills in itself is no drift (the lifecycle's refreshes are `same`), but a
    change someone made there is, as in `platforge drift`; an object deleted there is gone."""
    tag = secrets.token_hex(3)
    n = {"name": f"drift-{tag}", **base}
    service_case = next(c for c in CASES if c.kind == "service")
    d = declared("service", f"service.drift-{tag}", service_case.create(n))
    assert up(engine, d).op == "create"
    service_id = str(reveal(engine.state[d.urn].outputs)["platform_id"])
    gate.client.patch_service(service_id, {"initParams": {"threshold": 0.1}})
    refreshed = engine.refresh(d.urn)
    assert refreshed.op == "refresh-update" and reveal(refreshed.outputs)["init_params"] == {"threshold": 0.1}
    step = up(engine, d)
    assert step.op == "update"
    assert service_case.live(gate, reveal(step.outputs)) == service_case.created(n)
    assert engine.refresh(d.urn).op == "refresh-same"

    gate.client.delete_service(service_id)
    gone = engine.refresh(d.urn)
    assert gone.op == "refresh-delete" and d.urn not in engine.state


# ---- a trigger's type cannot change in place ---------------------------------------------


def test_a_trigger_whose_type_changes_is_replaced(engine: MiniEngine, gate: Gate, base: dict) -> None:
    """Dataloop cannot turn a schedule into an event rule: the engine deletes the old trigger,
    then creates the new one (deleteBeforeReplace: both may not hold the name at once)."""
    tag = secrets.token_hex(3)
    props = {"project": base["project"], "name": f"switch-{tag}", "type": "Cron", "service": base["service"],
             "cron": "0 2 * * *"}
    d = declared("trigger", f"trigger.switch-{tag}", props)
    created = up(engine, d)
    assert created.op == "create"
    event = declared("trigger", f"trigger.switch-{tag}", {**{k: v for k, v in props.items() if k != "cron"},
                                                          "type": "Event", "resource": "Dataset"})
    preview = engine.preview(event.urn, event.inputs)
    assert preview.op == "replace" and preview.diff.replaces == ["type"] and preview.delete_before_replace
    step = up(engine, event)
    assert step.op == "replace" and step.delete_before_replace
    assert step.id != created.id and step.id == str(reveal(step.outputs)["platform_id"])
    pid = gate.project_id(base["project"])
    live = [t for t in gate.client.list_triggers(pid) if t["name"] == f"switch-{tag}"]
    assert [(t["id"], t["type"], t["spec"]["resource"]) for t in live] == [(step.id, "Event", "Dataset")]
    assert up(engine, event).op == "same"
    engine.destroy(event.urn)
    assert [t for t in gate.client.list_triggers(pid) if t["name"] == f"switch-{tag}"] == []


# ---- deletion protection ---------------------------------------------------------------------


def test_a_dataset_is_deleted_only_with_deletion_protection_off_applied_first(
        engine: MiniEngine, provider: ProviderProcess, gate: Gate, base: dict) -> None:
    """Deleting a dataset deletes its items, which no apply brings back: as the CLI refuses to
    prune it, a destroy or a removal through Pulumi fails and says why, before any write, until
    `deletion_protection=False` has been applied (the default protects it)."""
    tag = secrets.token_hex(3)
    props = {"project": base["project"], "name": f"kept-{tag}"}
    d = declared("dataset", f"dataset.kept-{tag}", props)
    assert up(engine, d).op == "create"
    platform_id = reveal(engine.state[d.urn].outputs)["platform_id"]

    mark = gate.mark()
    with pytest.raises(ProviderError) as refused:
        engine.destroy(d.urn)
    assert refused.value.method == "Delete"
    assert f"dataset '{base['project']}/kept-{tag}' was not deleted" in refused.value.details
    assert "items and annotations would be lost" in refused.value.details
    assert "deletion_protection = false" in refused.value.details
    with pytest.raises(ProviderError):  # leaving it out of the program: the same refusal
        engine.prune(set())
    assert gate.writes_since(mark) == []
    assert d.urn in engine.state
    assert _dataset(gate, {"project": base["project"], "platform_id": platform_id}) == (f"kept-{tag}", None)

    with pytest.raises(CheckFailed) as bad:  # only true or false
        up(engine, declared("dataset", f"dataset.kept-{tag}", {**props, PROTECTION: "yes"}))
    assert [p for p, _ in bad.value.failures] == [PROTECTION]

    allowed = declared("dataset", f"dataset.kept-{tag}", {**props, PROTECTION: False})
    mark = gate.mark()
    step = up(engine, allowed)
    assert step.op == "update" and step.diff.replaces == []
    assert gate.writes_since(mark) == []  # platforge's own setting: nothing is written to Dataloop
    assert up(engine, allowed).op == "same"
    assert engine.refresh(allowed.urn).op == "refresh-same"  # a refresh keeps it
    assert engine.destroy(allowed.urn).op == "delete"
    assert _dataset(gate, {"project": base["project"], "platform_id": platform_id}) is None


def test_a_protected_object_already_gone_is_deleted_without_consent(engine: MiniEngine, gate: Gate,
                                                                    base: dict) -> None:
    """Nothing is lost by forgetting what no longer exists: a delete stays idempotent."""
    tag = secrets.token_hex(3)
    d = declared("dataset", f"dataset.gone-{tag}", {"project": base["project"], "name": f"gone-{tag}"})
    assert up(engine, d).op == "create"
    gate.client.delete_dataset(str(reveal(engine.state[d.urn].outputs)["platform_id"]))
    assert engine.destroy(d.urn).op == "delete"


# ---- the integration's options: a secret -------------------------------------------------------


def test_the_classes_register_what_the_tests_assume() -> None:
    """Each class's type, its secret outputs, and options always secret, whatever form they take."""

    def program() -> None:
        dataloop.Integration("as-text", type="key_value", options=json.dumps(options("t")))
        dataloop.Integration("as-dict", type="key_value", options=options("d"))
        dataloop.Dataset("raw", project="vision", deletion_protection=False)
        dataloop.Project("vision")

    run = run_program(program, PlainMocks())
    regs = run.registrations
    for name in ("as-text", "as-dict"):
        assert regs[name].type == resource_type("integration")
        assert tuple(sorted(regs[name].additional_secret_outputs)) == secret_outputs("integration") == ("options",)
        assert is_secret(regs[name].inputs["options"])
    assert json.loads(reveal(regs["as-dict"].inputs["options"])) == options("d")
    assert regs["raw"].type == resource_type("dataset") and regs["raw"].inputs[PROTECTION] is False
    assert regs["vision"].type == resource_type("project") and PROTECTION not in regs["vision"].inputs
    assert {r.type for r in regs.values()} <= {f"pulumi-python:dynamic/dataloop:{c.__name__}" for c in CLASSES.values()}


def test_bad_values_are_refused_at_construction_without_the_secret() -> None:
    with pytest.raises(ValueError, match="deletion_protection"):
        dataloop.Dataset("raw", project="vision", deletion_protection="yes")
    with pytest.raises(ValueError) as bad:
        dataloop.Integration("k", type="key_value", options="not-json-" + MARKER)
    assert "options" in str(bad.value) and MARKER not in str(bad.value)


def test_the_options_are_a_secret_kept_out_of_plain_state_logs_and_files(
        engine: MiniEngine, provider: ProviderProcess, gate: Gate, program_dir: Path) -> None:
    name = "key-" + secrets.token_hex(3)

    def program(version: str) -> Callable[[], None]:
        def body() -> None:
            dataloop.Integration(name, type="key_value", options=pulumi.Output.secret(options(version)))
        return body

    first = EngineMocks(engine)
    run_program(program("v1"), first)
    [step] = first.steps
    assert step.op == "create" and is_secret(step.outputs["options"])
    integration_id = str(reveal(step.outputs)["platform_id"])
    assert gate.integration_row(integration_id) == (name, "key_value", options_sha256(options("v1")))

    rerun = EngineMocks(engine)
    run_program(program("v1"), rerun)
    assert [s.op for s in rerun.steps] == ["same"]  # compared by fingerprint: the same document
    changed = EngineMocks(engine)
    run_program(program("v2"), changed)
    assert [s.op for s in changed.steps] == ["update"]
    assert gate.integration_row(integration_id) == (name, "key_value", options_sha256(options("v2")))
    refreshed = engine.refresh(step.urn)
    assert refreshed.op == "refresh-same" and is_secret(refreshed.outputs["options"])

    state = engine.state[step.urn]
    assert is_secret(state.inputs["options"]) and is_secret(state.outputs["options"])
    plain = {k: v for k, v in {**state.outputs, **state.inputs}.items() if not is_secret(v)}
    assert MARKER not in dumps(plain)
    assert MARKER not in base64.b64decode(state.outputs[PROVIDER_KEY]).decode("latin-1")
    listed = gate.client.list_integrations(gate.org())
    assert MARKER not in json.dumps(listed)  # Dataloop never returns them either
    stderr = provider.stderr()
    assert "DEBUG" in stderr  # the logging really was on
    assert MARKER not in stderr and gate.password not in stderr
    assert not any(p.is_file() and MARKER in p.read_text(errors="replace") for p in program_dir.rglob("*"))
    engine.destroy(step.urn)
    assert gate.integration_row(integration_id) is None


def test_options_that_are_not_a_json_object_are_refused_without_the_value(engine: MiniEngine,
                                                                          provider: ProviderProcess) -> None:
    """Text that is not a JSON object fails the create (before any write) and a table fails the
    check; neither message shows the value."""
    tag = secrets.token_hex(3)
    listed = declared("integration", f"integration.bad-{tag}", {
        "name": f"bad-{tag}", "type": "key_value", "options": "[1, 2, " + json.dumps(MARKER) + "]"})
    with pytest.raises(ProviderError) as failed:
        up(engine, listed)
    assert failed.value.method == "Create" and "expected the options as a JSON object" in failed.value.details
    assert MARKER not in failed.value.details and listed.urn not in engine.state
    table = declared("integration", f"integration.bad-{tag}", {"name": f"bad-{tag}", "type": "key_value",
                                                               "options": {"value": MARKER}})
    result = provider.check(table.urn, {}, table.inputs)
    assert [p for p, _ in result.failures] == ["options"]
    assert MARKER not in dumps(result.failures) and MARKER not in dumps(result.inputs)


# ---- preview writes nothing; import needs the provider -------------------------------------


def test_a_preview_makes_no_write(engine: MiniEngine, gate: Gate, base: dict) -> None:
    tag = secrets.token_hex(3)
    n = {"name": f"pv-{tag}", "email": f"pv-{tag}@acme.test", **base}
    existing = declared("dataset", f"dataset.pv-{tag}", {"project": base["project"], "name": f"pv-{tag}",
                                                          PROTECTION: False})
    assert up(engine, existing).op == "create"
    mark = gate.mark()
    steps = [engine.preview(d.urn, d.inputs) for d in
             [declared(c.kind, f"new.{c.kind}.{tag}", c.create(n)) for c in CASES]]
    renamed = declared("dataset", "x", {"project": base["project"], "name": f"pv2-{tag}", PROTECTION: False})
    steps.append(engine.preview(existing.urn, renamed.inputs))
    unknown = declared("dataset", "x", {"project": base["project"], "name": UNKNOWN, PROTECTION: False})
    steps.append(engine.preview(existing.urn, unknown.inputs))
    assert [s.op for s in steps] == ["create"] * len(CASES) + ["update", "update"]
    assert [s.diff.replaces for s in steps[-2:]] == [[], []]  # a new name is never a replace
    assert gate.writes_since(mark) == []
    engine.destroy(existing.urn)


def test_import_with_only_the_id_cannot_find_a_provider(provider: ProviderProcess, base: dict) -> None:
    """`pulumi import` sends Read with the id alone; a dynamic plugin then has no `__provider` to
    load (pulumi/pulumi#16175), on Dataloop as on the other platforms. The program's inputs carry
    it, which is how the imports above work; `adopt=True` is the other way in."""
    urn = urn_of("x", project=PROJECT, type_=resource_type("project"))
    with pytest.raises(ProviderError) as failed:
        provider.read(base["project_id"], urn, {}, {})
    assert failed.value.method == "Read" and f"KeyError: '{PROVIDER_KEY}'" in failed.value.details


def test_adopting_an_existing_dataset_needs_consent(engine: MiniEngine, gate: Gate, base: dict) -> None:
    tag = secrets.token_hex(3)
    existing = gate.client.create_dataset({"name": f"handmade-{tag}", "projects": [base["project_id"]]})
    props = {"project": base["project"], "name": f"handmade-{tag}", PROTECTION: False}
    with pytest.raises(ProviderError) as refused:
        up(engine, declared("dataset", f"dataset.handmade-{tag}", props))
    assert "pass adopt=True" in refused.value.details
    d = declared("dataset", f"dataset.handmade-{tag}", {**props, "adopt": True})
    step = up(engine, d)
    assert step.op == "create" and step.id == str(existing["id"])
    engine.destroy(d.urn)


def test_the_program_module_docstring_example_runs() -> None:
    doc = dataloop.__doc__ or ""
    example = textwrap.dedent(doc.split("\n\n", 1)[1].split("\n\nArguments", 1)[0])
    example = example.replace('pulumi.Config().require_secret("openaiIntegration")',
                              'pulumi.Output.secret(\'{"key": "K", "value": "v"}\')')
    run = run_program(lambda: exec(example, {"pulumi": pulumi, "dataloop": dataloop}), PlainMocks())  # noqa: S102
    assert {r.name for r in run.registrations.values()} == {"vision-prod", "bob", "vision-bob", "openai-key", "raw",
                                                            "detector", "nightly"}


# ---- the same stack through both front doors ---------------------------------------------------

PARITY_V1 = """
[org_member.bob]
email = "bob-{tag}@acme.test"
role = "member"

[integration.key-{tag}]
type = "key_value"
options = {{ from_env = "PP_DL_OPTIONS" }}

[project.vision-{tag}]

[project_member.vision-bob]
project = "vision-{tag}"
email = "bob-{tag}@acme.test"
role = "annotator"

[dataset.raw]
project = "vision-{tag}"
expiration_days = 30

[service.detector]
project = "vision-{tag}"
package_id = "{package}"
init_params = {{ threshold = 0.5 }}
secrets = ["key-{tag}"]

[trigger.nightly]
project = "vision-{tag}"
type = "Cron"
service = "detector"
cron = "0 2 * * *"

[trigger.on-upload]
project = "vision-{tag}"
type = "Event"
service = "detector"
actions = ["Created"]

[pipeline.ingest]
project = "vision-{tag}"
description = "v1"
[[pipeline.ingest.nodes]]
name = "incoming"
type = "storage"
outputs = [{{ name = "item" }}]
[[pipeline.ingest.nodes]]
name = "detect"
type = "function"
namespace = {{ function_name = "run", service_name = "detector" }}
inputs = [{{ name = "item" }}]
[[pipeline.ingest.connections]]
source = "incoming"
target = "detect"
"""

# v2: create dataset.curated; update org_member.bob (role), the integration (options, from the
# environment), service.detector and pipeline.ingest; replace trigger.nightly (Cron -> Event);
# delete trigger.on-upload; the rest unchanged.
PARITY_V2 = (PARITY_V1
             .replace('role = "member"', 'role = "admin"')
             .replace("threshold = 0.5", "threshold = 0.7")
             .replace('description = "v1"', 'description = "v2"')
             .replace('type = "Cron"\nservice = "detector"\ncron = "0 2 * * *"',
                      'type = "Event"\nservice = "detector"\nresource = "Dataset"')
             .replace('\n[trigger.on-upload]\nproject = "vision-{tag}"\ntype = "Event"\nservice = "detector"\n'
                      'actions = ["Created"]\n', "")
             + '\n[dataset.curated]\nproject = "vision-{tag}"\n')
PARITY_CHANGES = {"create": ["dataset.curated"],
                  "update": ["integration.key-{tag}", "org_member.bob", "pipeline.ingest", "service.detector"],
                  "replace": ["trigger.nightly"], "delete": ["trigger.on-upload"]}
OPS = ("create", "update", "replace", "delete")


def write_stack(directory: Path, body: str, box: Gate, tag: str, package: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    header = f'[platform]\ntype = "dataloop"\nendpoint = "{box.url}"\norg = "{ORG}"\n'
    (directory / "main.toml").write_text(header + body.format(tag=tag, package=package), encoding="utf-8")
    return directory


def _cli(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _cli_plan(stack_dir: Path) -> dict[str, list[str]]:
    code, out, err = _cli("plan", stack_dir, "--json", "--prune")
    assert code in (0, 2), err
    document = json.loads(out)
    return {op: sorted(a["address"] for a in document["actions"] if a["op"] == op) for op in OPS}


def _pulumi_plan(steps) -> dict[str, list[str]]:
    summary = summarize(steps)
    return {op: summary.get(op, []) for op in OPS}


def _snapshot(box: Gate, tag: str) -> dict[str, Any]:
    """What the stack manages, in names only (ids differ between sandboxes)."""
    c = box.client
    pid = box.project_id(f"vision-{tag}")
    services = {s["id"]: s["name"] for s in c.list_services(pid)}
    return {
        "org_member": [m["role"] for m in c.list_org_members(box.org()) if m.get("email") == f"bob-{tag}@acme.test"],
        "project_member": sorted((m["email"], m["role"]) for m in c.list_project_members(pid)
                                 if m["email"] != ADMIN),
        "integrations": [(i["name"], i["type"]) for i in c.list_integrations(box.org()) if i["name"] == f"key-{tag}"],
        "datasets": sorted((d["name"], (d.get("expirationOptions") or {}).get("itemMaxDays"))
                           for d in c.list_datasets(pid)),
        "services": sorted((s["name"], json.dumps(s.get("initParams"))) for s in c.list_services(pid)),
        "triggers": sorted((t["name"], t["type"], t["spec"].get("cron"), t["spec"].get("resource"),
                            services.get(t["spec"]["operation"]["serviceId"])) for t in c.list_triggers(pid)),
        "pipelines": sorted((p["name"], p.get("description"), sorted(n["name"] for n in p["nodes"]))
                            for p in c.list_pipelines(pid)),
    }


def test_cli_plan_and_pulumi_steps_agree(gate: Gate, provider: ProviderProcess, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`platforge plan --json --prune` (CLI, its own sandbox) and the Pulumi step plan (what
    `declare_stack` registers, through the real plugin, this module's sandbox) agree on what is
    created, updated, replaced and deleted, and applying both leaves the two platforms alike."""
    tag = secrets.token_hex(3)
    cli_box = start_gate(tmp_path / "cli-gate")
    try:
        monkeypatch.setenv("DATALOOP_EMAIL", ADMIN)
        monkeypatch.setenv("DATALOOP_PASSWORD", cli_box.password)
        monkeypatch.delenv("DATALOOP_TOKEN", raising=False)
        monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
        monkeypatch.chdir(tmp_path)
        engine = MiniEngine(provider)
        cli_dir, pulumi_dir = tmp_path / "cli", tmp_path / "pulumi"
        # The project first, through each door, then a package in it for the service to run (its
        # id is the sandbox's own).
        write_stack(cli_dir, "[project.vision-{tag}]\n", cli_box, tag, "")
        write_stack(pulumi_dir, "[project.vision-{tag}]\n", gate, tag, "")
        code, out, err = _cli("apply", cli_dir, "--yes")
        assert code == 0, out + err
        assert [s.op for s in engine.up_program(declared_from_stack(pulumi_dir))] == ["create"]
        packages = {box.url: box.package(box.project_id(f"vision-{tag}")) for box in (cli_box, gate)}

        monkeypatch.setenv("PP_DL_OPTIONS", json.dumps(options("parity-v1")))
        write_stack(cli_dir, PARITY_V1, cli_box, tag, packages[cli_box.url])
        write_stack(pulumi_dir, PARITY_V1, gate, tag, packages[gate.url])
        code, out, err = _cli("apply", cli_dir, "--yes")
        assert code == 0, out + err
        steps = engine.up_program(declared_from_stack(pulumi_dir))
        assert summarize(steps) == {"create": sorted(_pulumi_plan(steps)["create"]), "same": [f"project.vision-{tag}"]}
        assert _snapshot(cli_box, tag) == _snapshot(gate, tag)
        assert _cli_plan(cli_dir) == {op: [] for op in OPS}
        assert {s.op for s in engine.preview_program(declared_from_stack(pulumi_dir))} == {"same"}

        monkeypatch.setenv("PP_DL_OPTIONS", json.dumps(options("parity-v2")))
        write_stack(cli_dir, PARITY_V2, cli_box, tag, packages[cli_box.url])
        write_stack(pulumi_dir, PARITY_V2, gate, tag, packages[gate.url])
        cli_plan = _cli_plan(cli_dir)
        pulumi_plan = _pulumi_plan(engine.preview_program(declared_from_stack(pulumi_dir)))
        assert cli_plan == pulumi_plan
        assert cli_plan == {op: [a.format(tag=tag) for a in PARITY_CHANGES.get(op, [])] for op in OPS}

        code, out, err = _cli("apply", cli_dir, "--yes", "--prune")
        assert code == 0, out + err
        applied = _pulumi_plan(engine.up_program(declared_from_stack(pulumi_dir)))
        assert applied == pulumi_plan
        live_cli, live_pulumi = _snapshot(cli_box, tag), _snapshot(gate, tag)
        assert live_cli == live_pulumi
        assert live_pulumi["org_member"] == ["admin"] and ("curated", None) in live_pulumi["datasets"]
        assert [t[:2] for t in live_pulumi["triggers"]] == [("nightly", "Event")]
        assert _cli_plan(cli_dir) == {op: [] for op in OPS}
        assert {s.op for s in engine.preview_program(declared_from_stack(pulumi_dir))} == {"same"}
        assert options_sha256(options("parity-v2")) in {
            box.integration_row(i["id"])[2] for box in (gate,) for i in box.client.list_integrations(box.org())
            if i["name"] == f"key-{tag}"}
    finally:
        cli_box.client.close()
        cli_box.server.stop()
