"""`platforge demo --platform studio`, as a user runs it from a fresh clone: the embedded Studio
sandbox, the users and the pipeline the example names made first (platforge manages neither),
the example planned and applied, an empty second plan and a second apply that writes nothing,
and the changes made in Studio by hand reported under their causes, without the token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_studio_demo_runs_the_whole_loop_and_reports_the_out_of_band_changes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATACHAIN_", "PLATFORGE_STUDIO_"))}
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--platform", "studio",
                             "--stack", str(REPO / "examples/studio"), "--output", str(tmp_path / "reports")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Embedded DataChain Studio sandbox" in result.stdout
    assert "7 to create" in result.stdout and "No changes" in result.stdout
    assert "second apply: 0 write requests" in result.stdout
    assert not re.search(r"isat_[A-Za-z0-9_-]{20}", result.stdout + result.stderr)  # the generated token

    report = json.loads((tmp_path / "reports/drift.json").read_text())
    found = {(f["cause"], f["address"]) for f in report["findings"]}
    assert found == {("out_of_band", "access_group_member.ml-bob"),
                     ("out_of_band", "pipeline_schedule.nightly-training"),
                     ("missing", "access_rule.carol-reads-models"), ("unmanaged", "access_group.shadow-it")}
    by_address = {f["address"]: f for f in report["findings"]}
    (change,) = by_address["pipeline_schedule.nightly-training"]["changes"]
    assert (change["path"], change["old"], change["new"]) == ("cron_expression", "0 2 * * *", "0 5 * * *")
    (change,) = by_address["access_group_member.ml-bob"]["changes"]
    assert (change["path"], change["old"], change["new"]) == ("role", "write", "read")
    assert not re.search(r"isat_", (tmp_path / "reports/drift.json").read_text())
    assert not (REPO / "examples/studio/.platforge").exists()
    assert 'pipeline = "rathe-kyat"' in (REPO / "examples/studio/pipelines.toml").read_text()


def test_the_demo_offers_studio_among_its_platforms(tmp_path):
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--platform", "datachain"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "dataloop, studio" in result.stdout + result.stderr
