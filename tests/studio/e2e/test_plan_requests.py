"""The request shape of a no-op Studio plan, at a size CI affords: `bench/studio_plan.py` run as
a user runs it (its own sandbox process, 60 objects, a pipeline `limit` of 5 so that the
doubling shows), and its count read back from the report. A kind that starts reading one object
per GET (`pipeline/schedule` for each schedule, say), or a member look-up that lists every group
of the team, changes the counts here before it shows in a bench."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_a_no_op_plan_costs_the_listings_one_member_listing_per_group_and_no_get_per_object(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(REPO / "bench/studio_plan.py"), "--n", "60", "--repeats", "1",
                           "--page-size", "5", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    (plan,) = report["plans"]
    assert plan["exit"] == 0
    assert report["mix"] == {"access_group": 3, "access_group_member": 24, "access_rule": 18, "pipeline_schedule": 15}
    # 15 pipelines read with limit 5, 10, 20: the third answer is short. The `everyone` group the
    # users were seeded in is [external]: its members are never listed.
    assert plan["by_endpoint"] == {
        "GET /datachain/rbac/access-groups/": 2, "GET /datachain/rbac/access-groups/{id}/members/": 3,
        "GET /datachain/rbac/access-rules/": 1, "GET /datachain/pipeline/schedules": 1,
        "GET /datachain/pipeline/list": 3}
    assert plan["requests"] == report["expected_requests"] == 10 < report["n"]
    assert report["requests_not_listings"] == {}
