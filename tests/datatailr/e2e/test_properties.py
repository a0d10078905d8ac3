"""Property-based tests over generated stacks and sandbox states (hypothesis):

- after an apply, the plan is empty;
- permuting every list (and the order of tables) does not change the plan;
- a second apply makes zero write requests, counted in the sandbox's access log.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from unittest import mock

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platforge.provider import get_platform
from platforge.provider._kit.sandbox.serve import EmbeddedServer
from platforge.provider.datatailr.sandbox.app import create_app
from platforge.provider.datatailr.sandbox.config import SandboxConfig

from platforge.core.engine import Engine, make_backend
from platforge.core.stack import load_stack

GROUPS = ["analysts", "engineers", "finance", "ops"]
USERS = ["alice", "bob", "carol", "dave", "erin"]
KEYS = ["db/url", "flags", "region", "team/name"]
ENVS = ["dev", "prod"]
PERMS = ["read", "write", "operate"]

text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 -_/:.", min_size=1, max_size=12)


@st.composite
def stacks(draw):
    groups = draw(st.lists(st.sampled_from(GROUPS), unique=True, max_size=3))
    users = draw(st.lists(st.sampled_from(USERS), unique=True, max_size=4))
    decl: list[tuple[str, str, dict]] = []
    member_groups = set()
    for g in groups:
        body: dict = {}
        if users and draw(st.booleans()) and len(member_groups) < 1:
            body["members"] = draw(st.lists(st.sampled_from(users), unique=True, max_size=3))
            member_groups.add(g)
        decl.append(("group", g, body))
    for u in users:
        body = {"email": f"{u}@example.com"}
        if draw(st.booleans()):
            body["first_name"] = draw(text)
        free = [g for g in groups if g not in member_groups]
        if draw(st.booleans()):
            body["groups"] = draw(st.lists(st.sampled_from(free), unique=True)) if free else []
        decl.append(("user", u, body))
    principals = {"users": users, "groups": groups}
    for i, key in enumerate(draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3))):
        env = draw(st.sampled_from(ENVS))
        body = {"key": key, "environment": env, "value": draw(text)}
        if (users or groups) and draw(st.booleans()):
            acl = {}
            for perm in draw(st.lists(st.sampled_from(PERMS), unique=True, min_size=1, max_size=2)):
                entry = {}
                for kind in ("users", "groups"):
                    if principals[kind]:
                        entry[kind] = draw(st.lists(st.sampled_from(principals[kind]), unique=True, max_size=2))
                acl[perm] = entry
            body["acl"] = acl
        decl.append(("kv", f"kv{i}", body))
    for i in range(draw(st.integers(min_value=0, max_value=2))):
        decl.append(("secret", f"s{i}", {"key": f"secret/{i}", "environment": draw(st.sampled_from(ENVS)),
                                         "value": {"from_env": f"PROP_SECRET_{i}"}}))
    preexisting = draw(st.lists(st.sampled_from(["group:" + g for g in GROUPS] + ["kv:other"]), unique=True, max_size=2))
    return decl, preexisting


def toml_value(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def render(decl, permute=None) -> str:
    lines = []
    items = list(decl)
    if permute is not None:
        items = permute(items)
    for kind, name, body in items:
        lines.append(f'[{kind}."{name}"]')
        for key, value in body.items():
            if permute is not None and isinstance(value, list):
                value = permute(list(value))
            if permute is not None and key == "acl":
                value = {p: {k: permute(list(v)) for k, v in e.items()} for p, e in value.items()}
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


class Box:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="platforge-prop-"))
        self.password = secrets.token_urlsafe(10)
        self.log = self.dir / "access.jsonl"
        app = create_app(SandboxConfig(db_path=":memory:", admin_password=self.password, access_log=str(self.log)))
        self.server = EmbeddedServer(app).start()

    def engine(self, body: str, name: str) -> Engine:
        stack_dir = self.dir / name
        stack_dir.mkdir(exist_ok=True)
        header = f'[platform]\ntype = "datatailr"\nendpoint = "{self.server.url}"\n[state]\npath = "{self.dir}/state.json"\n'
        (stack_dir / "main.toml").write_text(header + body)
        stack, platform = load_stack(stack_dir, get_platform)
        client = platform.connect(stack.platform_config)
        return Engine(stack, platform, client, make_backend(stack, platform, client))

    def writes(self) -> list[dict]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [r for r in lines if r["method"] != "GET" and r["path"] != "/login"]

    def seed(self, preexisting) -> None:
        with httpx.Client(base_url=self.server.url) as http:
            http.post("/login", auth=("admin", self.password)).raise_for_status()
            for item in preexisting:
                kind, name = item.split(":")
                if kind == "group":
                    http.post("/api/group/add", json={"group_name": name}).raise_for_status()
                else:
                    http.put("/api/kv/put", json={"key": name, "value": "v"}).raise_for_status()


def comparable(plan) -> list:
    return sorted(json.dumps(a, sort_keys=True) for a in plan.to_json()["actions"])


@settings(max_examples=int(os.environ.get("PLATFORGE_PROPERTY_EXAMPLES", "12")), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
@given(generated=stacks(), rnd=st.randoms(use_true_random=False))
def test_apply_converges_is_idempotent_and_order_blind(generated, rnd):
    decl, preexisting = generated
    box = Box()
    env = {"DATATAILR_USER_NAME": "admin", "DATATAILR_USER_PASSWORD": box.password,
           **{f"PROP_SECRET_{i}": f"secret-value-{i}" for i in range(2)}}
    try:
        with mock.patch.dict(os.environ, env):
            _check_properties(box, decl, preexisting, rnd)
    finally:
        box.server.stop()


def _check_properties(box, decl, preexisting, rnd) -> None:
    box.seed(preexisting)
    engine = box.engine(render(decl), "a")
    plan = engine.plan()

    def permute(items):
        items = list(items)
        rnd.shuffle(items)
        return items

    shuffled = box.engine(render(decl, permute), "b")
    assert comparable(shuffled.plan()) == comparable(plan), "permuting lists changed the plan"

    # Objects that existed before the stack are imports: adopting them takes explicit consent.
    imports = {a.address for a in plan.actions if a.op.value == "import"}
    assert imports == {f"group.{name}" for kind, name, _ in decl if kind == "group" and f"group:{name}" in preexisting}
    engine.apply(adopt=["*"])
    after = box.engine(render(decl), "a").plan()
    assert not after.has_changes, json.dumps(after.to_json()["actions"], indent=1)
    assert not box.engine(render(decl, permute), "b").plan().has_changes

    writes_before = len(box.writes())
    box.engine(render(decl), "a").apply()
    assert len(box.writes()) == writes_before, box.writes()[writes_before:]
