"""`platforge export` on Dataloop: the organisation the example stack applied (members, an
integration whose options are a secret, a project with its members, a dataset, a service, a
trigger and a pipeline) is exported project by project and round-trips; the integration, whose
options Dataloop never shows, is left out with the reason and named as external."""

from __future__ import annotations

import tomllib

from tests.dataloop.e2e.conftest import ADMIN, SECRET_MARKER, world  # noqa: F401  (fixture)
from tests.dataloop.e2e.test_example_dataloop import example_against

from .conftest import assert_program_adopts, assert_round_trip, cli


def _reads(line) -> bool:
    path = str(line.get("path", ""))
    return line["method"] == "GET" or path.endswith("/query") or path.endswith("/query/faas") or path.startswith("/token")


def _populated(world, monkeypatch):  # noqa: F811
    stack, package = example_against(world, monkeypatch)
    applied = cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.output
    return package


def test_dataloop_export_round_trips(world, monkeypatch):  # noqa: F811
    package = _populated(world, monkeypatch)
    out = world.tmp_path / "exported"
    mark = world.mark()
    result = cli("export", "--platform", "dataloop", "--endpoint", world.url, "--option", "org=acme", out)
    assert result.exit_code == 0, result.output
    assert world.writes_since(mark) == []
    texts = "".join(p.read_text() for p in out.glob("*.toml")) + result.output
    assert SECRET_MARKER not in texts and world.password not in texts
    platform = tomllib.loads((out / "platform.toml").read_text())
    assert platform["platform"]["org"] == "acme"
    assert platform["external"] == {"integration": ["openai-key"]}
    assert "left out integration.openai-key: the platform never shows its options" in result.stdout
    assert "integration.openai-key: the platform never shows its options" in (out / "integration.toml").read_text()
    members = tomllib.loads((out / "project_member.toml").read_text())["project_member"]
    assert {(m["email"], m["role"]) for m in members.values()} == {
        ("alice@example.com", "owner"), ("bob@example.com", "engineer"), ("carol@example.com", "annotator")}
    assert f"project_member.vision-prod/{ADMIN}" in result.stdout  # the project's creator: Dataloop's own
    (service,) = tomllib.loads((out / "service.toml").read_text())["service"].items()
    assert service[0] == "detector"  # a trigger names its service by table name
    assert service[1]["package_id"] == package and service[1]["secrets"] == ["openai-key"]
    assert service[1]["runtime"]["autoscaler"]["queue_length"] == 20
    trigger = tomllib.loads((out / "trigger.toml").read_text())["trigger"]["nightly"]
    assert (trigger["service"], trigger["cron"]) == ("detector", "0 2 * * *")
    pipeline = tomllib.loads((out / "pipeline.toml").read_text())["pipeline"]["ingest"]
    assert pipeline["connections"] == [{"source": "incoming", "source_port": "item", "target": "detect",
                                        "target_port": "item"}]
    dataset = tomllib.loads((out / "dataset.toml").read_text())["dataset"]["raw-images"]
    assert dataset["expiration_days"] == 90 and "deletion_protection" not in dataset  # protected by default
    assert "dataset.raw-images: driver left to the platform" in result.stdout

    plan = assert_round_trip(out, world.access_log, reads=_reads)
    assert len([a for a in plan["actions"] if a["op"] == "import"]) == len(platform["adopt"]["objects"]) == 12


def test_dataloop_export_of_project_kinds_finds_the_projects_itself(world, monkeypatch):  # noqa: F811
    _populated(world, monkeypatch)
    out = world.tmp_path / "vision"
    first = cli("export", "--platform", "dataloop", "--endpoint", world.url, "--option", "org=acme",
                "--kinds", "dataset,pipeline", out)
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in out.glob("*.toml")) == ["dataset.toml", "pipeline.toml", "platform.toml"]
    assert tomllib.loads((out / "platform.toml").read_text())["external"] == {"project": ["vision-prod"]}
    assert_round_trip(out, world.access_log, reads=_reads)
    second = cli("export", "--kinds", "project", out)
    assert second.exit_code == 0, second.output
    assert tomllib.loads((out / "platform.toml").read_text()).get("external", {}) == {}
    plan = assert_round_trip(out, world.access_log, reads=_reads)
    assert [a["address"] for a in plan["actions"] if a["op"] == "import"] == ["project.vision-prod"]


def test_dataloop_export_as_a_pulumi_program_adopts_with_zero_writes(world, monkeypatch):  # noqa: F811
    _populated(world, monkeypatch)
    program_dir, toml_dir = world.tmp_path / "program", world.tmp_path / "toml"
    target = ("--platform", "dataloop", "--endpoint", world.url, "--option", "org=acme")
    result = cli("export", "--format", "pulumi", *target, program_dir)
    assert result.exit_code == 0, result.output
    texts = "".join(p.read_text() for p in program_dir.rglob("*") if p.is_file()) + result.output
    assert SECRET_MARKER not in texts and world.password not in texts
    assert "Left out: integration.openai-key: the platform never shows its options" in texts
    assert cli("export", *target, toml_dir).exit_code == 0
    adopt = tomllib.loads((toml_dir / "platform.toml").read_text())["adopt"]["objects"]
    mark = world.mark()
    assert_program_adopts(program_dir, "main", {"platforge:email": ADMIN, "platforge:password": world.password},
                          lambda: world.writes_since(mark), adopt,
                          env={"DATALOOP_EMAIL": None, "DATALOOP_PASSWORD": None})
    assert {a.split(".")[0] for a in adopt} >= {"project", "dataset", "service", "trigger", "pipeline"}
