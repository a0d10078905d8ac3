"""`platforge drift --format json`, as the command line writes it against real sandboxes, is valid
against the published schema (docs/schemas/drift.schema.json) for findings of every cause:
out_of_band (fields and a secret by fingerprint), missing, declared_change and unmanaged from a
Datatailr sandbox, not_observable with the last run's status from a Tailer sandbox. A broken
document is rejected, so the validation cannot pass vacuously."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from platforge.core.drift import DRIFT_FORMAT
from tests.datatailr.e2e.conftest import World as DatatailrWorld
from tests.tailer.e2e.cases import CASES, SECRET_ENV
from tests.tailer.e2e.conftest import World as TailerWorld

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "drift.schema.json"
CAUSES = {"out_of_band", "missing", "declared_change", "unmanaged", "not_observable"}


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture
def datatailr(sandbox_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DatatailrWorld:
    return DatatailrWorld(sandbox_factory(access_log=True), tmp_path / "datatailr", monkeypatch)


@pytest.fixture
def tailer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TailerWorld]:
    (tmp_path / "tailer").mkdir()
    world = TailerWorld(tmp_path / "tailer", monkeypatch)
    yield world
    world.stop()


def drifted_stack(world: DatatailrWorld, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stack applied, then changed behind its back (and in its own files) so that drift finds
    out_of_band (kv.config's value, secret.token by fingerprint), missing (kv.gone),
    declared_change (kv.pending) and unmanaged (group.theirs) objects."""
    world.tmp_path.mkdir(exist_ok=True)
    monkeypatch.setenv("DRIFT_JSON_SECRET", "s-" + secrets.token_hex(12))
    stack = world.stack("""
    [group.analysts]
    [group.doomed]
    [kv.config]
    value = "first"
    [kv.gone]
    value = "soon"
    [secret.token]
    value = { from_env = "DRIFT_JSON_SECRET" }
    """)
    applied = world.cli("apply", stack, "--yes")
    assert applied.exit_code == 0, applied.stderr
    with httpx.Client(base_url=world.sandbox.url) as http:
        http.post("/login", auth=(world.sandbox.admin_user, world.sandbox.admin_password)).raise_for_status()
        http.put("/api/kv/put", json={"key": "config", "value": "changed-by-hand", "environment": "dev"}).raise_for_status()
        http.put("/api/kv/put", json={"key": "token", "value": "rotated-" + secrets.token_hex(6), "secure": True,
                                      "environment": "dev"}).raise_for_status()
        http.request("DELETE", "/api/kv/rm", json={"key": "gone", "environment": "dev"}).raise_for_status()
        http.post("/api/group/add", json={"group_name": "theirs"}).raise_for_status()
    main = stack / "main.toml"
    main.write_text(main.read_text() + '[kv.pending]\nvalue = "not applied"\n', encoding="utf-8")
    return stack


def datatailr_drift(world: DatatailrWorld, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    stack = drifted_stack(world, monkeypatch)
    mark = world.mark()
    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 2, result.stderr
    document = json.loads(result.stdout)
    # what the report says it sent is what the sandbox received
    assert document["requests"] == len(world.log_lines()[mark:]) > 0
    return document


def tailer_drift(world: TailerWorld, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A Tailer workflow (a kind the platform cannot show) applied, with a failed last run."""
    monkeypatch.setenv(SECRET_ENV, "s-" + secrets.token_hex(12))
    case = CASES["workflow"]
    stack = world.stack(case.body, files=case.files)
    assert world.cli("apply", stack, "--yes").exit_code == 0
    world.seed_run(case.configuration_type, case.deployed_id, "FAILED")
    mark = world.mark()
    result = world.cli("drift", stack, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    # the login and the probe (on the ops API) both count: the sandbox's log agrees
    assert document["requests"] == len(world.requests_since(mark)) >= 2
    return document


def test_real_drift_json_of_every_cause_validates_against_the_schema(datatailr, tailer, monkeypatch):
    dt = datatailr_drift(datatailr, monkeypatch)
    tl = tailer_drift(tailer, monkeypatch)

    for document in (dt, tl):
        assert document["format"] == DRIFT_FORMAT == schema()["properties"]["format"]["const"]
        assert validate(document) == []
        # the run's own facts, counted by the client and timed by the command
        assert isinstance(document["requests"], int) and document["requests"] > 0
        assert isinstance(document["duration_seconds"], float) and document["duration_seconds"] > 0

    found = {(f["cause"], f["address"]) for f in dt["findings"]}
    assert found == {("out_of_band", "kv.config"), ("out_of_band", "secret.token"), ("missing", "kv.gone"),
                     ("declared_change", "kv.pending"), ("unmanaged", "group.theirs")}
    secret = next(f for f in dt["findings"] if f["address"] == "secret.token")
    assert secret["detection"] == "fingerprint"
    assert [(c["old"], c["new"], c["sensitive"]) for c in secret["changes"]] == [("(sensitive)", "(sensitive)", True)]
    config = next(f for f in dt["findings"] if f["address"] == "kv.config")
    assert [(c["path"], c["old"], c["new"]) for c in config["changes"]] == [("value", "first", "changed-by-hand")]

    (probed,) = tl["findings"]
    assert probed["cause"] == "not_observable" and probed["run_status"]["status"] == "FAILED"
    assert probed["run_status"]["run_id"]
    assert {f["cause"] for f in dt["findings"] + tl["findings"]} == CAUSES

    # every property the producer wrote is one the schema describes (no undocumented field)
    described = set(schema()["properties"])
    assert set(dt) <= described and set(tl) <= described
    finding_props = set(schema()["$defs"]["finding"]["properties"])
    assert all(set(f) <= finding_props for f in dt["findings"] + tl["findings"])


@pytest.mark.parametrize("breakage", ["format", "cause", "run_status", "secret_leak", "requests"])
def test_the_schema_rejects_a_broken_real_document(datatailr, monkeypatch, breakage):
    document = datatailr_drift(datatailr, monkeypatch)
    broken = copy.deepcopy(document)
    if breakage == "format":
        broken["format"] = "platforge.drift/v3"
    elif breakage == "cause":
        broken["findings"][0]["cause"] = "vanished"
    elif breakage == "run_status":
        broken["findings"][0]["run_status"] = {"status": "FAILED"}  # run_id and at are required
    elif breakage == "secret_leak":
        secret = next(f for f in broken["findings"] if f["address"] == "secret.token")
        secret["changes"][0]["new"] = "the-plain-value"
    else:
        broken["requests"] = -1
    assert validate(document) == []
    assert validate(broken) != []
