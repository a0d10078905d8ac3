"""Every kind of bad stack fails before any API call, with exit 1 and a message that names the
file, the key path (and line where known), what was expected and what was found."""

from __future__ import annotations

import pytest

CASES = {
    "unknown field": ('[user.alice]\nemail = "alice@example.com"\nshoe_size = 9\n', "user.alice.shoe_size", "unknown field", 9),
    "bad email": ('[user.alice]\nemail = "alice-at-example"\n', "user.alice.email", "not a valid email address", 8),
    "unknown environment": ('[kv.x]\nenvironment = "staging"\nvalue = "1"\n', "kv.x.environment",
                            "expected one of 'dev', 'pre', 'prod'; found the string 'staging'", 8),
    "wrong type": ('[kv.x]\nvalue = 42\n', "kv.x.value", "expected a string; found the integer 42", 8),
    "dangling reference": ('[user.alice]\ngroups = ["ghosts"]\n', "user.alice", "refers to group 'ghosts'", 7),
    "duplicate identity": ('[kv.a]\nkey = "k"\nvalue = "1"\n[kv.b]\nkey = "k"\nvalue = "2"\n', "kv.b", "both declare kv dev/k", 10),
    "invalid toml": ('[user.alice\nemail = "a@b.c"\n', "", "invalid TOML", 7),
    "unknown kind": ('[users.alice]\n', "users", "unknown kind 'users'", 7),
    "inline secret": ('[secret.s]\nvalue = "plaintext"\n', "secret.s.value", "expected a secret reference", 8),
    "unset secret variable": ('[secret.s]\nvalue = { from_env = "PLATFORGE_TEST_UNSET_7" }\n', "secret.s", "PLATFORGE_TEST_UNSET_7 is not set", 7),
    "two owners of one group": (
        '[user.alice]\n[group.g]\nmembers = ["alice"]\n[group_membership.m]\ngroup = "g"\nuser = "alice"\n',
        "group_membership.m", "manage its membership there or with group_membership resources, not both", 10),
    "bad entrypoint": ('[service.s]\nentrypoint = "not an entrypoint"\n', "service.s.entrypoint",
                       "expected an entrypoint 'module:function'", 8),
    "bad memory": ('[service.s]\nentrypoint = "m.t:a"\nmemory = "lots"\n', "service.s.memory",
                   "a size such as '256m'", 9),
    "task cycle": ('[workflow.w]\n[workflow.w.tasks.a]\nentrypoint = "m.t:a"\ndepends_on = ["b"]\n'
                   '[workflow.w.tasks.b]\nentrypoint = "m.t:b"\ndepends_on = ["a"]\n', "workflow.w", "form a cycle", 7),
    "cron and helper fields": ('[workflow.w]\n[workflow.w.schedule]\ncron = "0 * * * *"\nat_hours = [1]\n'
                               '[workflow.w.tasks.a]\nentrypoint = "m.t:a"\n', "workflow.w.schedule",
                               "give cron or helper fields", 8),
    "promotion of an undeclared job": ('[promotion.p]\njob = "service.ghost"\npre = "promoted"\n', "promotion.p",
                                       "refers to service 'ghost'", 7),
    "user lists an owned group": (
        '[user.alice]\ngroups = ["g"]\n[group.g]\nmembers = ["bob"]\n[user.bob]\n',
        "user.alice", "that group's membership is managed by group.g", 7),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_stack_fails_cleanly_before_any_api_call(world, name):
    body, path, message, line = CASES[name]
    stack = world.stack(body)
    before = world.mark()
    for command in (("plan", stack), ("apply", stack, "--yes"), ("drift", stack)):
        result = world.cli(*command)
        assert result.exit_code == 1, (name, command, result.stdout, result.stderr)
        assert message in result.stderr, result.stderr
        assert f"main.toml:{line}" in result.stderr, result.stderr
        if path:
            assert f"[{path}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert world.mark() == before, "nothing may reach the platform"


def test_missing_platform_table_and_bad_platform_type(world, tmp_path):
    stack = tmp_path / "nopf"
    stack.mkdir()
    (stack / "a.toml").write_text("[group.g]\n")
    result = world.cli("plan", stack)
    assert result.exit_code == 1 and "no [platform] table" in result.stderr
    (stack / "a.toml").write_text('[platform]\ntype = "datatrailer"\nendpoint = "http://x"\n')
    result = world.cli("plan", stack)
    assert result.exit_code == 1 and "unknown platform type 'datatrailer'" in result.stderr and "datatailr" in result.stderr


def test_missing_credentials_name_the_variables(world, monkeypatch):
    stack = world.stack("[group.g]\n")
    monkeypatch.delenv("DATATAILR_USER_PASSWORD")
    result = world.cli("plan", stack)
    assert result.exit_code == 1
    assert "DATATAILR_USER_NAME and DATATAILR_USER_PASSWORD" in result.stderr


def test_wrong_password_is_a_clear_error(world, monkeypatch):
    stack = world.stack("[group.g]\n")
    monkeypatch.setenv("DATATAILR_USER_PASSWORD", "not-the-password")
    result = world.cli("plan", stack)
    assert result.exit_code == 1 and "cannot log in" in result.stderr
    assert "not-the-password" not in result.stderr


def test_bad_drift_format(world):
    stack = world.stack("[group.g]\n")
    result = world.cli("drift", stack, "--format", "yaml")
    assert result.exit_code == 1 and "Invalid value for '--format'" in result.stderr
