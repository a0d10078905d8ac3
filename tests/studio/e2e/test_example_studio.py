"""`examples/studio`, as a user runs it: pointed at a fresh embedded sandbox where the team
already has what platforge does not manage (alice, bob and carol in the `everyone` group its
administrators keep, since Studio shows users only through groups and rules, and a pipeline
definition, whose name Studio generates), it plans, applies every object it declares, converges
(the plan after it is empty, a second apply sends no write) and its token stays in the
environment: never in the files, the state or the output."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from .conftest import TEAM, World

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "studio"
PLACEHOLDER = 'pipeline = "rathe-kyat"'


def example_against(world: World) -> tuple[Path, str]:
    """The example copied next to the sandbox, with the team's users and pipeline made as Studio
    makes them (the sandbox's user route, the group API, `pipeline/trigger` as `datachain
    pipeline create` calls it) and the pipeline's generated name put in the copy: (stack, pipeline)."""
    everyone = world.call("POST", "/datachain/rbac/access-groups/", {"name": "everyone"})["id"]
    for name in ("alice", "bob", "carol"):
        uid = world.add_user(name, f"{name}@example.com")
        world.call("POST", f"/datachain/rbac/access-groups/{everyone}/members/", {"user_id": uid, "role": "read"})
    pipeline = world.pipeline()["name"]
    stack = world.tmp_path / "example"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".platforge"))
    platform = stack / "platform.toml"
    platform.write_text(re.sub(r'endpoint = "[^"]*"', f'endpoint = "{world.url}"', platform.read_text()))
    schedules = stack / "pipelines.toml"
    text = schedules.read_text()
    assert text.count(PLACEHOLDER) == 1
    schedules.write_text(text.replace(PLACEHOLDER, f'pipeline = "{pipeline}"'))
    return stack, pipeline


def test_the_files_name_the_token_variable_and_hold_no_token():
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(EXAMPLE.glob("*.toml")))
    assert 'token_env = "DATACHAIN_STUDIO_TOKEN"' in text and f'team = "{TEAM}"' in text
    assert not re.search(r"isat_|token\s*=\s*\"", text)


def test_the_example_applies_on_a_fresh_sandbox_then_plans_nothing_and_a_second_apply_writes_nothing(world: World):
    stack, pipeline = example_against(world)
    assert world.pipeline_status(pipeline) == "PAUSED"  # made for review
    mark = world.mark()
    first = world.cli("plan", stack)
    assert first.exit_code == 2, first.stdout + first.stderr
    assert "7 to create" in first.stdout, first.stdout
    assert world.writes_since(mark) == []
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr

    assert world.group("ml-engineers")["description"] == "train and publish the models"
    assert world.members("ml-engineers") == {"alice@example.com": "admin", "bob@example.com": "write"}
    assert world.members("everyone") == dict.fromkeys(("alice@example.com", "bob@example.com", "carol@example.com"),
                                                      "read")  # named, never changed
    rules = {(r["resource_name"], r["group_name"], r["user_email"], r["permission"]) for r in world.rules()}
    assert rules == {("models", "ml-engineers", None, "write"), ("models", None, "carol@example.com", "read"),
                     ("public", "everyone", None, "read")}
    schedule = world.schedules()["nightly-training"]
    assert schedule["cron_expression"] == "0 2 * * *" and schedule["start_after"].startswith("2026-01-01T00:00:00")
    assert world.pipeline_status(pipeline) == "RUNNING"  # pause_pipeline = false resumed it

    again = world.cli("plan", stack)
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout
    mark = world.mark()
    second = world.cli("apply", stack, "--yes")
    assert second.exit_code == 0, second.stdout + second.stderr
    requests = world.requests_since(mark)
    assert requests and all(r["method"] == "GET" for r in requests), requests  # Studio reads with GETs only
    assert world.writes_since(mark) == []
    drift = world.cli("drift", stack, "--format", "json")
    assert drift.exit_code == 0, drift.stdout + drift.stderr
    assert json.loads(drift.stdout)["findings"] == []  # `everyone` is [external]: not unmanaged

    state = (stack / ".platforge" / "state.json").read_text(encoding="utf-8")
    assert world.token not in state
    for output in (first, applied, again, second, drift):
        assert world.token not in output.stdout + output.stderr
