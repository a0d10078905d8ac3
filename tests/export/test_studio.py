"""`platforge export` on DataChain Studio: the team the example stack applied (groups, their
members found through the group listing, rules for a group and for a user, a schedule) is
exported and round-trips: consented imports only, an adopting apply with zero writes, an empty
plan after it; and one kind at a time."""

from __future__ import annotations

import tomllib

from tests.studio.e2e.conftest import READ_POSTS, TEAM, TOKEN_ENV, world  # noqa: F401  (fixture)
from tests.studio.e2e.test_example_studio import example_against

from .conftest import assert_program_adopts, assert_round_trip, cli


def _reads(line) -> bool:
    return line["method"] == "GET" or str(line.get("path", "")).split("?")[0] in READ_POSTS


def _populated(world):  # noqa: F811
    stack, pipeline = example_against(world)
    applied = cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.output
    return pipeline


def test_studio_export_round_trips(world):  # noqa: F811
    pipeline = _populated(world)
    out = world.tmp_path / "exported"
    mark = world.mark()
    result = cli("export", "--platform", "studio", "--endpoint", world.url, "--option", f"team={TEAM}", out)
    assert result.exit_code == 0, result.output
    assert world.writes_since(mark) == []
    platform = tomllib.loads((out / "platform.toml").read_text())["platform"]
    assert platform["team"] == TEAM and "token" not in platform  # only the name of its variable, if any
    assert world.token not in "".join(p.read_text() for p in out.glob("*.toml")) + result.output
    groups = tomllib.loads((out / "access_group.toml").read_text())["access_group"]
    assert groups["ml-engineers"] == {"name": "ml-engineers", "description": "train and publish the models"}
    assert set(groups) == {"everyone", "ml-engineers"}
    members = tomllib.loads((out / "access_group_member.toml").read_text())["access_group_member"]
    assert {(m["group"], m["user"], m["role"]) for m in members.values()} == {
        ("ml-engineers", "alice@example.com", "admin"), ("ml-engineers", "bob@example.com", "write"),
        ("everyone", "alice@example.com", "read"), ("everyone", "bob@example.com", "read"),
        ("everyone", "carol@example.com", "read")}
    rules = tomllib.loads((out / "access_rule.toml").read_text())["access_rule"]
    assert {(r["resource_id"], r["permission"], r.get("group"), r.get("user")) for r in rules.values()} == {
        ("models", "write", "ml-engineers", None), ("models", "read", None, "carol@example.com"),
        ("public", "read", "everyone", None)}
    (schedule,) = tomllib.loads((out / "pipeline_schedule.toml").read_text())["pipeline_schedule"].values()
    assert schedule["pipeline"] == pipeline and schedule["cron_expression"] == "0 2 * * *"
    assert schedule["start_after"] == "2026-01-01T00:00:00Z" and "pause_pipeline" not in schedule

    plan = assert_round_trip(out, world.access_log, reads=_reads)
    assert len([a for a in plan["actions"] if a["op"] == "import"]) == 11


def test_studio_export_kind_by_kind(world):  # noqa: F811
    _populated(world)
    out = world.tmp_path / "team"
    first = cli("export", "--platform", "studio", "--endpoint", world.url, "--option", f"team={TEAM}",
                "--kinds", "access_rule", out)
    assert first.exit_code == 0, first.output
    external = tomllib.loads((out / "platform.toml").read_text())["external"]
    assert set(external["access_group"]) == {"everyone", "ml-engineers"}  # named by the rules, not exported yet
    assert_round_trip(out, world.access_log, reads=_reads)

    second = cli("export", "--kinds", "access_group,access_group_member", "--match", "*ml-engineers*", out)
    assert second.exit_code == 0, second.output
    assert tomllib.loads((out / "platform.toml").read_text())["external"]["access_group"] == ["everyone"]
    plan = assert_round_trip(out, world.access_log, reads=_reads)
    assert {a["address"] for a in plan["actions"] if a["op"] == "import"} == {
        "access_group.ml-engineers", "access_group_member.ml-engineers-alice-example-com",
        "access_group_member.ml-engineers-bob-example-com"}


def test_studio_export_as_a_pulumi_program_adopts_with_zero_writes(world):  # noqa: F811
    _populated(world)
    program_dir, toml_dir = world.tmp_path / "program", world.tmp_path / "toml"
    target = ("--platform", "studio", "--endpoint", world.url, "--option", f"team={TEAM}")
    result = cli("export", "--format", "pulumi", *target, program_dir)
    assert result.exit_code == 0, result.output
    assert world.token not in "".join(p.read_text() for p in program_dir.rglob("*") if p.is_file()) + result.output
    assert cli("export", *target, toml_dir).exit_code == 0
    adopt = tomllib.loads((toml_dir / "platform.toml").read_text())["adopt"]["objects"]
    mark = world.mark()
    assert_program_adopts(program_dir, "main", {"platforge:token": world.token}, lambda: world.writes_since(mark),
                          adopt, env={TOKEN_ENV: None})
    assert len(adopt) == 11
