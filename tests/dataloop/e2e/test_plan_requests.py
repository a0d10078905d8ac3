"""The request shape of a no-op Dataloop plan, at a size CI affords: `bench/dataloop_plan.py` run
as a user runs it (its own sandbox process, 150 objects in three projects, pages of 5 so that the paging shows),
and its count read back from the report. A kind that starts reading one object per GET, or a
listing that stops following its pages, changes the counts here before it shows in a bench."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_a_no_op_plan_costs_the_listings_and_their_pages_and_no_get_per_object(tmp_path):
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(REPO / "bench/dataloop_plan.py"), "--n", "150", "--repeats", "1",
                           "--page-size", "5", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    (plan,) = report["plans"]
    assert plan["exit"] == 0
    assert report["mix"]["dataset"] == 41 and report["mix"]["project"] == 3
    # Members are listed project by project (an IAM listing takes one project); every `…/query`
    # kind is one query for the three projects together: 41 datasets at 5 a page are 9 pages
    # (one listing per project would be 3 + 3 + 3), services one page and six triggers two
    # (both on /query/faas), pipelines one.
    assert plan["by_endpoint"] == {
        "POST /token": 1, "GET /users/me": 1, "GET /orgs": 1, "GET /orgs/{id}/members": 1,
        "GET /orgs/{id}/integrations": 1, "GET /projects": 1, "GET /projects/{id}/members": 3,
        "POST /datasets/query": 9, "POST /query/faas": 3, "POST /pipelines/query": 1}
    assert plan["requests"] == report["expected_requests"] == 22 < report["n"]
    assert report["requests_not_listings"] == {}
