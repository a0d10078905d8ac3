"""Issue 7 (and the apply-side items of issue 8) through the `platforge` command against the
Datatailr sandbox: each test reproduces what a user hit and asserts the promise that broke."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest
from platforge.provider.datatailr.kinds import UserKind

from .conftest import SECRET_MARKER


class Api:
    """Raw calls as one signed-in user, for changes made by hand behind the stack's back."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.http = httpx.Client(base_url=url)
        self.http.post("/login", auth=(user, password)).raise_for_status()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self.http.request(method, f"/api/{path}", **kwargs)

    def ok(self, method: str, path: str, **kwargs):
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json().get("result")


def admin(world) -> Api:
    return Api(world.sandbox.url, world.sandbox.admin_user, world.sandbox.admin_password)


def groups_of(api: Api) -> set[str]:
    return {g["name"] for g in api.ok("GET", "group/ls", params={"json": "True"})}


# ---- ownership is bound to its target ---------------------------------------------------------


def test_the_issue_prune_reproduction_is_refused_on_another_endpoint(world, sandbox_factory):
    other = sandbox_factory(access_log=True, admin_password=world.sandbox.admin_password)
    stack = world.stack("[group.p1]\n[group.p2]\n")
    assert world.cli("apply", stack, "--yes").exit_code == 0  # endpoint A
    with Api(other.url, other.admin_user, other.admin_password) as b:
        b.ok("POST", "group/add", json={"group_name": "p2"})  # by hand on endpoint B
    main = stack / "main.toml"
    main.write_text(main.read_text().replace("[group.p2]\n", ""))
    log = Path(other.access_log)
    before = len(log.read_text().splitlines())

    for command in (("apply", stack, "--prune", "--yes"), ("plan", stack, "--prune"), ("drift", stack)):
        result = world.cli(*command, "--endpoint", other.url)
        assert result.exit_code == 1, (command, result.stdout, result.stderr)
        assert world.sandbox.url in result.stderr and other.url in result.stderr, result.stderr
        assert "state retarget" in result.stderr
    writes = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    assert [w for w in writes if w["method"] != "GET" and w["path"] != "/login"] == []
    with Api(other.url, other.admin_user, other.admin_password) as b:
        assert "p2" in groups_of(b), "B's p2 was never the stack's to delete"


def test_state_retarget_is_the_explicit_move(world, tmp_path):
    stack = world.stack("[group.moved]\n")
    assert world.cli("apply", stack, "--yes").exit_code == 0
    alias = world.sandbox.url.replace("127.0.0.1", "localhost")  # the same platform at a new address
    assert world.cli("plan", stack, "--endpoint", alias).exit_code == 1
    moved = world.cli("state", "retarget", stack, "--endpoint", alias)
    assert moved.exit_code == 0 and alias in moved.stdout and world.sandbox.url in moved.stdout
    assert world.cli("plan", stack, "--endpoint", alias).exit_code == 0
    assert world.cli("plan", stack).exit_code == 1, "the old address is now the other target"


# ---- adoption is explicit ---------------------------------------------------------------------


def test_existing_objects_are_imports_that_need_consent(world):
    with admin(world) as api:
        api.ok("POST", "group/add", json={"group_name": "analysts"})
        api.ok("POST", "user/add", json={"username": "alice", "first-name": "Al", "last-name": "",
                                         "email": "al@example.com", "groups": "dtusers"})
    stack = world.stack('[group.analysts]\n[group.fresh]\n[user.alice]\nfirst_name = "Alice"\n')
    plan = world.cli("plan", stack, "--json")
    assert plan.exit_code == 2
    document = json.loads(plan.stdout)
    assert document["summary"]["import"] == 2
    alice = next(a for a in document["actions"] if a["address"] == "user.alice")
    assert alice["op"] == "import" and not alice["adopt"] and alice["live"]["first_name"] == "Al"
    assert [(c["path"], c["old"], c["new"]) for c in alice["changes"]] == [("first_name", "Al", "Alice")]

    mark = world.mark()
    refused = world.cli("apply", stack, "--yes")
    assert refused.exit_code == 1
    assert "user.alice" in refused.stderr and "group.analysts" in refused.stderr and "--adopt" in refused.stderr
    assert world.writes_since(mark) == [], "refused before the first write (group.fresh was not created)"

    partial = world.cli("apply", stack, "--yes", "--adopt", "group.analysts")
    assert partial.exit_code == 1 and "user.alice" in partial.stderr and "group.analysts:" not in partial.stderr
    done = world.cli("apply", stack, "--yes", "--adopt", "group.analysts", "--adopt", "user.*")
    assert done.exit_code == 0, done.stderr
    assert world.cli("plan", stack).exit_code == 0
    with admin(world) as api:
        assert api.ok("GET", "user/get", params={"username": "alice", "json": "True"})["first_name"] == "Alice"


def test_consent_can_live_in_the_stack(world):
    with admin(world) as api:
        api.ok("POST", "group/add", json={"group_name": "legacy"})
    stack = world.stack('[group.legacy]\n\n[adopt]\nobjects = ["group.legacy"]\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.cli("plan", stack).exit_code == 0


# ---- plan and drift agree on orphans -----------------------------------------------------------


def test_plan_lists_orphans_and_says_prune_deletes_them(world):
    stack = world.stack("[group.keep]\n[group.gone]\n")
    assert world.cli("apply", stack, "--yes").exit_code == 0
    main = stack / "main.toml"
    main.write_text(main.read_text().replace("[group.gone]\n", ""))
    plan = world.cli("plan", stack)
    assert plan.exit_code == 2, "not 'No changes': something waits for a decision"
    assert "group.gone" in plan.stdout and "--prune" in plan.stdout
    assert "The platform matches the stack" not in plan.stdout
    assert world.cli("drift", stack).exit_code == 2
    assert world.cli("apply", stack, "--prune", "--yes").exit_code == 0
    assert world.cli("plan", stack).exit_code == 0 and world.cli("drift", stack).exit_code == 0


# ---- drift that a shared platform can pass -----------------------------------------------------


def test_drift_passes_on_a_shared_platform_and_fails_on_unmanaged_only_when_asked(world):
    stack = world.stack('[group.ours]\n\n[external]\ngroup = ["finance"]\n\n[unmanaged]\nignore = ["group.svc-*"]\n'
                        '\n[user.una]\nemail = "una@example.com"\ngroups = ["finance"]\n')
    with admin(world) as api:
        for name in ("finance", "svc-billing", "svc-search", "theirs"):
            api.ok("POST", "group/add", json={"group_name": name})
    assert world.cli("apply", stack, "--yes").exit_code == 0
    drift = world.cli("drift", stack, "--format", "json")
    assert drift.exit_code == 0, drift.stdout
    report = json.loads(drift.stdout)
    unmanaged = [f["address"] for f in report["findings"] if f["cause"] == "unmanaged"]
    assert unmanaged == ["group.theirs"], "external and ignored objects are never findings; one address syntax"
    assert report["ignored"] == 2 and report["coverage"]["group"]["managed"] == 1
    assert world.cli("drift", stack, "--fail-on", "unmanaged").exit_code == 2


def test_long_unmanaged_lists_are_capped_in_text_but_whole_in_json(world):
    stack = world.stack("[group.ours]\n")
    with admin(world) as api:
        for n in range(70):
            api.ok("POST", "group/add", json={"group_name": f"other-{n:02d}"})
    assert world.cli("apply", stack, "--yes").exit_code == 0
    text = world.cli("drift", stack).stdout
    assert "group.other-00" in text and "group.other-69" not in text and "more" in text
    report = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert len([f for f in report["findings"] if f["cause"] == "unmanaged"]) == 70


def test_a_missing_external_reference_fails_the_plan_before_any_write(world):
    body = "".join(f"[group.g{n}]\n" for n in range(9))
    stack = world.stack(body + '[user.u]\nemail = "u@example.com"\ngroups = ["finance"]\n\n[external]\ngroup = ["finance"]\n')
    mark = world.mark()
    for command in (("plan", stack), ("apply", stack, "--yes")):
        result = world.cli(*command)
        assert result.exit_code == 1 and "listed under [external] but not found on the platform" in result.stderr
    assert world.writes_since(mark) == []


# ---- exit codes and output CI can trust ----------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("drift", ".", "--formt", "html"),
    ("drift", ".", "--format", "yaml"),
    ("apply", ".", "--parallelism", "0"),
    ("plan", ".", "--no-such-flag"),
    ("no-such-command",),
])
def test_usage_errors_exit_1_never_2(world, args):
    assert world.cli(*args).exit_code == 1


def test_version_and_no_color(world, monkeypatch):
    result = world.cli("--version")
    assert result.exit_code == 0 and re.match(r"platforge \S+", result.stdout)
    stack = world.stack("[group.g]\n")
    monkeypatch.setattr("platforge.cli._console.is_terminal", lambda stream: True)  # as on a terminal
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = world.cli("plan", stack)
    assert coloured.exit_code == 2 and "\x1b[" in coloured.stdout
    plain = world.cli("--no-color", "plan", stack)
    assert plain.exit_code == 2 and "\x1b[" not in plain.stdout
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in world.cli("plan", stack).stdout


def test_output_off_a_terminal_does_not_wrap_and_apply_prints_one_line_per_action(world):
    long_value = "postgres://" + "x" * 150 + "/db"
    stack = world.stack(f'[kv.url]\nvalue = "{long_value}"\n[group.g]\n')
    plan = world.cli("plan", stack)
    assert any(long_value in line for line in plan.stdout.splitlines()), "not wrapped at 80 columns"
    applied = world.cli("apply", stack, "--yes", "--parallelism", "1")
    lines = [line for line in applied.stdout.splitlines() if re.fullmatch(r"\S+  \S+  done  \d+\.\d\ds", line)]
    assert sorted(line.split()[0] for line in lines) == ["group.g", "kv.url"]
    assert all(line.split()[1] == "create" for line in lines)


def test_markup_never_eats_bracketed_text(world):
    stack = world.stack("[group.g]\n")
    main = stack / "main.toml"
    main.write_text(main.read_text().replace(f'endpoint = "{world.sandbox.url}"', 'endpoint = "ftp://[bold]x"'))
    result = world.cli("plan", stack)
    assert result.exit_code == 1 and "[platform] endpoint" in result.stderr and "[bold]" in result.stderr
    assert "[platform]" in world.cli("plan", "--help").stdout


def test_ctrl_c_during_apply_says_how_to_resume_and_a_rerun_converges(world, monkeypatch):
    from platforge.provider.datatailr.kinds import GroupKind

    stack = world.stack("".join(f"[group.g{n}]\n" for n in range(6)))
    real_create = GroupKind.create
    calls = []

    def interrupted(self, ctx, resource):
        calls.append(resource.address)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_create(self, ctx, resource)

    monkeypatch.setattr(GroupKind, "create", interrupted)
    result = world.cli("apply", stack, "--yes", "--parallelism", "1")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "platforge apply" in result.stderr and "again" in result.stderr
    monkeypatch.setattr(GroupKind, "create", real_create)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.cli("plan", stack).exit_code == 0
    with admin(world) as api:
        assert {f"g{n}" for n in range(6)} <= groups_of(api)


# ---- validation that says one true thing per mistake -------------------------------------------


def problems_of(result) -> list[str]:
    return [line.strip() for line in result.stderr.splitlines() if re.match(r"\s+\S+\.toml", line)]


def test_a_typo_is_one_problem_not_a_cascade(world):
    stack = world.stack('[user.dana]\nfrist_name = "Dana"\n[group.g]\nmembers = ["dana"]\n'
                        '[kv.k]\nvalue = "v"\n[kv.k.acl]\nread = { users = ["dana"] }\n'
                        '[group_membership.m]\ngroup = "h"\nuser = "dana"\n[group.h]\n')
    result = world.cli("plan", stack)
    problems = problems_of(result)
    assert len(problems) == 1, problems
    assert "unknown field 'frist_name'; did you mean 'first_name'?" in problems[0]


@pytest.mark.parametrize("body, expected", [
    ('[user.u]\nsystem = "yes"\n', "[user.u.system]: expected true or false; found the string 'yes'"),
    ('[user.u]\nenabled = "no"\n', "[user.u.enabled]: expected true or false; found the string 'no'"),
    ('[user.u]\ngroups = "bi"\n', "[user.u.groups]: expected a list of group names; found the string 'bi'"),
    ('[group.g]\nmembers = [1]\n', "expected a user or group name"),
    ('[kv.k]\nvalue = 3\n', "expected a string; found the integer 3"),
])
def test_types_are_strict_and_messages_say_expected_and_found(world, body, expected):
    result = world.cli("plan", world.stack(body))
    assert result.exit_code == 1 and expected in result.stderr, result.stderr


def test_parallelism_in_the_stack_is_not_coerced(world):
    stack = world.stack("[group.g]\n")
    main = stack / "main.toml"
    main.write_text(main.read_text().replace('environment = "dev"', 'environment = "dev"\nparallelism = "4"'))
    mark = world.mark()
    result = world.cli("plan", stack)
    assert result.exit_code == 1 and "[platform.parallelism]: expected an integer from 1 to 64; found the string '4'" \
        in result.stderr
    assert world.mark() == mark, "found before logging in"


@pytest.mark.parametrize("table", [
    '[user."bad name"]', '[user."a,b"]', '[user."a:b"]', '[user.""]', f'[user.{"u" * 65}]', '[group."-x"]',
])
def test_names_the_platform_refuses_fail_at_plan_with_file_and_line(world, table):
    stack = world.stack(f"{table}\n")
    mark = world.mark()
    result = world.cli("plan", stack)
    assert result.exit_code == 1 and "main.toml:7" in result.stderr and "1 to 64 letters" in result.stderr
    assert world.mark() == mark


@pytest.mark.parametrize("key", ["a\\u0001b", "k" * 1025, ""])
def test_kv_keys_the_platform_refuses_fail_at_plan(world, key):
    result = world.cli("plan", world.stack(f'[kv.x]\nkey = "{key}"\nvalue = "v"\n'))
    assert result.exit_code == 1 and "1,024 characters without control characters" in result.stderr


def test_a_built_in_groups_member_list_cannot_be_taken_over(world):
    result = world.cli("plan", world.stack('[group.dtusers]\nmembers = ["alice"]\n[user.alice]\n'))
    assert result.exit_code == 1 and "built-in group" in result.stderr


def test_create_only_secrets_are_needed_only_to_create(world, monkeypatch):
    stack = world.stack('[user.ivy]\nemail = "ivy@example.com"\ninitial_password = { from_env = "IVY_PASSWORD" }\n')
    monkeypatch.delenv("IVY_PASSWORD", raising=False)
    mark = world.mark()
    missing = world.cli("apply", stack, "--yes")
    assert missing.exit_code == 1 and "IVY_PASSWORD is not set" in missing.stderr
    assert world.writes_since(mark) == []
    monkeypatch.setenv("IVY_PASSWORD", "initial-" + SECRET_MARKER)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    monkeypatch.delenv("IVY_PASSWORD")
    assert world.cli("plan", stack).exit_code == 0, "the user exists: its initial password is not needed"
    assert world.cli("drift", stack).exit_code == 0


def test_creates_show_their_values_everywhere_and_secrets_stay_sensitive(world, monkeypatch, tmp_path):
    monkeypatch.setenv("PW", SECRET_MARKER)
    stack = world.stack('[user.zoe]\nfirst_name = "Zoe Zimmer"\nemail = "zoe@example.com"\n'
                        'initial_password = { from_env = "PW" }\n[secret.s]\nvalue = { from_env = "PW" }\n')
    md = tmp_path / "plan.md"
    text = world.cli("plan", stack, "--markdown", md).stdout
    document = json.loads(world.cli("plan", stack, "--json").stdout)
    zoe = next(a for a in document["actions"] if a["address"] == "user.zoe")
    assert {"path": "email", "old": None, "new": "zoe@example.com", "sensitive": False, "forces_replace": False,
            "reason": "create"} in zoe["changes"]
    assert next(c for c in zoe["changes"] if c["path"] == "initial_password")["new"] == "(sensitive)"
    assert "Zoe Zimmer" in text and "Zoe Zimmer" in md.read_text()
    for output in (text, md.read_text(), json.dumps(document)):
        assert SECRET_MARKER not in output


def test_the_secrets_footer_appears_only_when_the_stack_has_secrets(world, monkeypatch):
    plain = world.stack("[group.g]\n", name="plain")
    assert world.cli("apply", plain, "--yes").exit_code == 0
    assert "fingerprint" not in world.cli("drift", plain).stdout
    monkeypatch.setenv("PW", "x")
    secret = world.stack('[secret.s]\nvalue = { from_env = "PW" }\n', name="secret")
    assert world.cli("apply", secret, "--yes").exit_code == 0
    assert "fingerprint" in world.cli("drift", secret).stdout


# ---- the loader never crashes and never hangs -----------------------------------------------------


def test_the_loader_turns_broken_files_into_clear_errors(world, tmp_path):
    stack = world.stack("[group.g]\n")
    cases = {
        "deep.toml": ("x = " + "[" * 500 + "]" * 500 + "\n").encode(),
        "latin1.toml": '[group.caf\xe9]\n'.encode("latin-1"),
    }
    for name, data in cases.items():
        (stack / name).write_bytes(data)
        result = world.cli("plan", stack)
        assert result.exit_code == 1 and name in result.stderr and "Traceback" not in result.stderr, result.stderr
        (stack / name).unlink()
    (stack / "dir.toml").mkdir()
    (stack / "dangling.toml").symlink_to(tmp_path / "nowhere")
    os.mkfifo(stack / "fifo.toml")
    result = world.cli("plan", stack)
    assert result.exit_code == 1
    for name in ("dir.toml", "dangling.toml", "fifo.toml"):
        assert name in result.stderr
    assert "not a regular file" in result.stderr


def test_a_fifo_as_from_file_is_an_error_not_a_hang(world, tmp_path):
    fifo = tmp_path / "secret-pipe"
    os.mkfifo(fifo)
    result = world.cli("plan", world.stack(f'[secret.s]\nvalue = {{ from_file = "{fifo}" }}\n'))
    assert result.exit_code == 1 and "not a regular file" in result.stderr


def test_state_table_errors_are_found_before_logging_in(world):
    stack = world.stack("[group.g]\n", state='[state]\nbackend = "s3"\n')
    mark = world.mark()
    result = world.cli("plan", stack)
    assert result.exit_code == 1 and "[state.backend]" in result.stderr and "'local', 'platform'" in result.stderr
    assert world.mark() == mark, "not even a login"


# ---- secrets are never written where someone else controls who reads them (issue 8) --------------


def mallory(world) -> Api:
    with admin(world) as api:
        api.ok("POST", "user/add", json={"username": "mallory", "first-name": "M", "last-name": "",
                                         "email": "m@example.com", "password": "mallory-pw-1", "groups": "dtusers"})
    return Api(world.sandbox.url, "mallory", "mallory-pw-1")


def test_a_squatted_secret_is_never_adopted_without_an_acl(world, monkeypatch):
    monkeypatch.setenv("PROD_PW", "prod-" + SECRET_MARKER)
    with mallory(world) as m:
        m.ok("PUT", "kv/put", json={"key": "db/password", "value": "bait", "secure": True, "environment": "prod"})
        stack = world.stack('[external]\nuser = ["admin"]\n\n'
                            '[secret.db]\nkey = "db/password"\nenvironment = "prod"\nvalue = { from_env = "PROD_PW" }\n')
        plan = json.loads(world.cli("plan", stack, "--json").stdout)
        action = plan["actions"][0]
        assert action["op"] == "import" and "mallory" in json.dumps(action["live"]["acl"])
        assert "blocked" in action and "declare [secret.db.acl]" in action["blocked"]
        mark = world.mark()
        refused = world.cli("apply", stack, "--yes", "--adopt", "*")
        assert refused.exit_code == 1 and "secret.db" in refused.stderr
        assert world.writes_since(mark) == []
        assert m.ok("GET", "kv/get", params={"key": "db/password", "secure": "True", "environment": "prod",
                                             "json": "True"}) == "bait"

        main = stack / "main.toml"
        main.write_text(main.read_text() + '[secret.db.acl]\nread = { users = ["admin"] }\nwrite = { users = ["admin"] }\n')
        adopted = world.cli("apply", stack, "--yes", "--adopt", "secret.db")
        assert adopted.exit_code == 0, adopted.stderr
        denied = m.call("GET", "kv/get", params={"key": "db/password", "secure": "True", "environment": "prod",
                                                 "json": "True"})
        assert denied.status_code == 403 and SECRET_MARKER not in denied.text


def test_a_secret_whose_acl_someone_opened_is_not_rewritten(world, monkeypatch):
    monkeypatch.setenv("PW", "one")
    stack = world.stack('[secret.s]\nkey = "s"\nvalue = { from_env = "PW" }\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0
    with mallory(world):
        pass
    with admin(world) as api:
        api.ok("POST", "kv/add-acls", json={"key": "s", "secure": True, "environment": "dev", "users": "mallory:r"})
    monkeypatch.setenv("PW", "two-" + SECRET_MARKER)
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 1 and "user mallory" in result.stderr
    assert world.writes_since(mark) == []


def test_a_secret_created_during_the_apply_by_someone_else_never_gets_the_value(world, monkeypatch):
    """The race: the plan saw no secret, then a squatter created it before the create ran."""
    from platforge.provider.datatailr.kinds import SecretKind

    monkeypatch.setenv("PW", "race-" + SECRET_MARKER)
    stack = world.stack('[secret.s]\nkey = "raced"\nvalue = { from_env = "PW" }\n')
    m = mallory(world)
    real_create = SecretKind.create

    def squatted_first(self, ctx, resource):
        m.ok("PUT", "kv/put", json={"key": "raced", "value": "bait", "secure": True, "environment": "dev"})
        return real_create(self, ctx, resource)

    monkeypatch.setattr(SecretKind, "create", squatted_first)
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 1 and "the value was not written" in result.stderr
    seen = m.ok("GET", "kv/get", params={"key": "raced", "secure": "True", "environment": "dev", "json": "True"})
    assert SECRET_MARKER not in seen
    m.__exit__()


def test_platforge_own_objects_are_never_findings(world):
    with admin(world) as api:
        api.ok("PUT", "kv/put", json={"key": "platforge/stacks/other/fingerprint-key", "value": "k" * 64,
                                      "secure": True, "environment": "dev"})
    stack = world.stack('[secret.s]\nvalue = { from_env = "QUICKSTART_INITIAL_PASSWORD" }\n')
    assert world.cli("apply", stack, "--yes").exit_code == 0
    report = json.loads(world.cli("drift", stack, "--format", "json", "--fail-on", "unmanaged").stdout)
    assert report["findings"] == [], report["findings"]


def test_user_kind_rejects_what_the_platform_would(world):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        UserKind().declare("with space", {}, None)
