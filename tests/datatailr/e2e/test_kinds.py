"""Per-kind rules against the sandbox: the diff matrix (which change is a no-op, an update or a
replace), normalisation of server defaults and order, and idempotence after each change."""

from __future__ import annotations

import json

import pytest
from platforge.provider.datatailr.kinds import GroupKind, KvKind, UserKind
from platforge.provider.datatailr.kinds.acl import live_acl
from platforge.provider.datatailr.models import AclIds

from platforge.core.fingerprint import Fingerprinter
from platforge.core.kind import Context

BASE = """
[group.analysts]
[group.engineers]
[user.alice]
first_name = "Alice"
email = "alice@example.com"
groups = ["analysts", "engineers"]
[user.svc]
email = "svc@example.com"
system = true
[kv.url]
environment = "prod"
value = "postgres://a"
[kv.url.acl]
read = { users = ["alice"], groups = ["analysts", "engineers"] }
[secret.pw]
value = { from_env = "MATRIX_SECRET" }
"""

# (description, old text, new text, address, expected op, expected changed paths)
MATRIX = [
    ("group order of a user", 'groups = ["analysts", "engineers"]', 'groups = ["engineers", "analysts", "engineers"]', "user.alice", "no-op", []),
    ("implied dtusers", 'groups = ["analysts", "engineers"]', 'groups = ["analysts", "engineers", "dtusers"]', "user.alice", "no-op", []),
    ("user email", 'email = "alice@example.com"', 'email = "alice@corp.example"', "user.alice", "update", ["email"]),
    ("user first name", 'first_name = "Alice"', 'first_name = "Alicia"', "user.alice", "update", ["first_name"]),
    ("user groups", 'groups = ["analysts", "engineers"]', 'groups = ["analysts"]', "user.alice", "update", ["groups"]),
    ("user disabled", 'first_name = "Alice"', 'first_name = "Alice"\nenabled = false', "user.alice", "update", ["enabled"]),
    ("system flag", 'system = true', 'system = false', "user.svc", "replace", ["system"]),
    ("kv value", 'value = "postgres://a"', 'value = "postgres://b"', "kv.url", "update", ["value"]),
    ("kv acl order", 'groups = ["analysts", "engineers"] }', 'groups = ["engineers", "analysts"] }', "kv.url", "no-op", []),
    ("kv acl principal", 'read = { users = ["alice"],', 'read = { users = [],', "kv.url", "update", ["acl.read.users"]),
    ("kv acl permission", 'read = { users = ["alice"], groups = ["analysts", "engineers"] }',
     'read = { users = ["alice"], groups = ["analysts", "engineers"] }\nwrite = { users = ["alice"] }', "kv.url", "update", ["acl.write"]),
    # the identity changes at the same address: a replace (the prod entry is deleted, never left
    # behind unowned), showing every value the create sets
    ("kv environment is identity", 'environment = "prod"', 'environment = "pre"', "kv.url", "replace",
     ["acl", "environment", "key", "value"]),
    ("omitted optional field", 'first_name = "Alice"\n', '', "user.alice", "no-op", []),
]


@pytest.fixture
def applied(world, monkeypatch):
    monkeypatch.setenv("MATRIX_SECRET", "one")
    stack = world.stack(BASE)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.cli("plan", stack).exit_code == 0
    return stack


@pytest.mark.parametrize("case", MATRIX, ids=[c[0] for c in MATRIX])
def test_diff_matrix_then_converge(world, applied, case):
    _, old, new, address, op, paths = case
    main = applied / "main.toml"
    text = main.read_text()
    assert old in text
    main.write_text(text.replace(old, new, 1))
    plan = json.loads(world.cli("plan", applied, "--json").stdout)
    action = next(a for a in plan["actions"] if a["address"] == address)
    assert action["op"] == op, action
    changed = sorted({c["path"] for c in action["changes"]})
    assert changed == sorted(paths), action["changes"]
    others = [a for a in plan["actions"] if a["address"] != address and a["op"] != "no-op"]
    assert others == [], others
    result = world.cli("apply", applied, "--yes")
    assert result.exit_code == 0, result.stderr
    assert world.cli("plan", applied).exit_code == 0
    mark = world.mark()
    assert world.cli("apply", applied, "--yes").exit_code == 0
    assert world.writes_since(mark) == []


def test_secret_rotation_is_an_update_detected_by_fingerprint(world, applied, monkeypatch):
    monkeypatch.setenv("MATRIX_SECRET", "two")
    plan = json.loads(world.cli("plan", applied, "--json").stdout)
    action = next(a for a in plan["actions"] if a["address"] == "secret.pw")
    assert action["op"] == "update"
    assert action["changes"] == [{"path": "value", "old": "(sensitive)", "new": "(sensitive)",
                                  "sensitive": True, "forces_replace": False, "reason": "declared"}]
    assert world.cli("apply", applied, "--yes").exit_code == 0
    assert world.cli("plan", applied).exit_code == 0


def test_normalisation_without_http():
    user = UserKind().declare("zed", {"groups": ["b", "a", "b"], "email": "z@example.com"}, None)
    assert user.spec["groups"] == ["a", "b", "dtusers"] and user.spec["system"] is False
    assert user.identity == ("zed",)
    plain = UserKind().declare("zed", {}, None)
    assert "groups" not in plain.spec and "email" not in plain.spec
    group = GroupKind().declare("g", {"members": ["y", "x"]}, None)
    assert group.spec == {"name": "g", "members": ["x", "y"]}
    assert [r.address for r in group.refs] == ["user.x", "user.y"]
    kv = KvKind().declare("url", {"environment": "dev", "value": "v",
                                  "acl": {"read": {"groups": ["z", "a"]}, "write": {"users": []}}}, None)
    assert kv.spec["acl"] == {"read": {"groups": ["a", "z"], "users": []}}
    assert kv.identity == ("dev", "url")


def test_live_acl_names_ids_and_keeps_unknown_ids_visible():
    class Ctx(Context):
        pass

    ctx = Ctx(client=None, fingerprinter=Fingerprinter(b"k" * 32))
    ctx.cached("user_names", lambda: {1001: "alice"})
    ctx.cached("group_names", lambda: {100: "dtusers"})
    acl = live_acl(ctx, AclIds.model_validate({"read": [1001, -100, 4242], "write": []}))
    assert acl == {"read": {"groups": ["dtusers"], "users": ["#4242", "alice"]}}


def test_a_changed_identity_replaces_the_old_object_instead_of_leaving_it_unowned(world, applied):
    """Moving `kv.url` from prod to pre used to create the pre entry and forget the prod one,
    which stayed on the platform owned by nobody."""
    main = applied / "main.toml"
    main.write_text(main.read_text().replace('environment = "prod"', 'environment = "pre"', 1))
    assert world.cli("apply", applied, "--yes").exit_code == 0
    report = json.loads(world.cli("drift", applied, "--format", "json", "--fail-on", "unmanaged").stdout)
    assert not [f for f in report["findings"] if f["address"] == "kv.prod/url"], report["findings"]
