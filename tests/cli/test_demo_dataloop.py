"""`platforge demo --platform dataloop`, as a user runs it from a fresh clone: the embedded
Dataloop sandbox, a project holding a pushed package (which the example adopts), the example
planned and applied, an empty second plan and a second apply that writes nothing, and the
changes made in Dataloop by hand reported under their causes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_dataloop_demo_runs_the_whole_loop_and_reports_the_out_of_band_changes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATALOOP_", "DATAIKU_", "DATATAILR_"))}
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--platform", "dataloop",
                             "--stack", str(REPO / "examples/dataloop"), "--output", str(tmp_path / "reports")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Embedded Dataloop sandbox" in result.stdout
    assert "1 to import, 11 to create" in result.stdout and "No changes" in result.stdout
    assert "second apply: 0 write requests" in result.stdout
    assert "sk-demo-" not in result.stdout + result.stderr  # the integration's generated secret

    report = json.loads((tmp_path / "reports/drift.json").read_text())
    found = {(f["cause"], f["address"]) for f in report["findings"]}
    assert found == {("out_of_band", "project_member.vision-bob"), ("out_of_band", "trigger.nightly"),
                     ("out_of_band", "pipeline.ingest"), ("missing", "project_member.vision-carol"),
                     ("unmanaged", "dataset.vision-prod/scratch"), ("unmanaged", "org_member.admin@sandbox.local")}
    by_address = {f["address"]: f for f in report["findings"]}
    (change,) = by_address["trigger.nightly"]["changes"]
    assert (change["path"], change["old"], change["new"]) == ("cron", "0 2 * * *", "0 5 * * *")
    (change,) = by_address["project_member.vision-bob"]["changes"]
    assert (change["path"], change["new"]) == ("role", "annotator")
    assert (tmp_path / "reports/drift.html").read_text().startswith("<!DOCTYPE html>")
    assert not (REPO / "examples/dataloop/.platforge").exists()
    assert 'package_id = "65f0c0ffee5eed00000000a1"' in (REPO / "examples/dataloop/project.toml").read_text()


def test_the_demo_offers_dataloop_among_its_platforms(tmp_path):
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--platform", "dtlpy"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "datatailr, dataiku, dataloop" in result.stdout + result.stderr
