"""Issue 11: at least 300 generated broken stacks. Every one fails with a clear error (exit 1,
the file and line named, no traceback) before the first request: the sandbox's access log stays
empty through all of them.

Each stack is a valid base stack with one to three breaking mutations, drawn from a seeded
`random.Random`: wrong types, unknown fields and kinds, dangling references, invalid values,
inline or unset secrets, duplicate identities, two owners of one membership, TOML syntax errors.
Every mutation breaks the stack on its own, so no generated stack is accidentally valid."""

from __future__ import annotations

import json
import os
import random
import re
import time

import pytest
from typer.testing import CliRunner

from platforge.cli import app

STACKS = int(os.environ.get("PLATFORGE_STACK_FUZZ_CASES", "320"))


def base() -> dict[str, dict]:
    return {
        "group.team": {},
        "group.ops": {"members": ["alice"]},
        "user.alice": {"email": "alice@example.com", "first_name": "Alice", "groups": ["team"]},
        "user.bob": {"email": "bob@example.com"},
        "kv.db-url": {"key": "db/url", "value": "postgres://db", "acl": {"read": {"groups": ["team"]}}},
        "secret.db-pass": {"key": "db/pass", "value": {"from_env": "FUZZ_STACK_SECRET"}},
    }


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"


def render(tables: dict[str, dict], extra_lines: list[str]) -> str:
    out = []
    for address, fields in tables.items():
        out.append(f"[{address}]")
        out.extend(f"{k} = {toml_value(v)}" for k, v in fields.items())
        out.append("")
    return "\n".join(out + extra_lines) + "\n"


WRONG_TYPES = {
    ("user.alice", "email"): [42, True, ["a@b.c"], {"x": 1}],
    ("user.alice", "first_name"): [7, False, ["A"]],
    ("user.alice", "groups"): ["team", 3, {"team": True}],
    ("user.bob", "email"): [1.5, []],
    ("kv.db-url", "value"): [42, True, ["v"]],
    ("kv.db-url", "key"): [3, ["k"]],
    ("kv.db-url", "acl"): ["read", 1, ["team"]],
    ("group.ops", "members"): ["alice", 5],
}


def mutate(rng: random.Random, tables: dict[str, dict], extra: list[str], n: int) -> str:
    kind = rng.choice(["wrong_type", "unknown_field", "unknown_kind", "dangling_ref", "bad_email", "bad_env",
                       "inline_secret", "unset_env", "duplicate_identity", "syntax", "owned_group"])
    if kind == "wrong_type":
        (address, field), values = rng.choice(list(WRONG_TYPES.items()))
        tables[address][field] = rng.choice(values)
    elif kind == "unknown_field":
        tables[rng.choice(list(tables))][f"bogus_{n}"] = rng.choice([1, "x", True])
    elif kind == "unknown_kind":
        tables[f"{rng.choice(['widget', 'users', 'kvs', 'secrets'])}{n}.x"] = {}
    elif kind == "dangling_ref":
        tables["user.alice"]["groups"] = [f"ghost{n}"]
    elif kind == "bad_email":
        tables["user.bob"]["email"] = rng.choice([f"not-an-email-{n}", "@", "a@", "two@@x.com"])
    elif kind == "bad_env":
        tables["kv.db-url"]["environment"] = f"staging{n}"
    elif kind == "inline_secret":
        tables["secret.db-pass"]["value"] = f"plaintext-{n}"
    elif kind == "unset_env":
        tables["secret.db-pass"]["value"] = {"from_env": f"PLATFORGE_FUZZ_UNSET_{n}"}
    elif kind == "duplicate_identity":
        tables[f"kv.copy{n}"] = {"key": "db/url", "value": "other"}
    elif kind == "owned_group":
        tables["user.bob"]["groups"] = ["ops"]
    else:
        extra.append(rng.choice(["= 1", f"[user.broken{n}", 'email = "unterminated', "[group.team]",
                                 "key = 1\nkey = 2", "x = [1, 2", "{}"]))
    return kind


@pytest.fixture
def quiet_sandbox(sandbox_factory, monkeypatch):
    sandbox = sandbox_factory(access_log=True)
    monkeypatch.setenv("DATATAILR_USER_NAME", sandbox.admin_user)
    monkeypatch.setenv("DATATAILR_USER_PASSWORD", sandbox.admin_password)
    monkeypatch.setenv("FUZZ_STACK_SECRET", "fuzz-secret-value")
    return sandbox


def test_generated_broken_stacks_fail_clearly_before_any_request(quiet_sandbox, tmp_path):
    rng = random.Random(20261130)
    runner = CliRunner()
    header = f'[platform]\ntype = "datatailr"\nendpoint = "{quiet_sandbox.url}"\nenvironment = "dev"\n\n'
    kinds: dict[str, int] = {}
    slowest = 0.0
    for n in range(STACKS):
        tables, extra = base(), []
        applied = [mutate(rng, tables, extra, n) for _ in range(rng.randint(1, 3))]
        for kind in applied:
            kinds[kind] = kinds.get(kind, 0) + 1
        stack = tmp_path / f"s{n}"
        stack.mkdir()
        (stack / "main.toml").write_text(header + render(tables, extra), encoding="utf-8")
        command = ["apply", str(stack), "--yes"] if n % 5 == 0 else (["drift", str(stack)] if n % 5 == 1
                                                                     else ["plan", str(stack)])
        started = time.monotonic()
        result = runner.invoke(app, command, catch_exceptions=True)
        slowest = max(slowest, time.monotonic() - started)
        where = f"stack {n} ({applied}):\n{(stack / 'main.toml').read_text()}\n{result.stderr}"
        assert result.exit_code == 1, where
        assert result.exception is None or isinstance(result.exception, SystemExit), where
        assert "Traceback" not in result.stderr + result.stdout, where
        assert re.search(r"main\.toml:\d+", result.stderr), where  # the file and the line
    with open(quiet_sandbox.access_log, encoding="utf-8") as fh:
        assert fh.read() == "", "a broken stack reached the platform"
    assert slowest < 10, f"a broken stack took {slowest:.1f} s to refuse"
    assert len(kinds) >= 10, kinds  # every family of mutation was drawn
    print(json.dumps({"stacks": STACKS, "mutations": kinds, "slowest_s": round(slowest, 2)}))
