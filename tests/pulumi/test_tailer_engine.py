"""The Tailer classes through the Pulumi engine protocol: the real plugin process driven over gRPC
(MiniEngine / ProviderProcess) against one embedded Tailer sandbox for the module, programs run
through the SDK (`EngineMocks`), requests counted in the sandbox's access log.

Every kind: create (one deploy), a rerun that is `same` and sends nothing, an `activated`-only
change that is one status call and no deploy, a field change that is one deploy, a changed secret
that is one deploy of a new sealing of the new value, a refresh that sends nothing and changes
nothing, an import (a Read with only the id) refused with a message saying why, a destroy that is
an archive. Contexts through Pulumi: the configuration takes the Context resource (or its name)
and is deployed with it applied; a rotated context secret redeploys it. Secrets never reach plain
state, the gRPC answers' plain properties or the plugin's stderr (every logger at DEBUG). The CLI's
plan and the Pulumi steps agree on one stack, and applying it both ways deploys the same documents."""

from __future__ import annotations

import base64
import json
import re
import secrets
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from platforge.provider import get_platform
from platforge.pulumi import tailer

from tests.tailer.e2e.cases import CASES, SECRET_ENV
from tests.tailer.e2e.conftest import API_KEY_ENV, DEPLOY, ID_TOKEN_ENV, REFRESH_ENV, STATUS, World, sha256

from .conftest import PROJECT
from .harness import PROVIDER_KEY, MiniEngine, ProviderError, ProviderProcess, dumps, is_secret, reveal, summarize
from .programs import EngineMocks, PlainMocks, declared_from_stack, run_program

CLASSES = tailer.RESOURCES
DEBUG_LOGGING = "import logging\nlogging.basicConfig(level=logging.DEBUG)\n"
TOKEN = ("POST", "/securetoken/v1/token")
OPS = ("create", "update", "replace", "delete")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp:
        w = World(tmp_path_factory.mktemp("tailer"), mp)
        yield w
        w.stop()


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory) -> Path:
    """The plugin's cwd: an empty program directory, so anything platforge wrote there would show."""
    return tmp_path_factory.mktemp("program")


def pulumi_config(w: World) -> tuple[dict[str, str], set[str]]:
    """The stack config `pulumi config set` would produce, and which keys are secret."""
    return ({"platforge:endpoint": f"{w.url}/", "platforge:opsEndpoint": w.url,
             "platforge:securetokenUrl": f"{w.url}/securetoken/v1/token",
             "platforge:publicKeyFile": str(w.public_key), "platforge:projectProfile": "sandbox-project",
             "platforge:refreshToken": w.refresh_token, "platforge:firebaseApiKey": w.api_key,
             "aws:region": "unrelated-namespace"}, {"platforge:refreshToken", "platforge:firebaseApiKey"})


@pytest.fixture(scope="module")
def provider(world: World, program_dir: Path, tmp_path_factory) -> Iterator[ProviderProcess]:
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(DEBUG_LOGGING, encoding="utf-8")
    # No credential in the plugin's environment: they come from the (secret) stack config only.
    process = ProviderProcess(program_dir, project=PROJECT, env={"PYTHONPATH": str(site), REFRESH_ENV: None,
                                                                 API_KEY_ENV: None, ID_TOKEN_ENV: None})
    process.configure(*pulumi_config(world))
    yield process
    process.close()


@pytest.fixture
def engine(provider: ProviderProcess) -> MiniEngine:
    return MiniEngine(provider)


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory) -> Path:
    """The files every case names (doc_md, DDL, SQL), as `base_dir`."""
    root = tmp_path_factory.mktemp("files")
    for case in CASES.values():
        for rel, content in case.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(content, encoding="utf-8")
    return root


def fields_of(kind: str, secret_value: str, configuration_id: str) -> dict[str, Any]:
    """A case's table as Python arguments: each `{ from_env = T_SECRET }` becomes the secret itself
    (a Pulumi secret at its natural place)."""
    case = CASES[kind]
    table = tomllib.loads(textwrap.dedent(case.body))[case.table][case.name]

    def swap(value: Any) -> Any:
        if value == {"from_env": SECRET_ENV}:
            return pulumi.Output.secret(secret_value)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    return {**swap(table), "configuration_id": configuration_id}


def deployed_id(kind: str, configuration_id: str) -> str:
    return f"000099_{configuration_id}" if kind == "context" else configuration_id


def run(engine: MiniEngine, body: Callable[[], None]) -> EngineMocks:
    mocks = EngineMocks(engine)
    run_program(body, mocks)
    return mocks


def sealed_hashes(document: Any) -> set[str]:
    if isinstance(document, dict):
        if document.get("sealed") is True:
            return {str(document["plaintext_sha256"])}
        return set().union(*(sealed_hashes(v) for v in document.values())) if document else set()
    if isinstance(document, list):
        return set().union(*(sealed_hashes(v) for v in document)) if document else set()
    return set()


# ---- every kind --------------------------------------------------------------------------------


def test_every_kind_has_a_class_and_a_case() -> None:
    assert set(CLASSES) == set(get_platform("tailer").kinds) == set(CASES)
    assert {c._resource_type_name for c in CLASSES.values()} == {
        f"dynamic/tailer:{c.__name__}" for c in CLASSES.values()}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_lifecycle(kind: str, engine: MiniEngine, provider: ProviderProcess, world: World, files_dir: Path) -> None:
    """Create, rerun, activated-only, field change, secret change, refresh, import, destroy: each
    counted in the sandbox's access log and seen in what the sandbox stores."""
    case = CASES[kind]
    cls = CLASSES[kind]
    cid = f"{case.name}_{secrets.token_hex(3)}"
    did = deployed_id(kind, cid)
    first_secret = "s-" + secrets.token_hex(12)

    def program(secret_value: str = first_secret, **changes: Any) -> Callable[[], None]:
        def body() -> None:
            cls(f"{kind}-{cid}", base_dir=str(files_dir), **{**fields_of(kind, secret_value, cid), **changes})
        return body

    def stored() -> dict[str, Any]:
        return world.configurations()[(case.configuration_type, did)]

    mark = world.mark()
    created = run(engine, program())
    [step] = created.steps
    assert step.op == "create" and step.id == did
    assert world.count(mark, DEPLOY) == 1 and world.count(mark, STATUS) == 0
    assert stored()["activated"] is True and stored()["archived"] is False
    outs = reveal(step.outputs)
    assert outs["platform_id"] == did and outs["deployed_id"] == did
    if case.has_secret:
        assert sealed_hashes(stored()["document"]) == {sha256(first_secret)}
        assert is_secret(step.outputs["secrets"]) and is_secret(step.outputs["applied_secrets"])

    mark = world.mark()
    again = run(engine, program())
    assert [s.op for s in again.steps] == ["same"] and again.steps[0].diff.changes == "none"
    assert world.requests_since(mark) == []  # not even a token

    mark = world.mark()
    off = run(engine, program(activated=False))
    assert [s.op for s in off.steps] == ["update"] and off.steps[0].diff.replaces == []
    assert world.count(mark, STATUS) == 1 and world.count(mark, DEPLOY) == 0
    assert stored()["activated"] is False and stored()["deploys"] == 1

    mark = world.mark()
    described = run(engine, program(activated=False, short_description="changed through Pulumi"))
    assert [s.op for s in described.steps] == ["update"]
    assert world.count(mark, DEPLOY) == 1 and world.count(mark, STATUS) == 0
    assert stored()["document"]["short_description"] == "changed through Pulumi" and stored()["activated"] is False

    final = {"activated": False, "short_description": "changed through Pulumi"}
    if case.has_secret:
        new_secret = "s-" + secrets.token_hex(12)
        before = stored()["document"]
        mark = world.mark()
        rotated = run(engine, program(new_secret, **final))
        assert [s.op for s in rotated.steps] == ["update"] and rotated.steps[0].diff.replaces == []
        assert world.count(mark, DEPLOY) == 1
        after = stored()["document"]
        assert sealed_hashes(after) == {sha256(new_secret)}
        assert json.dumps(before) != json.dumps(after)  # a new sealing of a new value
        first_secret = new_secret
    urn = step.urn
    assert run(engine, program(first_secret, **final)).steps[0].op == "same"

    mark = world.mark()
    refreshed = engine.refresh(urn)  # nothing to read: what was applied stays, nothing is sent
    assert refreshed.op == "refresh-same" and refreshed.id == did
    assert world.requests_since(mark) == []

    # Import: a Read with the id alone. Tailer cannot show it: refused, saying why and what to do.
    with pytest.raises(ProviderError) as refused:
        provider.read(did, urn, {}, {PROVIDER_KEY: engine.state[urn].inputs[PROVIDER_KEY]})
    assert "no read API" in refused.value.details and "pulumi up" in refused.value.details
    assert world.requests_since(mark) == []

    mark = world.mark()
    assert engine.destroy(urn).op == "delete"
    assert world.count(mark, STATUS) == 1 and world.count(mark, DEPLOY) == 0
    assert stored()["archived"] is True and stored()["activated"] is False


def test_invalid_declarations_fail_at_construction_and_at_check(engine: MiniEngine, provider: ProviderProcess,
                                                                world: World) -> None:
    """The stack's own checks: a mistyped field at construction; an unknown field is a TypeError;
    the plugin's check says the same before any request."""
    with pytest.raises(ValueError, match="account"):
        tailer.Workflow("bad", **{**fields_of("workflow", "x", "bad"), "account": "12"})
    with pytest.raises(TypeError, match="nonsense"):
        tailer.Workflow("bad", nonsense=1, **fields_of("workflow", "x", "bad"))
    mark = world.mark()
    regs = run_program(lambda: {"wf": tailer.Workflow("ok", **fields_of("workflow", "x", "wf-check"))},
                       PlainMocks()).registrations
    inputs = {**regs["ok"].inputs, "environment": "NOWHERE"}
    result = provider.check(regs["ok"].urn, {}, inputs)
    assert [p for p, _ in result.failures] == ["environment"]
    assert world.requests_since(mark) == []


# ---- contexts ----------------------------------------------------------------------------------


def test_a_configuration_deployed_with_a_context_resource(engine: MiniEngine, world: World, files_dir: Path) -> None:
    """`context=` the Context resource: its parameters applied client-side (the bucket, the
    shared secret), the deployed id `<account>_<context>_<id>`; a rotated context secret is an
    update of the context and a redeploy of the configuration with the new value sealed."""
    tag = secrets.token_hex(3)
    ctx_id, sts_id = f"ctx_{tag}", f"sts_{tag}"
    did = f"000099_{ctx_id}_{sts_id}"

    def program(shared: str, by_name: bool = False) -> Callable[[], None]:
        def body() -> None:
            context = tailer.Context(f"ctx-{tag}", base_dir=str(files_dir),
                                     **fields_of("context", shared, ctx_id))
            sts = fields_of("storage_to_storage", "unused", sts_id)
            sts["source"]["gcs_source_bucket"] = "{{bucket}}"
            sts["source"]["gcp_credentials_secret"] = "{{sa}}"
            sts["destinations"][0]["gcp_credentials_secret"] = "{{sa}}"
            tailer.StorageToStorage(f"sts-{tag}", context=f"ctx-{tag}" if by_name else context, **sts)
        return body

    first = "shared-" + secrets.token_hex(8)
    mark = world.mark()
    created = run(engine, program(first))
    assert [s.op for s in created.steps] == ["create", "create"]
    assert world.count(mark, DEPLOY) == 2
    stored = world.configurations()[("storage-to-storage", did)]
    assert stored["document"]["source"]["gcs_source_bucket"] == "landing"
    assert stored["document"]["context-id"] == f"000099_{ctx_id}"
    assert sealed_hashes(stored["document"]) == {sha256(first)}

    mark = world.mark()
    assert [s.op for s in run(engine, program(first, by_name=True)).steps] == ["same", "same"]
    assert world.requests_since(mark) == []

    second = "shared-" + secrets.token_hex(8)
    mark = world.mark()
    rotated = run(engine, program(second))
    assert [s.op for s in rotated.steps] == ["update", "update"]
    assert world.count(mark, DEPLOY) == 2
    assert sealed_hashes(world.configurations()[("storage-to-storage", did)]["document"]) == {sha256(second)}
    dumped = dumps({urn: (reveal(s.inputs), reveal(s.outputs)) for urn, s in engine.state.items()})
    assert second in dumped  # held by Pulumi as a secret (encrypted in a real state) ...
    plain_state = dumps({urn: ({k: v for k, v in s.inputs.items() if not is_secret(v)},
                               {k: v for k, v in s.outputs.items() if not is_secret(v)})
                         for urn, s in engine.state.items()})
    assert first not in plain_state and second not in plain_state  # ... never in plain properties
    engine.destroy_all()
    assert world.configurations()[("storage-to-storage", did)]["archived"] is True


def test_a_new_deployed_id_is_a_replace_that_deploys_then_archives(engine: MiniEngine, world: World,
                                                                   files_dir: Path) -> None:
    """Naming a context gives the export another deployed id (`<account>_<context>_<id>`): a
    replace, the new configuration deployed before the old one is archived (no gap)."""
    tag = secrets.token_hex(3)
    tts_id = f"tts_{tag}"

    def program(with_context: bool) -> Callable[[], None]:
        def body() -> None:
            context = tailer.Context(f"rc-{tag}", base_dir=str(files_dir), **fields_of("context", "x", f"rc_{tag}"))
            tailer.TableToStorage(f"tts-{tag}", base_dir=str(files_dir), context=context if with_context else None,
                                  **fields_of("table_to_storage", "unused", tts_id))
        return body

    assert [s.op for s in run(engine, program(False)).steps] == ["create", "create"]
    mark = world.mark()
    steps = run(engine, program(True)).steps
    assert [s.op for s in steps] == ["same", "replace"]
    assert steps[1].diff.replaces == ["context"] and steps[1].delete_before_replace is False
    new_id = f"000099_rc_{tag}_{tts_id}"
    assert steps[1].id == new_id
    assert [r for r in world.requests_since(mark) if r in (DEPLOY, STATUS)] == [DEPLOY, STATUS]  # deploy, then archive
    stored = world.configurations()
    assert stored[("table-to-storage", new_id)]["archived"] is False
    assert stored[("table-to-storage", tts_id)]["archived"] is True
    engine.destroy_all()


def test_a_context_named_but_not_declared_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="names no tailer.Context"):
        tailer.Workflow("wf", context="nowhere", **fields_of("workflow", "x", "wf"))


# ---- secrets -----------------------------------------------------------------------------------


def test_secrets_stay_out_of_plain_state_answers_and_logs(engine: MiniEngine, provider: ProviderProcess,
                                                          world: World, files_dir: Path, program_dir: Path) -> None:
    """A secret given at its place, or by path in `secret_values`, is one secret input; the
    plugin's answers carry it only inside secret outputs; its stderr (every logger at DEBUG) and
    the program directory never see it, nor the credentials."""
    tag = secrets.token_hex(3)
    at_place, by_path = "p-" + secrets.token_hex(12), "q-" + secrets.token_hex(12)

    def program() -> None:
        vm = fields_of("vm_launcher", at_place, f"vm_{tag}")
        tailer.VmLauncher(f"vm-{tag}", **vm)
        sts = fields_of("storage_to_storage", at_place, f"sts_{tag}")
        sts["destinations"][0]["gcp_credentials_secret"] = {"from_env": "UNUSED_REPLACED_BY_SECRET_VALUES"}
        tailer.StorageToStorage(f"sts-{tag}", secret_values={"destinations.0.gcp_credentials_secret":
                                                            pulumi.Output.secret(by_path)}, **sts)

    regs = run_program(program, PlainMocks()).registrations
    assert all(set(r.additional_secret_outputs) >= {"secrets", "applied_secrets"} for r in regs.values())
    assert all(is_secret(r.inputs["secrets"]) for r in regs.values())
    assert at_place not in dumps({k: v for r in regs.values() for k, v in r.inputs.items() if not is_secret(v)})
    steps = run(engine, program).steps
    assert [s.op for s in steps] == ["create", "create"]
    documents = world.configurations()
    assert sealed_hashes(documents[("storage-to-storage", f"sts_{tag}")]["document"]) == {sha256(at_place),
                                                                                          sha256(by_path)}
    for s in steps:
        plain_outputs = {k: v for k, v in s.outputs.items() if not is_secret(v)}
        assert at_place not in dumps(plain_outputs) and by_path not in dumps(plain_outputs)
        for name in ("secrets", "applied_secrets"):
            assert is_secret(s.outputs[name])
    for s in steps:
        engine.refresh(s.urn)
    engine.destroy_all()
    assert provider.configure_response["acceptSecrets"] is False
    stderr = provider.stderr()
    # The logging really was on, requests included (the kit's line per request: method, path, status).
    assert re.search(r"DEBUG:platforge\.transport:(GET|POST|PUT|DELETE) /\S* -> \d{3} ", stderr)
    for value in (at_place, by_path, world.refresh_token, world.token(), base64.b64encode(at_place.encode()).decode()):
        assert value not in stderr
    assert not any(p.is_file() and at_place in p.read_text(errors="replace") for p in program_dir.rglob("*"))


# ---- the same stack through both front doors ---------------------------------------------------

PARITY_V1 = """
[context.shared]
account = "000099"
environment = "DEV"
configuration_id = "shared_{tag}"
gcp_project_id = "sandbox-project"
doc_md = "docs/ctx.md"
[context.shared.parameters.bucket]
value = "landing"
type = "string"
resource = "gcs_bucket"
description = "the landing bucket"
[context.shared.parameters.sa]
value = { from_env = "PARITY_SECRET" }
type = "object"
resource = "gcp_credentials_secret"
description = "shared credentials"

[storage_to_storage.copy]
account = "000099"
environment = "DEV"
configuration_id = "copy_{tag}"
context = "shared"
filename_templates = [{ filename_template = "orders-{{FD_DATE}}.csv" }]
source = { type = "gcs", gcp_project_id = "sandbox-project", gcs_source_bucket = "{{bucket}}", gcs_source_prefix = "in", gcp_credentials_secret = "{{sa}}" }
destinations = [{ type = "gcs", gcs_destination_bucket = "out", gcs_destination_prefix = "o", gcp_credentials_secret = { from_env = "PARITY_SECRET" } }]

[table_to_storage.export]
account = "000099"
environment = "DEV"
configuration_id = "export_{tag}"
version = "3"
gcp_project_id = "sandbox-project"
gcs_dest_bucket = "exports"
gcs_dest_prefix = "daily"
tasks = [{ task_id = "t", sql_file = "sql/export.sql", output_filename = "o.csv" }]

[workflow.chain]
account = "000099"
environment = "DEV"
configuration_id = "chain_{tag}"
version = "2"
gcp_project_id = "sandbox-project"
authorized_job_ids = ["storage-to-storage|000099|copy_{tag}|DEV"]
target_dag = { configuration_type = "table-to-storage", configuration_id = "export_{tag}" }
"""
# v2: the export is switched off (activated only), the workflow's jobs change (a redeploy), the
# shared secret rotates (the context and the copy deployed with it redeploy), a VM launcher is
# new; v2 removes nothing, v3 removes the workflow (an archive).
PARITY_V2 = (PARITY_V1.replace('gcs_dest_prefix = "daily"', 'gcs_dest_prefix = "daily"\nactivated = false')
             .replace('authorized_job_ids = ["storage-to-storage|000099|copy_{tag}|DEV"]',
                      'authorized_job_ids = ["storage-to-storage|000099|copy_{tag}|DEV", "other|000099|x|DEV"]')
             + textwrap.dedent(CASES["vm_launcher"].body).replace("[vm_launcher.vm", "[vm_launcher.vm_{tag}")
             .replace("T_SECRET", "PARITY_SECRET").replace('account = "000099"', 'account = "000099"\n'
                                                                                  'configuration_id = "vm_{tag}"', 1))
PARITY_V3 = PARITY_V2.split("[workflow.chain]")[0] + "[vm_launcher" + PARITY_V2.split("[vm_launcher", 1)[1]
CHANGES_V2 = {"create": ["vm_launcher.vm_{tag}"],
              "update": ["context.shared", "storage_to_storage.copy", "table_to_storage.export", "workflow.chain"]}


def write_stack(directory: Path, body: str, w: World, tag: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.toml").write_text(w.platform_table() + body.replace("{tag}", tag), encoding="utf-8")
    for rel, content in {"docs/ctx.md": "# Shared\n", "sql/export.sql": "SELECT 1 AS x\n"}.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(content, encoding="utf-8")
    return directory


def _cli_plan(w: World, stack_dir: Path) -> dict[str, list[str]]:
    result = w.cli("plan", stack_dir, "--json", "--prune")
    assert result.exit_code in (0, 2), result.output
    document = json.loads(result.stdout)
    return {op: sorted(a["address"] for a in document["actions"] if a["op"] == op) for op in OPS}


def _pulumi_plan(steps) -> dict[str, list[str]]:
    summary = summarize(steps)
    return {op: summary.get(op, []) for op in OPS}


def _documents(w: World, tag: str) -> dict[tuple[str, str], Any]:
    """What each sandbox stores for the stack: documents with each sealed secret as the hash of
    its plaintext (ciphertexts differ at every sealing), flags."""
    def opened(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("sealed") is True:
                return value["plaintext_sha256"]
            return {k: opened(v) for k, v in value.items()}
        if isinstance(value, list):
            return [opened(v) for v in value]
        return value

    return {key: (c["activated"], c["archived"], opened(c["document"]))
            for key, c in w.configurations().items() if tag in key[1]}


def test_cli_plan_and_pulumi_steps_agree(world: World, provider: ProviderProcess, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`platforge plan --json --prune` (CLI, its own sandbox) and the Pulumi steps of what
    `declare_stack` registers (the real plugin, this module's sandbox) agree on what is created,
    updated and deleted, and the two sandboxes end up storing the same documents."""
    tag = secrets.token_hex(3)
    (tmp_path / "cli-world").mkdir()
    cli_world = World(tmp_path / "cli-world", monkeypatch)
    try:
        monkeypatch.setenv("PARITY_SECRET", "v1-" + secrets.token_hex(8))
        monkeypatch.chdir(tmp_path)
        engine = MiniEngine(provider)
        cli_dir, pulumi_dir = tmp_path / "cli", tmp_path / "pulumi"
        for body, expected in ((PARITY_V1, None), (PARITY_V2, CHANGES_V2),
                               (PARITY_V3, {"delete": ["workflow.chain"]})):
            if body is PARITY_V2:
                monkeypatch.setenv("PARITY_SECRET", "v2-" + secrets.token_hex(8))
            write_stack(cli_dir, body, cli_world, tag)
            write_stack(pulumi_dir, body, world, tag)
            cli_plan = _cli_plan(cli_world, cli_dir)
            pulumi_plan = _pulumi_plan(engine.preview_program(declared_from_stack(pulumi_dir)))
            assert cli_plan == pulumi_plan
            if expected is None:
                assert len(cli_plan["create"]) == 4
            else:
                assert cli_plan == {op: sorted(a.replace("{tag}", tag) for a in expected.get(op, [])) for op in OPS}
            result = cli_world.cli("apply", cli_dir, "--yes", "--prune")
            assert result.exit_code == 0, result.output
            assert _pulumi_plan(engine.up_program(declared_from_stack(pulumi_dir))) == pulumi_plan
            assert _documents(cli_world, tag) == _documents(world, tag)
            assert _cli_plan(cli_world, cli_dir) == {op: [] for op in OPS}
            mark = world.mark()
            assert {s.op for s in engine.preview_program(declared_from_stack(pulumi_dir))} == {"same"}
            assert world.requests_since(mark) == []
        stored = _documents(world, tag)
        assert stored[("table-to-storage", f"export_{tag}")][:2] == (False, False)
        assert stored[("workflow", f"chain_{tag}")][:2] == (False, True)
        engine.destroy_all()
    finally:
        cli_world.stop()


def test_the_firebase_api_key_stays_out_of_the_plugins_logs(engine: MiniEngine, provider: ProviderProcess,
                                                            world: World) -> None:
    cid = f"wf_key_{secrets.token_hex(3)}"
    run(engine, lambda: {"wf": tailer.Workflow(cid, **fields_of("workflow", "x", cid))})
    engine.destroy_all()
    """A regression: the key went in F1's query, and httpx logs every request URL at INFO."""
    stderr = provider.stderr()
    assert "/securetoken/v1/token" in stderr and "/configuration/v2" in stderr  # with logging on
    assert world.api_key not in stderr


def test_the_program_module_docstring_example_runs() -> None:
    """The module's example registers what it says: a secret at its place is the secret input
    `secrets`, and the copy depends on the context it is deployed with."""
    doc = tailer.__doc__ or ""
    example = textwrap.dedent(doc.split("\n\n", 1)[1].split("\n\nArguments", 1)[0])
    shared = "sa-" + secrets.token_hex(8)
    regs = run_program(lambda: exec(example, {"pulumi": pulumi, "tailer": tailer}), PlainMocks(),  # noqa: S102
                       config={f"{PROJECT}:saJson": shared}, secret_config=(f"{PROJECT}:saJson",)).registrations
    assert {r.name for r in regs.values()} == {"ctx_dev", "copy"}
    copy = regs["copy"]
    assert copy.inputs["context"] == "ctx_dev"
    assert [d.rsplit("::", 1)[-1] for d in copy.dependencies] == ["ctx_dev"]  # the mock monitor's URN form
    assert is_secret(copy.inputs["secrets"]) and is_secret(copy.inputs["context_secrets"])
    assert shared not in dumps({k: v for k, v in copy.inputs.items() if not is_secret(v)})
    assert copy.inputs["destinations"][0]["gcp_credentials_secret"] == {"from_program": "secret"}


def test_the_example_stack_declares_through_the_pulumi_door(monkeypatch: pytest.MonkeyPatch) -> None:
    """`stacks/` over `examples/tailer`: one resource per table, files relative to the stack's
    directory (`base_dir`), every secret one secret input, the copy carrying its context."""
    from .programs import stack_program

    example = Path(__file__).resolve().parents[2] / "examples" / "tailer"
    loader = "sa-" + secrets.token_hex(8)
    monkeypatch.setenv("RETAIL_LOADER_SA_JSON", loader)
    monkeypatch.setenv("RETAIL_VM_SA_JSON", "vm-" + secrets.token_hex(8))
    regs = run_program(stack_program(example), PlainMocks()).registrations
    assert set(regs) == {"context.retail_dev", "storage_to_storage.stores_copy", "storage_to_tables.orders_load",
                         "table_to_storage.sales_export", "workflow.export_after_load", "vm_launcher.store_refresh"}
    assert {r.inputs["base_dir"] for r in regs.values()} == {str(example)}
    copy = regs["storage_to_storage.stores_copy"]
    assert copy.inputs["context"] == "retail_dev" and is_secret(copy.inputs["context_secrets"])
    assert reveal(copy.inputs["context_spec"])["configuration_id"] == "retail_dev"
    assert regs["table_to_storage.sales_export"].inputs["tasks"][0]["sql_file"] == "sql/sales_per_store.sql"
    assert "secrets" not in regs["workflow.export_after_load"].inputs
    assert loader not in dumps({n: {k: v for k, v in r.inputs.items() if not is_secret(v)} for n, r in regs.items()})
