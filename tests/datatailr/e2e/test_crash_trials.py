"""Kill `platforge apply` at random moments and run it again (issue 8: a killed apply, run again,
converges with no duplicate and no orphan). CI runs a few trials; `bench/crash_trials.py` runs
the full count."""

from __future__ import annotations

import os
import random

from .crash_trials import calibrate, run_trial, summarise

TRIALS = int(os.environ.get("PLATFORGE_CRASH_TRIALS", "4"))


def test_killed_applies_converge_without_duplicates_or_orphans(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(access_log=True)
    rng = random.Random(20261130)
    writes = calibrate(sandbox, tmp_path)
    results = [run_trial(sandbox, tmp_path, f"t{n}", rng, writes=writes) for n in range(TRIALS)]
    summary = summarise(results)
    assert summary["interrupted_mid_apply"] >= 1, summary  # the trials must really interrupt writes
    assert summary["converged"] == TRIALS, [r.exit_codes for r in results]
    assert summary["duplicates"] == 0, summary
    assert summary["orphans"] == 0, [r.orphans for r in results]
