"""The `platforge` command line against the embedded Studio sandbox: a stack of all four kinds
applies and converges (the plan after it is empty, a second apply sends no write), changes made
behind its back are reported by drift under their cause and put back, identity and principal
changes replace, `pause_pipeline` is desired state that cannot be read back, bad input fails
before the first request, and the exit codes are 0, 2 and 1 as documented."""

from __future__ import annotations

import json

import pytest

from .conftest import World

STACK = """
[unmanaged]
ignore = ["access_group.everyone"]

[access_group.production-team]
description = "people who may write to production"

[access_group_member.prod-alice]
group = "production-team"
user = "alice@example.com"
role = "write"

[access_rule.prod-writes-dev]
resource_type = "namespace"
resource_id = "dev"
permission = "write"
group = "production-team"

[access_rule.bob-reads-dev]
resource_type = "namespace"
resource_id = "dev"
permission = "read"
user = "bob@example.com"

[pipeline_schedule.nightly]
pipeline = "PIPELINE"
cron_expression = "0 0 * * *"
start_after = 2026-01-01T00:00:00Z
pause_pipeline = true
"""


def seeded(world: World) -> tuple[str, str]:
    """Alice and Bob in the team and in a group Studio already has (the only way Studio shows a
    user's e-mail), and a pipeline definition: (the stack body, the pipeline's name)."""
    alice = world.add_user("alice", "alice@example.com")
    bob = world.add_user("bob", "bob@example.com")
    everyone = world.call("POST", "/datachain/rbac/access-groups/", {"name": "everyone"})["id"]
    for uid in (alice, bob):
        world.call("POST", f"/datachain/rbac/access-groups/{everyone}/members/", {"user_id": uid, "role": "read"})
    pipeline = world.pipeline()["name"]
    return STACK.replace("PIPELINE", pipeline), pipeline


def applied(world: World) -> tuple[str, str, str]:
    body, pipeline = seeded(world)
    stack = world.stack(body)
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    return str(stack), body, pipeline


def test_all_four_kinds_apply_then_the_plan_is_empty_and_a_second_apply_writes_nothing(world: World):
    body, pipeline = seeded(world)
    stack = world.stack(body)
    mark = world.mark()
    first = world.cli("plan", stack)
    assert first.exit_code == 2, first.stdout + first.stderr
    assert world.writes_since(mark) == []
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr

    group = world.group("production-team")
    assert group["description"] == "people who may write to production"
    assert world.members("production-team") == {"alice@example.com": "write"}
    rules = {(r["group_name"], r["user_email"]): r for r in world.rules()}
    assert rules[("production-team", None)]["permission"] == "write"
    assert rules[("production-team", None)]["resource_name"] == "dev"
    assert rules[(None, "bob@example.com")]["permission"] == "read"
    nightly = world.schedules()["nightly"]
    assert nightly["cron_expression"] == "0 0 * * *" and nightly["start_after"].startswith("2026-01-01T00:00:00")
    assert world.pipeline_status(pipeline) == "PAUSED"

    state = json.loads((stack / ".platforge" / "state.json").read_text(encoding="utf-8"))["resources"]
    assert state["access_group.production-team"]["platform_id"] == group["id"]
    assert state["pipeline_schedule.nightly"]["platform_id"] == nightly["id"]

    again = world.cli("plan", stack)
    assert again.exit_code == 0, again.stdout + again.stderr
    mark = world.mark()
    second = world.cli("apply", stack, "--yes")
    assert second.exit_code == 0, second.stdout + second.stderr
    assert world.writes_since(mark) == []
    assert [r["method"] for r in world.requests_since(mark)] and all(
        r["method"] == "GET" for r in world.requests_since(mark))
    assert world.cli("drift", stack).exit_code == 0
    for output in (first, result, again, second, world.cli("plan", stack, "--json")):
        assert world.token not in output.stdout + output.stderr
    assert world.token not in (stack / ".platforge" / "state.json").read_text(encoding="utf-8")


def test_out_of_band_changes_are_reported_by_cause_and_put_back(world: World):
    stack, body, pipeline = applied(world)
    group = world.group("production-team")
    bob = next(r for r in world.rules() if r["user_email"] == "bob@example.com")["user_id"]
    members = world.call("GET", f"/datachain/rbac/access-groups/{group['id']}/members/")
    (member,) = members
    world.call("PATCH", f"/datachain/rbac/access-groups/{group['id']}/", {"description": "changed by hand"})
    world.call("PATCH", f"/datachain/rbac/access-groups/{group['id']}/members/{member['user_id']}/", {"role": "admin"})
    group_rule = next(r for r in world.rules() if r["group_id"] == group["id"])
    world.call("PATCH", f"/datachain/rbac/access-rules/{group_rule['id']}/", {"permission": "admin"})
    bob_rule = next(r for r in world.rules() if r["user_id"] == bob)
    world.call("DELETE", f"/datachain/rbac/access-rules/{bob_rule['id']}/")                      # missing
    nightly = world.schedules()["nightly"]
    world.call("POST", "/datachain/pipeline/update-schedule",
               {"schedule_id": nightly["id"], "schedule_name": "nightly", "cron_expression": "0 5 * * *"})
    world.call("POST", "/datachain/pipeline/resume", {"name": pipeline})  # pause state: nobody can see it
    world.call("POST", "/datachain/rbac/access-groups/", {"name": "scratch"})                      # unmanaged

    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    found = {(f["cause"], f["address"]) for f in report["findings"]}
    assert found == {("out_of_band", "access_group.production-team"), ("out_of_band", "access_group_member.prod-alice"),
                     ("out_of_band", "access_rule.prod-writes-dev"), ("missing", "access_rule.bob-reads-dev"),
                     ("out_of_band", "pipeline_schedule.nightly"), ("unmanaged", "access_group.scratch")}, found
    by_address = {f["address"]: f for f in report["findings"] if f["cause"] == "out_of_band"}
    assert [(c["path"], c["old"], c["new"]) for c in by_address["pipeline_schedule.nightly"]["changes"]] == [
        ("cron_expression", "0 0 * * *", "0 5 * * *")]  # last applied, live
    assert [(c["path"], c["new"]) for c in by_address["access_group_member.prod-alice"]["changes"]] == [("role", "admin")]

    mark = world.mark()
    fixed = world.cli("apply", stack, "--yes")
    assert fixed.exit_code == 0, fixed.stdout + fixed.stderr
    writes = sorted((w["method"], w["path"].split("?")[0]) for w in world.writes_since(mark))
    assert writes == sorted([
        ("PATCH", f"/api/datachain/rbac/access-groups/{group['id']}/"),
        ("PATCH", f"/api/datachain/rbac/access-groups/{group['id']}/members/{member['user_id']}/"),
        ("PATCH", f"/api/datachain/rbac/access-rules/{group_rule['id']}/"),
        ("POST", "/api/datachain/rbac/access-rules/"),
        ("POST", "/api/datachain/pipeline/update-schedule")])
    after = json.loads(world.cli("drift", stack, "--format", "json").stdout)
    assert {(f["cause"], f["address"]) for f in after["findings"]} == {("unmanaged", "access_group.scratch")}
    assert world.pipeline_status(pipeline) == "RUNNING"  # write-only: resumed by hand, not seen, not reverted


def test_pause_pipeline_is_written_when_its_declaration_changes_and_only_then(world: World):
    stack, body, pipeline = applied(world)
    assert world.pipeline_status(pipeline) == "PAUSED"
    world.stack(body.replace("pause_pipeline = true", "pause_pipeline = false"))
    plan = json.loads(world.cli("plan", stack, "--json").stdout)
    (action,) = [a for a in plan["actions"] if a["op"] != "no-op"]
    assert (action["address"], action["op"]) == ("pipeline_schedule.nightly", "update")
    assert [(c["path"], c["old"], c["new"], c["reason"]) for c in action["changes"]] == [
        ("pause_pipeline", True, False, "declared")]
    assert world.cli("plan", stack).exit_code == 2
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert [(w["method"], w["path"].split("?")[0]) for w in world.writes_since(mark)] == [
        ("POST", "/api/datachain/pipeline/update-schedule")]
    assert world.pipeline_status(pipeline) == "RUNNING"
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    assert world.writes_since(mark) == []


def test_a_change_of_principal_or_member_user_replaces_delete_first(world: World):
    stack, body, _ = applied(world)
    old_rule = json.loads((world.tmp_path / "stack" / ".platforge" / "state.json").read_text())[
        "resources"]["access_rule.prod-writes-dev"]["platform_id"]
    gid = world.group("production-team")["id"]
    alice = next(m for m in world.call("GET", f"/datachain/rbac/access-groups/{gid}/members/"))["user_id"]
    world.stack(body.replace('permission = "write"\ngroup = "production-team"', 'permission = "write"\nuser = "alice@example.com"')
                .replace('user = "alice@example.com"\nrole', 'user = "bob@example.com"\nrole'))
    plan = json.loads(world.cli("plan", stack, "--json").stdout)
    assert {(a["address"], a["op"]) for a in plan["actions"] if a["op"] != "no-op"} == {
        ("access_rule.prod-writes-dev", "replace"), ("access_group_member.prod-alice", "replace")}
    mark = world.mark()
    assert world.cli("apply", stack, "--yes").exit_code == 0
    writes = [(w["method"], w["path"].split("?")[0]) for w in world.writes_since(mark)]
    member_path = f"/api/datachain/rbac/access-groups/{gid}/members/"
    assert writes.index(("DELETE", f"{member_path}{alice}/")) < writes.index(("POST", member_path))
    assert writes.index(("DELETE", f"/api/datachain/rbac/access-rules/{old_rule}/")) < writes.index(
        ("POST", "/api/datachain/rbac/access-rules/"))
    assert world.members("production-team") == {"bob@example.com": "write"}
    assert world.cli("plan", stack).exit_code == 0


@pytest.mark.parametrize("principal", ['user = "alice@example.com"\ngroup = "production-team"', ""])
def test_a_rule_without_exactly_one_principal_exits_1_before_the_first_request(world: World, principal: str):
    body, _ = seeded(world)
    stack = world.stack(body.replace('permission = "read"\nuser = "bob@example.com"', f'permission = "read"\n{principal}'))
    mark = world.mark()
    for command in (("plan", stack), ("apply", stack, "--yes")):
        result = world.cli(*command)
        assert result.exit_code == 1
        assert "main.toml:" in result.stderr and "access_rule.bob-reads-dev" in result.stderr
        assert "exactly one principal" in result.stderr
    assert world.requests_since(mark) == []


@pytest.mark.parametrize("old, new, address, words", [
    ('pipeline = "PIPELINE"', 'pipeline = "no-such-pipe"', "pipeline_schedule.nightly", "no pipeline named 'no-such-pipe'"),
    ('user = "bob@example.com"', 'user = "carol@example.com"', "access_rule.bob-reads-dev", "'carol@example.com'"),
])
def test_a_name_that_resolves_to_nothing_is_a_plan_error_with_file_and_line(world: World, old: str, new: str,
                                                                            address: str, words: str):
    body, pipeline = seeded(world)
    stack = world.stack(body.replace(old.replace("PIPELINE", pipeline), new))
    mark = world.mark()
    for command in (("plan", stack), ("apply", stack, "--yes"), ("drift", stack)):
        result = world.cli(*command)
        assert result.exit_code == 1, result.stdout + result.stderr
        line = (stack / "main.toml").read_text().splitlines().index(f"[{address}]") + 1
        assert f"main.toml:{line} [{address}]" in result.stderr and words in result.stderr
    assert world.writes_since(mark) == []


def test_a_bad_token_exits_1_without_writing_or_echoing_it(world: World, monkeypatch: pytest.MonkeyPatch):
    body, _ = seeded(world)
    stack = world.stack(body)
    monkeypatch.setenv("DATACHAIN_STUDIO_TOKEN", "isat_not-the-token-" + world.token[-6:])
    mark = world.mark()
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 1 and "DATACHAIN_STUDIO_TOKEN" in result.stderr
    assert "isat_not-the-token" not in result.stdout + result.stderr
    assert world.writes_since(mark) == []


def test_the_bearer_form_works_and_a_stack_acts_in_its_own_team_only(world: World):
    """The token's default team is acme: a stack of team `other` must still create there."""
    world.call("POST", "/sandbox/teams", {"name": "other"})
    stack = world.stack("[access_group.ops]\n", name="other", platform='auth_scheme = "Bearer"', team="other")
    result = world.cli("apply", stack, "--yes")
    assert result.exit_code == 0, result.stdout + result.stderr
    ours = world.call("GET", "/datachain/rbac/access-groups/")
    theirs = world.call("GET", "/datachain/rbac/access-groups/", team_name="other")
    assert [g["name"] for g in theirs] == ["ops"] and "ops" not in [g["name"] for g in ours]
    assert world.cli("plan", stack).exit_code == 0
