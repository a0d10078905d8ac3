"""The Dataiku classes through the Pulumi engine protocol: the real plugin process driven over
gRPC (MiniEngine / ProviderProcess) against one embedded DSS sandbox for the module.

Every kind: create, a rerun that is `same` (the provider's own diff says no change), an update
seen live, import by id, destroy (and a second delete that finds nothing). The global API key's
secret, which DSS shows once, is a secret output the engine keeps through reruns, updates and
refreshes, and it never reaches the plugin's stderr with every logger at DEBUG. A preview of new
and changed resources sends no write to DSS (the sandbox's access log counts them). Kinds whose ids
DSS assigns (scenario, global API key) have the platform id as their Pulumi id, and a new name or
label is an update of the same object, as in the CLI."""

from __future__ import annotations

import base64
import json
import secrets
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
from platforge.provider import get_platform
from platforge.provider.dataiku.client import DataikuClient
from platforge.provider.dataiku.sandbox import SandboxConfig, create_app
from platforge.provider.sandbox import EmbeddedServer
from platforge.pulumi import dataiku
from platforge.pulumi.base import provider_for
from platforge.pulumi.dynamic import CONTROL_INPUTS

from .conftest import PROJECT
from .harness import (
    DYNAMIC_TYPE,
    PROVIDER_KEY,
    UNKNOWN,
    Declared,
    MiniEngine,
    ProviderError,
    ProviderProcess,
    dumps,
    is_secret,
    reveal,
    secret,
    serialize_like_sdk,
    urn_of,
)
from .programs import EngineMocks, run_program

MARKER = "MARKER-pulumi-dku-9c2e"
PASSWORD = "pw-" + MARKER
CONNECTION_PASSWORD = "pg-" + MARKER

# Every logger of the plugin at DEBUG, on its stderr (httpx, the client kit, the core): what a
# secret must not reach even when someone turns logging all the way up.
DEBUG_LOGGING = "import logging\nlogging.basicConfig(level=logging.DEBUG)\n"


@dataclass
class DSS:
    url: str
    admin_key: str
    access_log: str
    server: Any
    client: DataikuClient

    def writes_since(self, mark: int) -> list[dict]:
        return [r for r in self.log()[mark:] if r["method"] != "GET"]

    def mark(self) -> int:
        return len(self.log())

    def log(self) -> list[dict]:
        with open(self.access_log, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def dss(tmp_path_factory) -> Iterator[DSS]:
    directory = tmp_path_factory.mktemp("dss")
    key = "ADMIN-" + secrets.token_hex(12)
    log = str(directory / "access.jsonl")
    config = SandboxConfig(db_path=str(directory / "dss.db"), admin_api_key=key, access_log=log, build_seconds=0.05)
    server = EmbeddedServer(create_app(config)).start()
    client = DataikuClient(server.url, key)
    box = DSS(server.url, key, log, server, client)
    yield box
    client.close()
    server.stop()


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory) -> Path:
    """The plugin's cwd: an empty program directory, so anything platforge wrote there would show."""
    return tmp_path_factory.mktemp("program")


@pytest.fixture(scope="module")
def provider(dss: DSS, program_dir: Path, tmp_path_factory) -> Iterator[ProviderProcess]:
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(DEBUG_LOGGING, encoding="utf-8")
    process = ProviderProcess(program_dir, project=PROJECT, env={"PYTHONPATH": str(site), "DATAIKU_API_KEY": None})
    process.configure({"platforge:endpoint": dss.url, "platforge:apiKey": dss.admin_key,
                       "aws:region": "unrelated-namespace"}, {"platforge:apiKey"})
    yield process
    process.close()


@pytest.fixture(scope="module")
def base(dss: DSS) -> dict[str, str]:
    """A group and a project the kinds that need one refer to, made directly in DSS."""
    tag = secrets.token_hex(3).upper()
    names = {"group": f"team_{tag}", "project": f"BASE_{tag}"}
    dss.client.create_group({"name": names["group"], "description": "", "sourceType": "LOCAL"})
    dss.client.create_project({"projectKey": names["project"], "name": names["project"], "owner": "admin"})
    return names


@pytest.fixture
def engine(provider: ProviderProcess) -> MiniEngine:
    return MiniEngine(provider)


CLASSES = dataiku.RESOURCES


def resource_type(kind: str) -> str:
    return f"pulumi-python:{CLASSES[kind]._resource_type_name}"


_BLOBS: dict[str, str] = {}


def provider_blob(kind: str) -> str:
    if kind not in _BLOBS:
        _BLOBS[kind] = serialize_like_sdk(provider_for("dataiku", kind))
    return _BLOBS[kind]


def secret_outputs(kind: str) -> tuple[str, ...]:
    """What the class declares in additional_secret_outputs (test_the_classes_declare_... holds it)."""
    kind_obj = get_platform("dataiku").kinds[kind]
    return tuple(sorted(kind_obj.sensitive_fields | kind_obj.create_only_fields | set(CLASSES[kind].shown_once)))


def declared(kind: str, name: str, props: dict[str, Any]) -> Declared:
    """The registration `platforge.pulumi.dataiku.<Class>(name, **props)` makes: secret fields
    wrapped, `__provider` serialized by the SDK's own function, the class's secret outputs."""
    kind_obj = get_platform("dataiku").kinds[kind]
    hidden = kind_obj.sensitive_fields | kind_obj.create_only_fields
    inputs = {k: secret(v) if k in hidden else v for k, v in props.items() if v is not None}
    inputs[PROVIDER_KEY] = provider_blob(kind)
    return Declared(urn_of(name, project=PROJECT, type_=resource_type(kind)), inputs, secret_outputs(kind),
                    aliases=(urn_of(name, project=PROJECT, type_=DYNAMIC_TYPE),))


def up(engine: MiniEngine, d: Declared):
    return engine.up(d.urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs, aliases=d.aliases)


# ---- one lifecycle per kind ---------------------------------------------------------------


@dataclass
class Case:
    kind: str
    create: Callable[[dict], dict]
    update: Callable[[dict], dict]
    live: Callable[[DataikuClient, dict], Any]  # what DSS holds for these outputs (None: gone)
    created: Callable[[dict], Any]
    updated: Callable[[dict], Any]
    # Fields an import by id cannot know, so the program's next `up` writes them: secrets DSS never returns.
    import_changes: bool = False


def _find(items: list[dict], **match: Any) -> dict | None:
    return next((i for i in items if all(i.get(k) == v for k, v in match.items())), None)


def _grant(c: DataikuClient, outs: dict) -> Any:
    try:
        entries = c.get_permissions(outs["project"]).get("permissions") or []
    except Exception:
        return None
    entry = _find(entries, group=outs["group"])
    return entry and (entry.get("readProjectContent", False), entry.get("writeProjectContent", False))


def _missing(call: Callable[[], Any]) -> Any:
    """A document, or None where DSS says it does not exist."""
    from platforge.provider._kit.client import NotFound

    try:
        return call()
    except NotFound:
        return None


def _scenario(c: DataikuClient, outs: dict) -> Any:
    project, scenario_id = str(outs["platform_id"]).split("/", 1)
    doc = _missing(lambda: c.get_scenario(project, scenario_id))
    if doc is None:
        return None
    hours = [t.get("params", {}).get("hour") for t in doc.get("triggers") or () if t.get("type") == "temporal"]
    return doc.get("name"), doc.get("active"), hours


def _project_variables(c: DataikuClient, outs: dict) -> Any:
    doc = _missing(lambda: c.get_project_variables(outs["project"]))
    parts = doc and (doc.get("standard") or {}, doc.get("local") or {})
    return parts if parts and parts != ({}, {}) else None  # a project's variables are deleted by emptying them


CASES = [
    Case("group",
         create=lambda n: {"name": n["name"], "description": "first", "may_create_projects": True},
         update=lambda n: {"name": n["name"], "description": "second", "may_create_projects": True},
         live=lambda c, o: (lambda g: g and (g.get("description"), g.get("mayCreateProjects")))(
             _missing(lambda: c.get_group(o["name"]))),
         created=lambda n: ("first", True), updated=lambda n: ("second", True)),
    Case("user",
         create=lambda n: {"login": n["name"], "display_name": "Ada", "email": "ada@example.com",
                           "groups": [n["group"]], "password": PASSWORD},
         update=lambda n: {"login": n["name"], "display_name": "Ada L.", "email": "ada@example.com",
                           "groups": [n["group"]], "password": PASSWORD},
         live=lambda c, o: (lambda u: u and (u.get("displayName"), u.get("groups")))(
             _missing(lambda: c.get_user(o["login"]))),
         created=lambda n: ("Ada", [n["group"]]), updated=lambda n: ("Ada L.", [n["group"]]),
         import_changes=True),
    Case("project",
         create=lambda n: {"key": n["key"], "name": "Marts", "tags": ["finance"]},
         update=lambda n: {"key": n["key"], "name": "Marts v2", "tags": ["finance", "nightly"]},
         live=lambda c, o: (lambda p: p and (p.get("name"), sorted(p.get("tags") or [])))(
             _find(c.list_projects(), projectKey=o["key"])),
         created=lambda n: ("Marts", ["finance"]), updated=lambda n: ("Marts v2", ["finance", "nightly"])),
    Case("project_group_grant",
         create=lambda n: {"project": n["project"], "group": n["group"], "read_project_content": True},
         update=lambda n: {"project": n["project"], "group": n["group"], "read_project_content": True,
                           "write_project_content": True},
         live=_grant, created=lambda n: (True, False), updated=lambda n: (True, True)),
    Case("instance_variable",
         create=lambda n: {"key": n["key"], "value": {"region": "eu", "replicas": 2}},
         update=lambda n: {"key": n["key"], "value": {"region": "eu", "replicas": 3, "zones": ["a", "b"]}},
         live=lambda c, o: c.get_instance_variables().get(o["key"]),
         created=lambda n: {"region": "eu", "replicas": 2},
         updated=lambda n: {"region": "eu", "replicas": 3, "zones": ["a", "b"]}),
    # Every project has its (empty) variables document from birth: taking it over needs no adopt.
    Case("project_variables",
         create=lambda n: {"project": n["project"], "standard": {"warehouse": "analytics"}},
         update=lambda n: {"project": n["project"], "standard": {"warehouse": "marts"}, "local": {"debug": True}},
         live=_project_variables,
         created=lambda n: ({"warehouse": "analytics"}, {}),
         updated=lambda n: ({"warehouse": "marts"}, {"debug": True})),
    Case("connection",
         create=lambda n: {"name": n["name"], "type": "PostgreSQL", "description": "warehouse",
                           "params": {"host": "db", "port": 5432, "db": "analytics", "user": "etl"},
                           "password": CONNECTION_PASSWORD, "usable_by": "ALLOWED", "allowed_groups": [n["group"]]},
         update=lambda n: {"name": n["name"], "type": "PostgreSQL", "description": "warehouse v2",
                           "params": {"host": "db", "port": 5433, "db": "analytics", "user": "etl"},
                           "password": CONNECTION_PASSWORD, "usable_by": "ALLOWED", "allowed_groups": [n["group"]]},
         live=lambda c, o: (lambda d: d and (d.get("description"), d.get("params", {}).get("port")))(
             _missing(lambda: c.get_connection(o["name"]))),
         created=lambda n: ("warehouse", 5432), updated=lambda n: ("warehouse v2", 5433),
         import_changes=True),
    Case("scenario",
         create=lambda n: {"project": n["project"], "name": n["name"], "active": False,
                           "triggers": [{"frequency": "Daily", "hour": 3, "minute": 15}]},
         update=lambda n: {"project": n["project"], "name": n["name"], "active": True,
                           "triggers": [{"frequency": "Daily", "hour": 4, "minute": 15}]},
         live=_scenario,
         created=lambda n: (n["name"], False, [3]), updated=lambda n: (n["name"], True, [4])),
    Case("code_env",
         create=lambda n: {"name": n["name"], "lang": "PYTHON", "packages": ["pandas==2.2.0"]},
         update=lambda n: {"name": n["name"], "lang": "PYTHON", "packages": ["pandas==2.2.0", "requests"]},
         live=lambda c, o: (lambda e: e and sorted(filter(None, (e.get("specPackageList") or "").splitlines())))(
             _missing(lambda: c.get_code_env(o["lang"], o["name"]))),
         created=lambda n: ["pandas==2.2.0"], updated=lambda n: ["pandas==2.2.0", "requests"]),
    Case("global_api_key",
         create=lambda n: {"label": n["name"], "description": "ci", "groups": [n["group"]]},
         update=lambda n: {"label": n["name"], "description": "ci deployments", "groups": [n["group"]]},
         live=lambda c, o: (lambda k: k and (k.get("description"), k.get("groups")))(
             _find(c.list_global_api_keys(), id=o["platform_id"])),
         created=lambda n: ("ci", [n["group"]]), updated=lambda n: ("ci deployments", [n["group"]])),
]


def test_every_kind_has_a_lifecycle_case() -> None:
    assert {c.kind for c in CASES} == set(get_platform("dataiku").kinds) == set(CLASSES)


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_lifecycle(case: Case, engine: MiniEngine, provider: ProviderProcess, dss: DSS, base: dict) -> None:
    tag = secrets.token_hex(3)
    n = {"name": f"{case.kind}-{tag}", "key": f"K_{tag.upper()}", "group": base["group"], "project": base["project"]}
    d = declared(case.kind, f"{case.kind}.{tag}", case.create(n))

    created = up(engine, d)
    assert created.op == "create"
    outs = reveal(created.outputs)
    assert case.live(dss.client, outs) == case.created(n)

    again = up(engine, d)  # the program unchanged: the provider's own diff finds nothing to do
    assert again.op == "same" and again.diff.changes == "none", again.diff

    d2 = declared(case.kind, f"{case.kind}.{tag}", case.update(n))
    updated = up(engine, d2)
    assert updated.op == "update" and updated.diff.replaces == []
    assert updated.id == created.id
    outs = reveal(updated.outputs)
    assert case.live(dss.client, outs) == case.updated(n)
    assert up(engine, d2).op == "same"

    # Import by id: a Read that carries nothing but the id and the provider (no old outputs).
    # Kinds whose platform assigns ids take the platform id; the others their natural key.
    state = engine.state[d2.urn]
    if get_platform("dataiku").kinds[case.kind].identified_by_id:
        assert state.id == str(outs["platform_id"]) == created.id
    imported = provider.read(state.id, d2.urn, {}, {PROVIDER_KEY: provider_blob(case.kind)})
    assert imported.id == state.id
    for field_name in reveal(d2.inputs):
        if field_name not in (PROVIDER_KEY, *CONTROL_INPUTS, *secret_outputs(case.kind)):
            assert field_name in imported.inputs, field_name
    checked = provider.check(d2.urn, imported.inputs, d2.inputs)
    assert checked.failures == []
    diff = provider.diff(state.id, d2.urn, imported.outputs, checked.inputs, imported.inputs)
    if case.import_changes:  # DSS never returns the password: the next `up` writes the declared one
        assert diff.changes == "some" and diff.replaces == []
    else:
        assert diff.changes == "none", diff

    deleted = engine.destroy(d2.urn)
    assert deleted.op == "delete"
    assert case.live(dss.client, outs) is None
    provider.delete(state.id, d2.urn, state.outputs, state.inputs)  # already gone: still a success


# ---- kinds with server ids: a new identity is an update of the same object ------------------


def test_renaming_a_scenario_is_an_update_of_the_same_scenario(engine: MiniEngine, provider: ProviderProcess,
                                                              dss: DSS, base: dict) -> None:
    """As in the CLI (found again by id): a new name keeps the scenario, its DSS id and the steps
    authored in the UI, which the kind does not manage; a replace would lose them."""
    tag = secrets.token_hex(3)
    project = base["project"]
    props = {"project": project, "name": f"nightly-{tag}", "active": False,
             "triggers": [{"frequency": "Daily", "hour": 3, "minute": 15}]}
    d = declared("scenario", f"scenario.rename-{tag}", props)
    created = up(engine, d)
    assert created.op == "create"
    platform_id = reveal(created.outputs)["platform_id"]
    assert created.id == platform_id
    scenario_id = platform_id.split("/", 1)[1]
    document = dss.client.get_scenario(project, scenario_id)  # a step authored in the UI
    steps = [{"id": "build_0", "type": "build_flowitem", "name": "Build marts", "params": {"builds": []}}]
    document["params"] = {**(document.get("params") or {}), "steps": steps}
    dss.client.put_scenario(project, scenario_id, document)

    renamed = declared("scenario", f"scenario.rename-{tag}", {**props, "name": f"nightly-v2-{tag}"})
    preview = engine.preview(renamed.urn, renamed.inputs)
    assert preview.op == "update" and preview.diff.replaces == []
    step = up(engine, renamed)
    assert step.op == "update" and step.diff.replaces == [] and step.id == created.id
    assert reveal(step.outputs)["platform_id"] == platform_id
    live = dss.client.get_scenario(project, scenario_id)  # the same DSS scenario, renamed
    assert live["name"] == f"nightly-v2-{tag}" and live["params"]["steps"] == steps
    assert [s["id"] for s in dss.client.list_scenarios(project) if str(s.get("name", "")).endswith(tag)] \
        == [scenario_id]
    assert up(engine, renamed).op == "same"
    refreshed = engine.refresh(renamed.urn)  # found by its platform id, under its new name
    assert refreshed.id == platform_id and reveal(refreshed.outputs)["name"] == f"nightly-v2-{tag}"
    assert reveal(refreshed.outputs)["platform_id"] == platform_id
    assert up(engine, renamed).op == "same"

    # Import by the platform id: a Read with nothing but the id finds the renamed scenario.
    imported = provider.read(platform_id, renamed.urn, {}, {PROVIDER_KEY: provider_blob("scenario")})
    assert imported.id == platform_id and imported.inputs["name"] == f"nightly-v2-{tag}"
    checked = provider.check(renamed.urn, imported.inputs, renamed.inputs)
    assert provider.diff(platform_id, renamed.urn, imported.outputs, checked.inputs, imported.inputs).changes == "none"

    assert engine.destroy(renamed.urn).op == "delete"
    assert _missing(lambda: dss.client.get_scenario(project, scenario_id)) is None


def test_moving_a_scenario_to_another_project_is_still_a_replace(engine: MiniEngine, dss: DSS, base: dict) -> None:
    """The project is where DSS keeps a scenario (its id is PROJECT/ID): another project is
    another scenario, whatever the kind's server ids."""
    tag = secrets.token_hex(3)
    other = f"OTHER_{tag.upper()}"
    dss.client.create_project({"projectKey": other, "name": other, "owner": "admin"})
    props = {"project": base["project"], "name": f"moved-{tag}"}
    d = declared("scenario", f"scenario.move-{tag}", props)
    assert up(engine, d).op == "create"
    moved = declared("scenario", f"scenario.move-{tag}", {**props, "project": other})
    assert engine.preview(moved.urn, moved.inputs).diff.replaces == ["project"]
    unknown = declared("scenario", "x", {**props, "project": UNKNOWN})
    assert engine.preview(d.urn, unknown.inputs).diff.replaces == ["project"]
    renamed_later = declared("scenario", "x", {**props, "name": UNKNOWN})
    assert engine.preview(d.urn, renamed_later.inputs).diff.replaces == []
    engine.destroy(d.urn)


def test_a_scenario_with_a_natural_key_id_from_an_earlier_version_keeps_working(engine: MiniEngine, dss: DSS,
                                                                               base: dict) -> None:
    """State written before server-id kinds took the platform id as their Pulumi id holds the
    natural key (`PROJECT/name`); the `platform_id` output still finds the object: a rename is
    an update, a refresh finds it, a destroy deletes it."""
    tag = secrets.token_hex(3)
    project = base["project"]
    props = {"project": project, "name": f"legacy-{tag}"}
    d = declared("scenario", f"scenario.legacy-{tag}", props)
    assert up(engine, d).op == "create"
    state = engine.state[d.urn]
    platform_id = reveal(state.outputs)["platform_id"]
    state.id = f"{project}/legacy-{tag}"  # what an earlier version returned from Create
    renamed = declared("scenario", f"scenario.legacy-{tag}", {**props, "name": f"legacy-v2-{tag}"})
    step = up(engine, renamed)
    assert step.op == "update" and step.diff.replaces == [] and reveal(step.outputs)["platform_id"] == platform_id
    refreshed = engine.refresh(renamed.urn)
    assert refreshed.id == f"{project}/legacy-{tag}" and reveal(refreshed.outputs)["name"] == f"legacy-v2-{tag}"
    assert engine.destroy(renamed.urn).op == "delete"
    assert _missing(lambda: dss.client.get_scenario(*platform_id.split("/", 1))) is None


def test_a_new_api_key_label_is_an_update_that_keeps_the_secret(engine: MiniEngine, provider: ProviderProcess,
                                                                 dss: DSS, base: dict) -> None:
    """A replace would issue a new secret (and revoke the one in use): a new label is an update of
    the same key, and the `key` output Pulumi holds stays as it was, secret."""
    tag = secrets.token_hex(3)
    props = {"label": f"ci-{tag}", "description": "ci", "groups": [base["group"]]}
    d = declared("global_api_key", f"key.relabel-{tag}", props)
    created = up(engine, d)
    assert created.op == "create"
    key_id = reveal(created.outputs)["platform_id"]
    assert created.id == key_id
    value = reveal(created.outputs["key"])

    unknown = engine.preview(d.urn, declared("global_api_key", "x", {**props, "label": UNKNOWN}).inputs)
    assert unknown.op == "update" and unknown.diff.replaces == []  # a label not known yet: still no replace
    relabelled = declared("global_api_key", f"key.relabel-{tag}", {**props, "label": f"deploy-{tag}"})
    step = up(engine, relabelled)
    assert step.op == "update" and step.diff.replaces == [] and step.id == created.id
    held = engine.state[relabelled.urn].outputs["key"]
    assert is_secret(held) and reveal(held) == value
    assert reveal(step.outputs)["platform_id"] == key_id
    live = _find(dss.client.list_global_api_keys(), id=key_id)
    assert live is not None and live["label"] == f"deploy-{tag}"
    assert _find(dss.client.list_global_api_keys(), label=f"ci-{tag}") is None
    with DataikuClient(dss.url, value) as as_key:  # the secret in use still signs in
        assert as_key.auth_info()
    assert up(engine, relabelled).op == "same"
    refreshed = engine.refresh(relabelled.urn)
    assert refreshed.op == "refresh-same" and reveal(refreshed.outputs["key"]) == value

    # Import by the platform id.
    imported = provider.read(key_id, relabelled.urn, {}, {PROVIDER_KEY: provider_blob("global_api_key")})
    assert imported.id == key_id and imported.inputs["label"] == f"deploy-{tag}"
    assert "key" not in imported.outputs  # DSS never shows it again

    assert engine.destroy(relabelled.urn).op == "delete"
    assert _find(dss.client.list_global_api_keys(), id=key_id) is None


def test_import_with_only_the_id_cannot_find_a_provider(provider: ProviderProcess, dss: DSS, base: dict) -> None:
    """`pulumi import` sends Read with the id alone; a dynamic plugin then has no `__provider` to
    load (pulumi/pulumi#16175), on Dataiku as on Datatailr. The program's inputs carry it, which
    is how the import above works; `adopt=True` is the other way in."""
    urn = urn_of(base["group"], project=PROJECT, type_=resource_type("group"))
    with pytest.raises(ProviderError) as failed:
        provider.read(base["group"], urn, {}, {})
    assert failed.value.method == "Read" and f"KeyError: '{PROVIDER_KEY}'" in failed.value.details


# ---- the API key's secret: shown once, a Pulumi secret output -------------------------------


def test_the_classes_declare_their_secret_outputs() -> None:
    """What `declared()` above assumes is what the classes register (run under plain mocks)."""
    from .programs import PlainMocks

    def program() -> None:
        dataiku.User("u", email="u@example.com", password="p")
        dataiku.Connection("c", type="PostgreSQL", password="p")
        dataiku.GlobalApiKey("k", groups=["g"])

    run = run_program(program, PlainMocks())
    got = {r.name: (r.type, tuple(sorted(r.additional_secret_outputs))) for r in run.registrations.values()}
    assert got == {"u": (resource_type("user"), secret_outputs("user")),
                   "c": (resource_type("connection"), secret_outputs("connection")),
                   "k": (resource_type("global_api_key"), secret_outputs("global_api_key"))}
    assert "key" in secret_outputs("global_api_key")
    for name in ("u", "c"):
        assert is_secret(run.registrations[name].inputs["password"])


def test_the_api_key_secret_is_a_secret_output_kept_by_the_engine(engine: MiniEngine, provider: ProviderProcess,
                                                                  dss: DSS, base: dict, program_dir: Path) -> None:
    label = "ci-" + secrets.token_hex(3)
    name = f"key.{label}"

    def program(description: str) -> Callable[[], None]:
        def body() -> None:
            dataiku.GlobalApiKey(name, label=label, description=description, groups=[base["group"]])
        return body

    first = EngineMocks(engine)
    run = run_program(program("ci"), first)
    assert "key" in run.registrations[name].additional_secret_outputs
    [step] = first.steps
    assert step.op == "create" and is_secret(step.outputs["key"])
    value = reveal(step.outputs["key"])
    assert isinstance(value, str) and len(value) > 8
    with DataikuClient(dss.url, value) as as_key:  # it is the real secret: DSS signs it in
        assert as_key.auth_info()
    urn = step.urn

    rerun = EngineMocks(engine)
    run_program(program("ci"), rerun)
    assert [s.op for s in rerun.steps] == ["same"]
    assert reveal(engine.state[urn].outputs["key"]) == value and is_secret(engine.state[urn].outputs["key"])

    changed = EngineMocks(engine)
    run_program(program("ci deployments"), changed)
    assert [s.op for s in changed.steps] == ["update"]
    held = engine.state[urn].outputs["key"]
    assert is_secret(held) and reveal(held) == value  # the update showed none: Pulumi keeps its own

    refreshed = engine.refresh(urn)  # DSS never shows it again: the refresh keeps it too
    assert refreshed.op == "refresh-same"
    assert is_secret(refreshed.outputs["key"]) and reveal(refreshed.outputs["key"]) == value
    assert run_program(program("ci deployments"), EngineMocks(engine)).registrations  # and the next up...
    assert reveal(engine.state[urn].outputs["key"]) == value

    # Nowhere in clear: not in any plain output or input, not in `__provider`, not on the plugin's
    # stderr (every logger at DEBUG), not in any file platforge could have written in the program dir.
    state = engine.state[urn]
    plain = {k: v for k, v in {**state.outputs, **state.inputs}.items() if not is_secret(v)}
    assert value not in dumps(plain)
    assert value not in base64.b64decode(state.outputs[PROVIDER_KEY]).decode("latin-1")
    stderr = provider.stderr()
    assert "DEBUG" in stderr  # the logging really was on
    assert value not in stderr and dss.admin_key not in stderr
    assert not any(p.is_file() and value in p.read_text(errors="replace") for p in program_dir.rglob("*"))
    engine.destroy(urn)
    assert _find(dss.client.list_global_api_keys(), label=label) is None


def test_an_adopted_api_key_has_no_secret_output(engine: MiniEngine, provider: ProviderProcess, dss: DSS,
                                                 base: dict) -> None:
    """DSS shows a key's secret only to its creator: a key taken over has none to give."""
    label = "adopted-" + secrets.token_hex(3)
    dss.client.create_global_api_key({"label": label, "description": "made by hand", "groups": [base["group"]]})
    d = declared("global_api_key", f"key.{label}", {"label": label, "description": "made by hand",
                                                    "groups": [base["group"]], "adopt": True})
    step = up(engine, d)
    assert step.op == "create" and "key" not in step.outputs
    assert up(engine, d).op == "same"
    engine.destroy(d.urn)


def test_secret_inputs_never_reach_the_plugin_logs(engine: MiniEngine, provider: ProviderProcess) -> None:
    """The lifecycles above sent user and connection passwords through Check, Create, Diff and
    Update; none of them shows on stderr with every logger at DEBUG."""
    stderr = provider.stderr()
    assert MARKER not in stderr


# ---- preview writes nothing ----------------------------------------------------------------


def test_a_preview_makes_no_write(engine: MiniEngine, dss: DSS, base: dict) -> None:
    tag = secrets.token_hex(3)
    n = {"name": f"pv-{tag}", "key": f"PV_{tag.upper()}", "group": base["group"], "project": base["project"]}
    existing = declared("group", f"group.pv-{tag}", {"name": f"pv-{tag}", "description": "before"})
    assert up(engine, existing).op == "create"
    mark = dss.mark()
    steps = [engine.preview(d.urn, d.inputs) for d in
             [declared(c.kind, f"new.{c.kind}.{tag}", c.create(n)) for c in CASES]]
    steps.append(engine.preview(existing.urn, declared("group", "x", {"name": f"pv-{tag}",
                                                                       "description": "after"}).inputs))
    assert [s.op for s in steps] == ["create"] * len(CASES) + ["update"]
    assert dss.writes_since(mark) == []
    assert dss.client.get_group(f"pv-{tag}")["description"] == "before"
    engine.destroy(existing.urn)


def test_the_program_module_docstring_example_runs() -> None:
    """The example in `platforge.pulumi.dataiku`'s docstring constructs (plain mocks)."""
    from .programs import PlainMocks

    doc = dataiku.__doc__ or ""
    example = textwrap.dedent(doc.split("\n\n", 1)[1].split("\n\nArguments", 1)[0])
    example = example.replace('pulumi.Config().require_secret("jdoePassword")', 'pulumi.Output.secret("pw")')
    run = run_program(lambda: exec(example, {"pulumi": pulumi}), PlainMocks())  # noqa: S102
    assert {r.name for r in run.registrations.values()} == {"data_team", "jdoe", "MARTS", "marts-data-team", "ci"}


# ---- TOML stacks and kinds through this door ------------------------------------------------


def test_a_toml_stack_declares_dataiku_classes_without_the_cli_only_field(tmp_path: Path) -> None:
    """`declare_stack` finds the Dataiku classes; `shown_once_to` (where the CLI writes a key's
    secret) is left out, since Pulumi keeps the secret as the `key` output."""
    from .programs import PlainMocks, stack_program

    (tmp_path / "main.toml").write_text(textwrap.dedent("""\
        [platform]
        type = "dataiku"
        endpoint = "http://127.0.0.1:1"

        [group.data_team]
        description = "Data team"

        [global_api_key.ci]
        groups = ["data_team"]
        shown_once_to = { file = ".secrets/ci-key" }
        """), encoding="utf-8")
    run = run_program(stack_program(tmp_path), PlainMocks())
    key = run.registrations["global_api_key.ci"]
    assert key.type == resource_type("global_api_key") and "key" in key.additional_secret_outputs
    assert "shown_once_to" not in key.inputs and key.inputs["label"] == "ci"
    assert run.registrations["group.data_team"].type == resource_type("group")


def test_project_variables_of_a_new_project_need_no_adopt(engine: MiniEngine, dss: DSS) -> None:
    key = "NEW_" + secrets.token_hex(3).upper()
    project = declared("project", f"project.{key}", {"key": key})
    variables = declared("project_variables", f"project_variables.{key}", {"project": key, "standard": {"a": "b"}})
    try:
        assert up(engine, project).op == "create"
        assert up(engine, variables).op == "create"
    finally:
        engine.destroy_all()
