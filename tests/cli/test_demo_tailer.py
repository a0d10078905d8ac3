"""`platforge demo --platform tailer`, as a user runs it from a fresh clone: the embedded Tailer
sandbox, the example planned and applied, an empty second plan and a second apply that writes
nothing. Tailer has no read API, so the demo is honest about what drift can show: a configuration
paused by hand stays `not_observable` (never `in sync`), a failed run shows through the alive
probe, and an edit of the stack not applied is a declared change. No credential or secret shows."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_tailer_demo_runs_the_whole_loop_and_says_what_drift_can_and_cannot_see(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORGE_TAILER_", "RETAIL_", "TAILER_"))}
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--platform", "tailer",
                             "--stack", str(REPO / "examples/tailer"), "--output", str(tmp_path / "reports")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Embedded Tailer sandbox" in result.stdout
    assert "6 to create" in result.stdout and "No changes" in result.stdout
    assert "second apply: 0 write requests" in result.stdout
    assert "platforge cannot see this (no read API)" in result.stdout
    assert not re.search(r"(rt|key)-[A-Za-z0-9_-]{30}", result.stdout + result.stderr)  # the generated credentials
    assert "private_key" not in result.stdout + result.stderr

    report = json.loads((tmp_path / "reports/drift.json").read_text())
    found = {(f["cause"], f["address"]) for f in report["findings"]}
    assert found == {("declared_change", "table_to_storage.sales_export"),
                     *{("not_observable", a) for a in ("context.retail_dev", "storage_to_storage.stores_copy",
                                                       "storage_to_tables.orders_load", "workflow.export_after_load",
                                                       "vm_launcher.store_refresh")}}
    assert report["in_sync"] == []  # a configuration paused by hand is never reported in sync
    by_address = {f["address"]: f for f in report["findings"]}
    assert by_address["storage_to_tables.orders_load"]["run_status"]["status"] == "FAILED"
    assert by_address["workflow.export_after_load"]["run_status"]["status"] == "never_run"
    (change,) = by_address["table_to_storage.sales_export"]["changes"]
    assert (change["path"], change["old"], change["new"]) == ("destination_format", "CSV", "PARQUET")
    assert "last run (of the object" in (tmp_path / "reports/drift.md").read_text()
    assert not (REPO / "examples/tailer/.platforge").exists()
    assert 'destination_format = "CSV"' in (REPO / "examples/tailer/exports.toml").read_text()


def test_the_demo_offers_tailer_among_its_platforms(tmp_path):
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--platform", "tailor"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "studio, tailer" in result.stdout + result.stderr
