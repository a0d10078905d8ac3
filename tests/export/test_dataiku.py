"""`platforge export` on Dataiku DSS: the instance the example stack applied (groups, users,
a project with its group grants, variables and a scenario, instance variables, a connection
whose password DSS never shows) is exported, including the kinds DSS lists per project, and
round-trips; a write-only password is left undeclared, said in the file."""

from __future__ import annotations

import re
import secrets
import shutil
import tomllib

from tests.dataiku.e2e.conftest import world  # noqa: F401  (fixture)

from .conftest import REPO, assert_program_adopts, assert_round_trip, cli


def _populated(world, monkeypatch):  # noqa: F811
    stack = world.tmp_path / "source"
    shutil.copytree(REPO / "examples/dataiku", stack, ignore=shutil.ignore_patterns(".platforge"))
    platform = stack / "platform.toml"
    platform.write_text(re.sub(r'endpoint = ".*"', f'endpoint = "{world.url}"', platform.read_text()))
    values = [secrets.token_urlsafe(12), secrets.token_urlsafe(12)]
    monkeypatch.setenv("DATAIKU_EXAMPLE_INITIAL_PASSWORD", values[0])
    monkeypatch.setenv("DATAIKU_EXAMPLE_WAREHOUSE_PASSWORD", values[1])
    applied = cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.output
    return values


def test_dataiku_export_round_trips(world, monkeypatch):  # noqa: F811
    values = _populated(world, monkeypatch)
    out = world.tmp_path / "exported"
    mark = world.mark()
    result = cli("export", "--platform", "dataiku", "--endpoint", world.url, out)
    assert result.exit_code == 0, result.output
    assert world.writes_since(mark) == []
    texts = "".join(p.read_text() for p in out.glob("*.toml")) + result.output
    assert not any(v in texts for v in [*values, world.admin_key])
    assert "group: 2 exported, 1 left out as the platform's own (group.administrators)" in result.stdout
    assert "user: 2 exported, 1 left out as the platform's own (user.admin)" in result.stdout
    grants = tomllib.loads((out / "project_group_grant.toml").read_text())["project_group_grant"]
    assert {(g["project"], g["group"], g["run_scenarios"]) for g in grants.values()} == {
        ("SALES_MARTS", "analysts", True), ("SALES_MARTS", "data_engineers", True)}
    variables = tomllib.loads((out / "project_variables.toml").read_text())["project_variables"]["SALES_MARTS"]
    assert variables["local"] == {"alert_channel": "#sales-data"}
    (scenario,) = tomllib.loads((out / "scenario.toml").read_text())["scenario"].values()
    assert scenario["name"] == "Nightly build" and scenario["triggers"][0]["hour"] == 2
    connection = tomllib.loads((out / "connection.toml").read_text())["connection"]["warehouse"]
    assert "password" not in connection and connection["params"]["host"] == "warehouse.dev.internal"
    assert "connection.warehouse.password: not declared (a secret is never exported)" in \
        (out / "connection.toml").read_text()
    users = tomllib.loads((out / "user.toml").read_text())["user"]
    assert users["bob"]["groups"] == ["analysts", "data_engineers"] and "password" not in users["bob"]

    plan = assert_round_trip(out, world.access_log)
    adopted = tomllib.loads((out / "platform.toml").read_text())["adopt"]["objects"]
    assert len([a for a in plan["actions"] if a["op"] == "import"]) == len(adopted) == 12


def test_dataiku_export_of_a_project_kind_alone(world, monkeypatch):  # noqa: F811
    _populated(world, monkeypatch)
    out = world.tmp_path / "grants"
    result = cli("export", "--platform", "dataiku", "--endpoint", world.url, "--kinds", "project_group_grant",
                 "--match", "*analysts", out)
    assert result.exit_code == 0, result.output
    platform = tomllib.loads((out / "platform.toml").read_text())
    assert platform["adopt"]["objects"] == ["project_group_grant.analysts"]
    assert platform["external"] == {"group": ["analysts"], "project": ["SALES_MARTS"]}
    assert_round_trip(out, world.access_log)


def test_dataiku_export_as_a_pulumi_program_adopts_with_zero_writes(world, monkeypatch):  # noqa: F811
    values = _populated(world, monkeypatch)
    program_dir, toml_dir = world.tmp_path / "program", world.tmp_path / "toml"
    result = cli("export", "--format", "pulumi", "--platform", "dataiku", "--endpoint", world.url, program_dir)
    assert result.exit_code == 0, result.output
    texts = "".join(p.read_text() for p in program_dir.rglob("*") if p.is_file()) + result.output
    assert not any(v in texts for v in [*values, world.admin_key])
    assert cli("export", "--platform", "dataiku", "--endpoint", world.url, toml_dir).exit_code == 0
    adopt = tomllib.loads((toml_dir / "platform.toml").read_text())["adopt"]["objects"]
    mark = world.mark()
    assert_program_adopts(program_dir, "main", {"platforge:apiKey": world.admin_key},
                          lambda: world.writes_since(mark), adopt, env={"DATAIKU_API_KEY": None})
    assert {a.split(".")[0] for a in adopt} >= {"group", "user", "project", "scenario", "connection"}
