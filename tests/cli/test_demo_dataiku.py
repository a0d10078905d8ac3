"""`platforge demo --platform dataiku`, as a user runs it from a fresh clone: the embedded DSS
sandbox, the example stack planned and applied, an empty second plan, and the changes made in
DSS by hand reported under their causes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_dataiku_demo_runs_the_whole_loop_and_reports_the_out_of_band_changes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAIKU_", "DATATAILR_"))}
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--platform", "dataiku",
                             "--stack", str(REPO / "examples/dataiku"), "--output", str(tmp_path / "reports")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Embedded Dataiku DSS sandbox" in result.stdout
    assert "12 to create" in result.stdout and "No changes" in result.stdout
    assert "second apply: 0 write requests" in result.stdout

    report = json.loads((tmp_path / "reports/drift.json").read_text())
    found = {(f["cause"], f["address"]) for f in report["findings"]}
    assert found == {("out_of_band", "user.alice"), ("out_of_band", "scenario.nightly-build"),
                     ("out_of_band", "project_group_grant.sales-marts-analysts"),
                     ("missing", "instance_variable.warehouse_host"), ("unmanaged", "group.shadow-it")}
    by_address = {f["address"]: f for f in report["findings"]}
    (change,) = by_address["scenario.nightly-build"]["changes"]
    assert change["path"] == "triggers" and change["new"][0]["hour"] == 5
    assert (tmp_path / "reports/drift.html").read_text().startswith("<!DOCTYPE html>")
    assert not (REPO / "examples/dataiku/.platforge").exists()


def test_an_unknown_demo_platform_is_refused_with_the_choices(tmp_path):
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--platform", "dss"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "datatailr, dataiku" in result.stdout + result.stderr
