"""The Studio classes through the Pulumi engine protocol: the real plugin process driven over
gRPC (MiniEngine / ProviderProcess) against one embedded Studio sandbox for the module.

Every kind: create, a rerun that is `same` (the provider's own diff says no change), an update
seen live (a group or schedule renamed keeps Studio's id, which is the Pulumi id), a replace
where the kind's field rules say (a member's user, a rule's resource or principal, a schedule's
pipeline), a refresh, an import with nothing but the id, a destroy (and a second delete that
finds nothing). A rule for no principal or for two is refused at check time before any request;
`pause_pipeline` is an update that sends exactly the schedule call; the token never reaches
plain state, the plugin's stderr (every logger at DEBUG) or the program directory. The CLI's
plan and the Pulumi steps agree on one stack, and applying it both ways leaves two sandboxes
alike."""

from __future__ import annotations

import base64
import json
import re
import secrets
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pulumi
import pytest
from platforge.provider import get_platform
from platforge.provider.sandbox import EmbeddedServer
from platforge.provider.studio.sandbox import SandboxConfig, create_app
from platforge.pulumi import studio
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
    ProviderProcess,
    dumps,
    reveal,
    serialize_like_sdk,
    summarize,
    urn_of,
)
from .programs import EngineMocks, PlainMocks, declared_from_stack, run_program

TEAM = "acme"
TOKEN_ENV = "DATACHAIN_STUDIO_TOKEN"
CLASSES = studio.RESOURCES
API = "/api/datachain"
#: POSTs that only read (the device login, which platforge never sends, changes nothing).
READ_POSTS = frozenset({"/api/device-login", "/api/token"})

# Every logger of the plugin at DEBUG, on its stderr (httpx, the client kit, the core): what the
# token must not reach even when someone turns logging all the way up.
DEBUG_LOGGING = "import logging\nlogging.basicConfig(level=logging.DEBUG)\n"


@dataclass
class Gate:
    """One Studio sandbox, its administrator's token, and plain HTTP to change it by hand."""

    url: str
    token: str
    access_log: str
    server: Any
    http: httpx.Client

    def log(self) -> list[dict[str, Any]]:
        with open(self.access_log, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def mark(self) -> int:
        return len(self.log())

    def requests_since(self, mark: int) -> list[tuple[str, str]]:
        return [(r["method"], str(r["path"]).split("?")[0]) for r in self.log()[mark:]]

    def writes_since(self, mark: int) -> list[tuple[str, str]]:
        """Requests that change something: not GETs, not the POSTs that only read."""
        return [(m, p) for m, p in self.requests_since(mark) if m != "GET" and p not in READ_POSTS]

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        if method == "GET":
            params.setdefault("team_name", TEAM)
        elif body is not None or method == "POST":
            body = {**(body or {}), "team_name": TEAM}
        response = self.http.request(method, path, json=body, params=params or None)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def add_user(self, username: str, email: str) -> int:
        return int(self.call("POST", "/sandbox/users", {"username": username, "email": email})["user_id"])

    def new_group(self, name: str) -> str:
        return str(self.call("POST", "/datachain/rbac/access-groups/", {"name": name})["id"])

    def add_member(self, gid: str, uid: int, role: str = "read") -> None:
        self.call("POST", f"/datachain/rbac/access-groups/{gid}/members/", {"user_id": uid, "role": role})

    def changes_since(self, mark: int) -> list[tuple[str, str]]:
        """Writes Studio carried out (a 2xx answer): a delete of what is gone changes nothing."""
        return [(r["method"], str(r["path"]).split("?")[0]) for r in self.log()[mark:]
                if r["method"] != "GET" and str(r["path"]).split("?")[0] not in READ_POSTS and r["status"] < 300]

    def pipeline(self) -> str:
        """A new pipeline definition (a generated name), as `datachain pipeline create` makes one."""
        answer = self.call("POST", "/datachain/pipeline/trigger", {"datasets": ["@alice.proj.ds"], "review": True})
        return str(answer["pipeline"]["name"])

    def groups(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/datachain/rbac/access-groups/"))

    def group_by_name(self, name: str) -> dict[str, Any]:
        (group,) = [g for g in self.groups() if g["name"] == name]
        return dict(group)

    def members(self, gid: str) -> dict[str, str]:
        return {m["email"]: m["role"] for m in self.call("GET", f"/datachain/rbac/access-groups/{gid}/members/")}

    def rules(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/datachain/rbac/access-rules/"))

    def schedules(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/datachain/pipeline/schedules"))

    def schedule(self, schedule_id: Any) -> dict[str, Any]:
        return dict(self.call("GET", "/datachain/pipeline/schedule", schedule_id=schedule_id))

    def pipeline_status(self, name: str) -> str:
        return str(self.call("GET", "/datachain/pipeline/status", name=name)["status"])

    def stop(self) -> None:
        self.http.close()
        self.server.stop()


def start_gate(directory: Path) -> Gate:
    directory.mkdir(parents=True, exist_ok=True)
    token = "isat_" + secrets.token_urlsafe(32)
    config = SandboxConfig(db_path=str(directory / "studio.db"), token=token, team=TEAM,
                           access_log=str(directory / "access.jsonl"))
    server = EmbeddedServer(create_app(config)).start()
    http = httpx.Client(base_url=f"{server.url}/api", headers={"Authorization": f"token {token}"})
    return Gate(server.url, token, config.access_log, server, http)


@dataclass
class Base:
    """What the kinds refer to, made directly in Studio: users in a group (the only way Studio
    shows a user's e-mail), a group, two pipeline definitions."""

    group: str
    group_id: str
    users: list[str]
    pipelines: list[str]


def seed(g: Gate, tag: str) -> Base:
    everyone = g.new_group(f"everyone-{tag}")
    users = [f"{who}-{tag}@example.com" for who in ("alice", "bob", "carol")]
    for email in users:
        g.add_member(everyone, g.add_user(email.split("@")[0], email))
    group = f"base-{tag}"
    return Base(group, g.new_group(group), users, [g.pipeline(), g.pipeline()])


@pytest.fixture(scope="module")
def gate(tmp_path_factory) -> Iterator[Gate]:
    box = start_gate(tmp_path_factory.mktemp("studio"))
    yield box
    box.stop()


@pytest.fixture(scope="module")
def base(gate: Gate) -> Base:
    return seed(gate, secrets.token_hex(3))


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory) -> Path:
    """The plugin's cwd: an empty program directory, so anything platforge wrote there would show."""
    return tmp_path_factory.mktemp("program")


def pulumi_config(box: Gate) -> tuple[dict[str, str], set[str]]:
    """The stack config `pulumi config set` would produce, and which keys are secret."""
    return ({"platforge:endpoint": box.url, "platforge:team": TEAM, "platforge:token": box.token,
             "aws:region": "unrelated-namespace"}, {"platforge:token"})


@pytest.fixture(scope="module")
def provider(gate: Gate, program_dir: Path, tmp_path_factory) -> Iterator[ProviderProcess]:
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(DEBUG_LOGGING, encoding="utf-8")
    process = ProviderProcess(program_dir, project=PROJECT, env={"PYTHONPATH": str(site), TOKEN_ENV: None})
    process.configure(*pulumi_config(gate))
    yield process
    process.close()


@pytest.fixture
def engine(provider: ProviderProcess) -> MiniEngine:
    return MiniEngine(provider)


def resource_type(kind: str) -> str:
    return f"pulumi-python:{CLASSES[kind]._resource_type_name}"


_BLOBS: dict[str, str] = {}


def provider_blob(kind: str) -> str:
    if kind not in _BLOBS:
        _BLOBS[kind] = serialize_like_sdk(provider_for("studio", kind))
    return _BLOBS[kind]


def declared(kind: str, name: str, props: dict[str, Any]) -> Declared:
    """The registration `platforge.pulumi.studio.<Class>(name, **props)` makes (no Studio kind
    has a secret field; checked by `test_the_classes_register_what_the_tests_assume`)."""
    inputs = {k: v for k, v in props.items() if v is not None}
    inputs[PROVIDER_KEY] = provider_blob(kind)
    return Declared(urn_of(name, project=PROJECT, type_=resource_type(kind)), inputs,
                    aliases=(urn_of(name, project=PROJECT, type_=DYNAMIC_TYPE),))


def configured(provider: ProviderProcess) -> None:
    """The plugin loads and configures the rule kind's provider at its first call (which proves
    the token with one listing): done before a test counts requests."""
    valid = {"resource_type": "namespace", "resource_id": "dev", "permission": "read", "group": "g"}
    assert provider.check(urn_of("warm-up"), {}, declared("access_rule", "w", valid).inputs).failures == []


def up(engine: MiniEngine, d: Declared):
    return engine.up(d.urn, d.inputs, additional_secret_outputs=d.additional_secret_outputs, aliases=d.aliases)


# ---- what Studio holds, per kind (None: gone) ------------------------------------------------


def as_id(value: Any) -> str:
    """An id as text: a schedule's integer id comes back from the engine as a float (a protobuf
    number)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _group(g: Gate, outs: dict) -> Any:
    found = next((x for x in g.groups() if str(x["id"]) == as_id(outs["platform_id"])), None)
    return found and (found["name"], found.get("description") or "")


def _member(g: Gate, outs: dict) -> Any:
    gid = next((str(x["id"]) for x in g.groups() if x["name"] == outs["group"]), None)
    return gid and g.members(gid).get(outs["user"])


def _rule(g: Gate, outs: dict) -> Any:
    found = next((r for r in g.rules() if str(r["id"]) == as_id(outs["platform_id"])), None)
    if found is None:
        return None
    principal = f"user:{found['user_email']}" if found.get("user_id") else f"group:{found['group_name']}"
    return found["resource_type"], found.get("resource_name"), found["permission"], principal


def _schedule(g: Gate, outs: dict) -> Any:
    found = next((s for s in g.schedules() if str(s["id"]) == as_id(outs["platform_id"])), None)
    return found and (found["schedule_name"], found["cron_expression"])


@dataclass
class Case:
    kind: str
    create: Callable[[dict], dict]
    update: Callable[[dict], dict]
    live: Callable[[Gate, dict], Any]
    created: Callable[[dict], Any]
    updated: Callable[[dict], Any]


CASES = [
    Case("access_group",
         create=lambda n: {"name": n["name"], "description": "first"},
         update=lambda n: {"name": n["name"] + "-v2", "description": "second"},
         live=_group, created=lambda n: (n["name"], "first"), updated=lambda n: (n["name"] + "-v2", "second")),
    Case("access_group_member",
         create=lambda n: {"group": n["group"], "user": n["alice"], "role": "read"},
         update=lambda n: {"group": n["group"], "user": n["alice"], "role": "write"},
         live=_member, created=lambda n: "read", updated=lambda n: "write"),
    Case("access_rule",
         create=lambda n: {"resource_type": "namespace", "resource_id": n["name"], "permission": "read",
                           "group": n["group"]},
         update=lambda n: {"resource_type": "namespace", "resource_id": n["name"], "permission": "write",
                           "group": n["group"]},
         live=_rule, created=lambda n: ("namespace", n["name"], "read", f"group:{n['group']}"),
         updated=lambda n: ("namespace", n["name"], "write", f"group:{n['group']}")),
    Case("pipeline_schedule",
         create=lambda n: {"schedule_name": n["name"], "pipeline": n["pipeline"], "cron_expression": "0 0 * * *",
                           "start_after": "2026-01-01T00:00:00Z"},
         update=lambda n: {"schedule_name": n["name"] + "-v2", "pipeline": n["pipeline"],
                           "cron_expression": "0 3 * * *", "start_after": "2026-01-01T00:00:00Z"},
         live=_schedule, created=lambda n: (n["name"], "0 0 * * *"), updated=lambda n: (n["name"] + "-v2", "0 3 * * *")),
]


def names(base: Base, tag: str, kind: str) -> dict[str, str]:
    return {"name": f"{kind.replace('_', '-')}-{tag}", "group": base.group, "alice": base.users[0],
            "bob": base.users[1], "pipeline": base.pipelines[0], "other_pipeline": base.pipelines[1]}


def test_every_kind_has_a_lifecycle_case() -> None:
    assert {c.kind for c in CASES} == set(get_platform("studio").kinds) == set(CLASSES)


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_lifecycle(case: Case, engine: MiniEngine, provider: ProviderProcess, gate: Gate, base: Base) -> None:
    """Create, rerun, update, refresh, import and destroy, each seen in Studio itself."""
    n = names(base, secrets.token_hex(3), case.kind)
    d = declared(case.kind, f"{case.kind}.{n['name']}", case.create(n))

    created = up(engine, d)
    assert created.op == "create"
    outs = reveal(created.outputs)
    assert case.live(gate, outs) == case.created(n)
    if get_platform("studio").kinds[case.kind].identified_by_id:  # Studio's id, which a rename keeps
        assert created.id == as_id(outs["platform_id"])
    else:
        assert created.id == f"{n['group']}/{n['alice']}"

    again = up(engine, d)  # the program unchanged: the provider's own diff finds nothing to do
    assert again.op == "same" and again.diff.changes == "none", again.diff

    d2 = declared(case.kind, d.urn.rsplit("::", 1)[-1], case.update(n))
    mark = gate.mark()
    updated = up(engine, d2)
    assert updated.op == "update" and updated.diff.replaces == [], updated.diff
    assert updated.id == created.id
    assert gate.writes_since(mark) and all(m in ("PATCH", "POST") for m, _ in gate.writes_since(mark))
    outs = reveal(updated.outputs)
    assert outs["platform_id"] == reveal(created.outputs)["platform_id"]
    assert case.live(gate, outs) == case.updated(n)
    mark = gate.mark()
    assert up(engine, d2).op == "same"
    assert gate.writes_since(mark) == []

    refreshed = engine.refresh(d2.urn)  # nothing changed behind Pulumi's back
    assert refreshed.op == "refresh-same" and refreshed.id == created.id, refreshed
    assert up(engine, d2).op == "same"

    # Import by id: a Read that carries nothing but the id and the provider (no old outputs).
    state = engine.state[d2.urn]
    imported = provider.read(state.id, d2.urn, {}, {PROVIDER_KEY: provider_blob(case.kind)})
    assert imported.id == state.id
    for field_name in reveal(d2.inputs):
        if field_name not in (PROVIDER_KEY, *CONTROL_INPUTS):
            assert field_name in imported.inputs, field_name
    checked = provider.check(d2.urn, imported.inputs, d2.inputs)
    assert checked.failures == []
    diff = provider.diff(state.id, d2.urn, imported.outputs, checked.inputs, imported.inputs)
    assert diff.changes == "none", diff

    deleted = engine.destroy(d2.urn)
    assert deleted.op == "delete"
    assert case.live(gate, outs) is None
    mark = gate.mark()
    provider.delete(state.id, d2.urn, state.outputs, state.inputs)  # already gone: still a success
    assert [w for w in gate.changes_since(mark)] == []  # nothing there: nothing changed


# ---- replaces, where the field rules say ----------------------------------------------------


def test_a_member_whose_user_or_group_changes_is_replaced(engine: MiniEngine, gate: Gate, base: Base) -> None:
    """The pair (group, user) is the member: a new user, or a new group, is another member; the
    role alone changes in place (the lifecycle shows that)."""
    tag = secrets.token_hex(3)
    other = f"other-{tag}"
    other_id = gate.new_group(other)
    alice, bob = base.users[:2]
    d = declared("access_group_member", f"access_group_member.m-{tag}", {"group": base.group, "user": alice,
                                                                          "role": "write"})
    assert up(engine, d).op == "create"
    to_bob = declared("access_group_member", f"access_group_member.m-{tag}", {"group": base.group, "user": bob,
                                                                               "role": "write"})
    assert engine.preview(to_bob.urn, to_bob.inputs).op == "replace"
    step = up(engine, to_bob)
    assert step.op == "replace" and step.diff.replaces == ["user"] and step.id == f"{base.group}/{bob}"
    assert {alice, bob} & set(gate.members(base.group_id)) == {bob}
    assert gate.members(base.group_id)[bob] == "write"
    assert up(engine, to_bob).op == "same"

    moved = declared("access_group_member", f"access_group_member.m-{tag}", {"group": other, "user": bob,
                                                                              "role": "write"})
    step = up(engine, moved)
    assert step.op == "replace" and step.diff.replaces == ["group"] and step.id == f"{other}/{bob}"
    assert bob not in gate.members(base.group_id) and gate.members(other_id) == {bob: "write"}
    assert engine.refresh(moved.urn).op == "refresh-same"
    engine.destroy(moved.urn)
    assert gate.members(other_id) == {}


def test_a_rule_whose_resource_or_principal_changes_is_replaced(engine: MiniEngine, gate: Gate, base: Base) -> None:
    """What a rule grants on what to whom is the rule: a new resource or principal deletes the
    old rule and creates another (a new Studio id, so a new Pulumi id); only the permission
    changes in place."""
    tag = secrets.token_hex(3)
    alice = base.users[0]
    props = {"resource_type": "namespace", "resource_id": f"dev-{tag}", "permission": "read", "group": base.group}
    d = declared("access_rule", f"access_rule.r-{tag}", props)
    first = up(engine, d)
    assert first.op == "create"

    elsewhere = declared("access_rule", f"access_rule.r-{tag}", {**props, "resource_id": f"prod-{tag}"})
    preview = engine.preview(elsewhere.urn, elsewhere.inputs)
    assert preview.op == "replace" and preview.diff.replaces == ["resource_id"]
    mark = gate.mark()
    second = up(engine, elsewhere)
    assert second.op == "replace" and second.delete_before_replace and second.id != first.id
    assert gate.changes_since(mark) == [("DELETE", f"{API}/rbac/access-rules/{first.id}/"),
                                        ("POST", f"{API}/rbac/access-rules/")]
    assert _rule(gate, {"platform_id": first.id}) is None
    assert _rule(gate, reveal(second.outputs)) == ("namespace", f"prod-{tag}", "read", f"group:{base.group}")
    assert up(engine, elsewhere).op == "same"

    to_alice = declared("access_rule", f"access_rule.r-{tag}", {**props, "resource_id": f"prod-{tag}",
                                                                "group": None, "user": alice})
    third = up(engine, to_alice)
    assert third.op == "replace" and "user" in third.diff.replaces and third.id != second.id
    assert _rule(gate, {"platform_id": second.id}) is None
    assert _rule(gate, reveal(third.outputs)) == ("namespace", f"prod-{tag}", "read", f"user:{alice}")
    assert up(engine, to_alice).op == "same" and engine.refresh(to_alice.urn).op == "refresh-same"

    unknown = declared("access_rule", "x", {**props, "resource_id": UNKNOWN, "group": None, "user": alice})
    assert engine.preview(to_alice.urn, unknown.inputs).diff.replaces == ["resource_id"]  # may be another
    engine.destroy(to_alice.urn)
    assert _rule(gate, {"platform_id": third.id}) is None


def test_a_schedule_whose_pipeline_changes_is_replaced(engine: MiniEngine, gate: Gate, base: Base) -> None:
    """`update-schedule` takes no pipeline: another pipeline is another schedule."""
    tag = secrets.token_hex(3)
    props = {"schedule_name": f"s-{tag}", "pipeline": base.pipelines[0], "cron_expression": "0 1 * * *"}
    d = declared("pipeline_schedule", f"pipeline_schedule.s-{tag}", props)
    first = up(engine, d)
    assert first.op == "create"
    moved = declared("pipeline_schedule", f"pipeline_schedule.s-{tag}", {**props, "pipeline": base.pipelines[1]})
    second = up(engine, moved)
    assert second.op == "replace" and second.diff.replaces == ["pipeline"] and second.id != first.id
    assert [s["id"] for s in gate.schedules() if s["schedule_name"] == f"s-{tag}"] == [int(second.id)]
    assert gate.schedule(int(second.id))["pipeline"]["name"] == base.pipelines[1]
    assert up(engine, moved).op == "same"
    engine.destroy(moved.urn)
    assert _schedule(gate, reveal(second.outputs)) is None


def test_a_refresh_sees_changes_made_in_studio_and_the_next_up_puts_them_back(engine: MiniEngine, gate: Gate,
                                                                              base: Base) -> None:
    tag = secrets.token_hex(3)
    d = declared("access_rule", f"access_rule.drift-{tag}", {"resource_type": "namespace",
                                                              "resource_id": f"drift-{tag}", "permission": "read",
                                                              "group": base.group})
    rule_id = up(engine, d).id
    gate.call("PATCH", f"/datachain/rbac/access-rules/{rule_id}/", {"permission": "admin"})
    refreshed = engine.refresh(d.urn)
    assert refreshed.op == "refresh-update" and reveal(refreshed.outputs)["permission"] == "admin"
    step = up(engine, d)
    assert step.op == "update" and step.id == rule_id
    assert _rule(gate, {"platform_id": rule_id})[2] == "read"
    assert engine.refresh(d.urn).op == "refresh-same"
    gate.call("DELETE", f"/datachain/rbac/access-rules/{rule_id}/")
    gone = engine.refresh(d.urn)
    assert gone.op == "refresh-delete" and d.urn not in engine.state


# ---- exactly one principal ---------------------------------------------------------------------


@pytest.mark.parametrize("principal", [{"user": "alice@example.com", "group": "ops"}, {}], ids=["both", "none"])
def test_a_rule_without_exactly_one_principal_is_refused_at_check_before_any_request(
        principal: dict, provider: ProviderProcess, engine: MiniEngine, gate: Gate) -> None:
    props = {"resource_type": "namespace", "resource_id": "dev", "permission": "read", **principal}
    with pytest.raises(ValueError, match="exactly one principal"):
        studio.AccessRule("bad", **props)
    d = declared("access_rule", "access_rule.bad", props)
    configured(provider)
    mark = gate.mark()
    result = provider.check(d.urn, {}, d.inputs)
    assert result.failures and all("exactly one principal" in why for _, why in result.failures), result.failures
    with pytest.raises(CheckFailed):
        up(engine, d)
    assert gate.requests_since(mark) == [] and d.urn not in engine.state


# ---- pause_pipeline: desired state, written, never read back ----------------------------------


def test_pause_pipeline_toggled_through_pulumi_is_an_update_that_sends_only_the_schedule_call(
        engine: MiniEngine, gate: Gate) -> None:
    """Studio never shows `pause_pipeline` (its pipeline's status is the pipeline's own): a
    changed declaration is an update that sends exactly `update-schedule`; a rerun and a
    refresh see nothing to do, even when the pipeline was resumed by hand."""
    pipeline = gate.pipeline()
    name = "nightly-" + secrets.token_hex(3)

    def program(paused: bool) -> Callable[[], None]:
        def body() -> None:
            studio.PipelineSchedule(name, pipeline=pipeline, cron_expression="0 0 * * *",
                                    start_after="2026-01-01T00:00:00Z", pause_pipeline=paused)
        return body

    first = EngineMocks(engine)
    run_program(program(True), first)
    assert [s.op for s in first.steps] == ["create"]
    assert gate.pipeline_status(pipeline) == "PAUSED"

    mark = gate.mark()
    resumed = EngineMocks(engine)
    run_program(program(False), resumed)
    [step] = resumed.steps
    assert step.op == "update" and step.diff.replaces == []
    assert gate.writes_since(mark) == [("POST", f"{API}/pipeline/update-schedule")]
    assert gate.pipeline_status(pipeline) == "RUNNING"

    mark = gate.mark()
    rerun = EngineMocks(engine)
    run_program(program(False), rerun)
    assert [s.op for s in rerun.steps] == ["same"] and gate.writes_since(mark) == []
    gate.call("POST", "/datachain/pipeline/pause", {"name": pipeline})  # by hand: nobody can see it
    assert engine.refresh(step.urn).op == "refresh-same"
    assert reveal(engine.state[step.urn].outputs)["pause_pipeline"] is False
    engine.destroy(step.urn)


# ---- the token ------------------------------------------------------------------------------


def test_the_classes_register_what_the_tests_assume() -> None:
    """Each class's type and inputs; no Studio kind has a secret field, so nothing is declared
    secret, and the stack-only `principal` is no input."""

    def program() -> None:
        group = studio.AccessGroup("ops", description="d")
        studio.AccessGroupMember("ops-alice", group=group.name, user="Alice@Example.com")
        studio.AccessRule("ops-dev", resource_type="namespace", resource_id="dev", permission="read",
                          group=group.name)
        studio.PipelineSchedule("nightly", pipeline="p", cron_expression="@daily")

    regs = run_program(program, PlainMocks()).registrations
    assert {n: r.type for n, r in regs.items()} == {
        "ops": resource_type("access_group"), "ops-alice": resource_type("access_group_member"),
        "ops-dev": resource_type("access_rule"), "nightly": resource_type("pipeline_schedule")}
    assert all(r.additional_secret_outputs == [] for r in regs.values())
    assert regs["ops"].inputs["name"] == "ops" and regs["nightly"].inputs["schedule_name"] == "nightly"
    assert "principal" not in regs["ops-dev"].inputs
    assert {r.type for r in regs.values()} == {f"pulumi-python:dynamic/studio:{c.__name__}" for c in CLASSES.values()}


def test_the_token_stays_out_of_plain_state_logs_and_files(engine: MiniEngine, provider: ProviderProcess,
                                                           gate: Gate, base: Base, program_dir: Path) -> None:
    tag = secrets.token_hex(3)

    def program() -> None:
        group = studio.AccessGroup(f"tok-{tag}")
        studio.AccessGroupMember(f"tok-alice-{tag}", group=group.name, user=base.users[0], role="read")
        studio.AccessRule(f"tok-rule-{tag}", resource_type="namespace", resource_id=f"tok-{tag}",
                          permission="read", user=base.users[1])
        studio.PipelineSchedule(f"tok-{tag}", pipeline=base.pipelines[1], cron_expression="@daily",
                                pause_pipeline=False)

    run = EngineMocks(engine)
    run_program(program, run)
    assert [s.op for s in run.steps] == ["create"] * 4
    assert provider.configure_response["acceptSecrets"] is False  # the engine strips secrets before any call
    assert gate.token not in dumps({urn: (s.inputs, s.outputs) for urn, s in engine.state.items()})
    for state in engine.state.values():
        assert gate.token not in base64.b64decode(state.inputs[PROVIDER_KEY]).decode("latin-1")
    for urn in list(engine.state):
        assert engine.refresh(urn).op == "refresh-same"
    engine.destroy_all()
    stderr = provider.stderr()
    # The logging really was on, requests included (the kit's line per request: method, path, status).
    assert re.search(r"DEBUG:platforge\.transport:(GET|POST|PUT|DELETE) /\S* -> \d{3} ", stderr)
    assert gate.token not in stderr
    assert not any(p.is_file() and gate.token in p.read_text(errors="replace") for p in program_dir.rglob("*"))


def test_the_program_module_docstring_example_runs() -> None:
    doc = studio.__doc__ or ""
    example = textwrap.dedent(doc.split("\n\n", 1)[1].split("\n\nArguments", 1)[0])
    run = run_program(lambda: exec(example, {"pulumi": pulumi, "studio": studio}), PlainMocks())  # noqa: S102
    assert {r.name for r in run.registrations.values()} == {"production-team", "prod-alice", "prod-writes-dev",
                                                            "bob-reads-dev", "nightly"}


def test_a_rule_for_a_principal_not_known_yet_passes_check(provider: ProviderProcess, engine: MiniEngine,
                                                           gate: Gate) -> None:
    """A preview of a rule for a group made in the same program: the group's name is unknown,
    which is no breach of the exactly-one rule (a rule for that group and a user still is)."""
    props = {"resource_type": "namespace", "resource_id": "dev", "permission": "read", "group": UNKNOWN}
    d = declared("access_rule", "access_rule.pending", props)
    configured(provider)
    mark = gate.mark()
    assert engine.preview(d.urn, d.inputs).op == "create"
    both = declared("access_rule", "access_rule.pending", {**props, "user": "alice@example.com"})
    assert [p for p, _ in provider.check(both.urn, {}, both.inputs).failures] == [""]
    assert gate.requests_since(mark) == []


# ---- the same stack through both front doors ---------------------------------------------------

PARITY_V1 = """
[access_group.prod-{tag}]
description = "v1"

[access_group_member.prod-alice]
group = "prod-{tag}"
user = "alice-{tag}@example.com"
role = "read"

[access_group_member.prod-bob]
group = "prod-{tag}"
user = "bob-{tag}@example.com"
role = "read"

[access_rule.prod-writes-dev]
resource_type = "namespace"
resource_id = "dev-{tag}"
permission = "read"
group = "prod-{tag}"

[access_rule.bob-reads-dev]
resource_type = "namespace"
resource_id = "dev-{tag}"
permission = "read"
user = "bob-{tag}@example.com"

[access_rule.alice-reads-ops]
resource_type = "namespace"
resource_id = "ops-{tag}"
permission = "read"
user = "alice-{tag}@example.com"

[pipeline_schedule.nightly-{tag}]
pipeline = "{pipeline}"
cron_expression = "0 0 * * *"
start_after = 2026-01-01T00:00:00Z
pause_pipeline = true
"""

# v2: create access_group.ops; update the group (description), a rule (permission) and the
# schedule (pause_pipeline); replace a member (its user) and a rule (its principal); delete a
# rule; the alice member unchanged.
PARITY_V2 = (PARITY_V1
             .replace('description = "v1"', 'description = "v2"')
             .replace('user = "bob-{tag}@example.com"\nrole = "read"', 'user = "carol-{tag}@example.com"\nrole = "read"')
             .replace('permission = "read"\ngroup = "prod-{tag}"', 'permission = "write"\ngroup = "prod-{tag}"')
             .replace('permission = "read"\nuser = "bob-{tag}@example.com"',
                      'permission = "read"\nuser = "carol-{tag}@example.com"')
             .replace('\n[access_rule.alice-reads-ops]\nresource_type = "namespace"\nresource_id = "ops-{tag}"\n'
                      'permission = "read"\nuser = "alice-{tag}@example.com"\n', "")
             .replace("pause_pipeline = true", "pause_pipeline = false")
             + '\n[access_group.ops-{tag}]\ndescription = "new"\n')
PARITY_CHANGES = {"create": ["access_group.ops-{tag}"],
                  "update": ["access_group.prod-{tag}", "access_rule.prod-writes-dev", "pipeline_schedule.nightly-{tag}"],
                  "replace": ["access_group_member.prod-bob", "access_rule.bob-reads-dev"],
                  "delete": ["access_rule.alice-reads-ops"]}
OPS = ("create", "update", "replace", "delete")


def write_stack(directory: Path, body: str, box: Gate, tag: str, pipeline: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    header = f'[platform]\ntype = "studio"\nendpoint = "{box.url}"\nteam = "{TEAM}"\n'
    (directory / "main.toml").write_text(header + body.format(tag=tag, pipeline=pipeline), encoding="utf-8")
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


def _snapshot(box: Gate, tag: str, pipeline: str) -> dict[str, Any]:
    """What the stack manages, by name (ids and the generated pipeline name differ between
    sandboxes)."""
    groups = {g["name"]: g for g in box.groups() if g["name"].endswith(tag) and not g["name"].startswith("everyone")}
    return {
        "groups": sorted((name, g.get("description")) for name, g in groups.items()),
        "members": {name: box.members(str(g["id"])) for name, g in groups.items()},
        "rules": sorted((r["resource_type"], r.get("resource_name"), r["permission"], r.get("user_email") or "",
                         r.get("group_name") or "") for r in box.rules() if str(r.get("resource_name", "")).endswith(tag)),
        "schedules": sorted((s["schedule_name"], s["cron_expression"], s.get("start_after"))
                            for s in box.schedules() if s["schedule_name"].endswith(tag)),
        "paused": box.pipeline_status(pipeline),
    }


def test_cli_plan_and_pulumi_steps_agree(gate: Gate, provider: ProviderProcess, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`platforge plan --json --prune` (CLI, its own sandbox) and the Pulumi step plan (what
    `declare_stack` registers, through the real plugin, this module's sandbox) agree on what is
    created, updated, replaced and deleted, and applying both leaves the two sandboxes alike."""
    tag = secrets.token_hex(3)
    cli_box = start_gate(tmp_path / "cli-gate")
    try:
        monkeypatch.setenv(TOKEN_ENV, cli_box.token)
        monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
        monkeypatch.chdir(tmp_path)
        pipelines = {box.url: seed(box, tag).pipelines[0] for box in (cli_box, gate)}
        engine = MiniEngine(provider)
        cli_dir, pulumi_dir = tmp_path / "cli", tmp_path / "pulumi"

        write_stack(cli_dir, PARITY_V1, cli_box, tag, pipelines[cli_box.url])
        write_stack(pulumi_dir, PARITY_V1, gate, tag, pipelines[gate.url])
        cli_plan = _cli_plan(cli_dir)
        pulumi_plan = _pulumi_plan(engine.preview_program(declared_from_stack(pulumi_dir)))
        assert cli_plan == pulumi_plan and len(cli_plan["create"]) == 7
        code, out, err = _cli("apply", cli_dir, "--yes")
        assert code == 0, out + err
        assert _pulumi_plan(engine.up_program(declared_from_stack(pulumi_dir))) == pulumi_plan
        assert _snapshot(cli_box, tag, pipelines[cli_box.url]) == _snapshot(gate, tag, pipelines[gate.url])
        assert _cli_plan(cli_dir) == {op: [] for op in OPS}
        assert {s.op for s in engine.preview_program(declared_from_stack(pulumi_dir))} == {"same"}

        write_stack(cli_dir, PARITY_V2, cli_box, tag, pipelines[cli_box.url])
        write_stack(pulumi_dir, PARITY_V2, gate, tag, pipelines[gate.url])
        cli_plan = _cli_plan(cli_dir)
        pulumi_plan = _pulumi_plan(engine.preview_program(declared_from_stack(pulumi_dir)))
        assert cli_plan == pulumi_plan
        assert cli_plan == {op: sorted(a.format(tag=tag) for a in PARITY_CHANGES.get(op, [])) for op in OPS}

        code, out, err = _cli("apply", cli_dir, "--yes", "--prune")
        assert code == 0, out + err
        assert _pulumi_plan(engine.up_program(declared_from_stack(pulumi_dir))) == pulumi_plan
        live_cli = _snapshot(cli_box, tag, pipelines[cli_box.url])
        live_pulumi = _snapshot(gate, tag, pipelines[gate.url])
        assert live_cli == live_pulumi
        assert live_pulumi["members"][f"prod-{tag}"] == {f"alice-{tag}@example.com": "read",
                                                         f"carol-{tag}@example.com": "read"}
        assert live_pulumi["paused"] == "RUNNING" and (f"ops-{tag}", "new") in live_pulumi["groups"]
        assert _cli_plan(cli_dir) == {op: [] for op in OPS}
        assert {s.op for s in engine.preview_program(declared_from_stack(pulumi_dir))} == {"same"}
        engine.destroy_all()
        assert _snapshot(gate, tag, pipelines[gate.url])["rules"] == []
    finally:
        cli_box.stop()


def test_a_rule_naming_its_resource_by_number_stays_in_step(engine: MiniEngine, gate: Gate, base: Base) -> None:
    """Studio answers a rule's resource by number, UUID and name; the CLI shows it in the form
    the stack declares it. Through Pulumi (one object at a time) the platform's settings come
    from the object in hand, so a rule declared by the resource's number is `same` on a rerun
    and on a refresh, never a replace of itself."""
    tag = secrets.token_hex(3)
    by_name = declared("access_rule", f"access_rule.n-{tag}", {
        "resource_type": "namespace", "resource_id": f"num-{tag}", "permission": "read", "group": base.group})
    assert up(engine, by_name).op == "create"
    (row,) = [r for r in gate.rules() if r.get("resource_name") == f"num-{tag}"]
    number = str(row["resource_id"])
    assert number.isdigit()
    by_number = declared("access_rule", f"access_rule.k-{tag}", {
        "resource_type": "namespace", "resource_id": number, "permission": "read", "user": base.users[1]})
    created = up(engine, by_number)
    assert created.op == "create"
    assert up(engine, by_number).op == "same"
    refreshed = engine.refresh(by_number.urn)
    assert refreshed.op == "refresh-same", refreshed
    assert reveal(engine.state[by_number.urn].outputs)["resource_id"] == number
    engine.destroy(by_number.urn)
    engine.destroy(by_name.urn)
