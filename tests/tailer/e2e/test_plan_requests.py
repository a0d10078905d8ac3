"""The request shape of Tailer plans and applies, at a size CI affords: `bench/tailer_plan.py` run
as a user runs it (its own sandbox process, 40 configurations of every kind, a context among them),
its counts read back from the report. A plan that starts reading Tailer (there is nothing to read),
a client that logs in eagerly, or an apply that redeploys what did not change, changes the counts
here before it shows in a bench."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_a_no_op_plan_makes_no_request_and_one_change_is_one_deploy(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(REPO / "bench/tailer_plan.py"), "--n", "40", "--repeats", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["n"] == 40 and report["mix"]["context"] == 1 and set(report["mix"]) == {
        "context", "storage_to_storage", "storage_to_tables", "table_to_storage", "workflow", "vm_launcher"}
    # Creating: one deploy per configuration, one token exchange for the whole run, nothing else.
    assert report["create_apply"]["by_endpoint"] == {"POST /securetoken/v1/token": 1, "PUT /configuration/v2": 40}
    (plan,) = report["plans"]
    assert plan["exit"] == 0 and plan["requests"] == 0 and plan["by_endpoint"] == {}
    assert report["one_change_apply"] == {**report["one_change_apply"], "exit": 0, "by_endpoint": {
        "POST /securetoken/v1/token": 1, "PUT /configuration/v2": 1}}
    assert report["plan_after_exit"] == 0 and report["plan_after_requests"] == 0
