"""Issue 11's crash suite: SIGKILL `platforge apply` at random moments and at fixed points, in
create, update and prune stacks, then run it again (see crashes.py for what every trial
checks). CI runs 21 random trials and 9 fixed-point ones; `bench/crash_trials.py` runs more."""

from __future__ import annotations

import os
import random

import pytest

from .crashes import POINTS, SCENARIOS, Trial, summarise

RANDOM_TRIALS = int(os.environ.get("PLATFORGE_CRASH_TRIALS", "7"))  # per scenario


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_random_kills_converge_without_duplicates_orphans_or_damage(sandbox_factory, tmp_path, scenario):
    sandbox = sandbox_factory(access_log=True)
    rng = random.Random(f"crash-{scenario}")
    writes = Trial(sandbox, tmp_path, "calib", scenario).calibrate()
    assert writes >= 5, writes
    results = [Trial(sandbox, tmp_path, f"{scenario[0]}{n}", scenario).run(rng, writes) for n in range(RANDOM_TRIALS)]
    summary = summarise(results)
    detail = [(r.kill, r.exit_codes, r.second_apply_writes, r.duplicates, r.orphans, r.state_problem)
              for r in results if not r.clean]
    assert summary["killed"] == RANDOM_TRIALS, [r.victim_exit for r in results]
    assert summary["interrupted_mid_apply"] >= 1, summary  # the kills must really fall mid-apply
    assert summary["clean"] == RANDOM_TRIALS, detail


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("point", POINTS)
def test_kills_at_fixed_points_converge(sandbox_factory, tmp_path, scenario, point):
    sandbox = sandbox_factory(access_log=True)
    nth = {"mid-state-write": 2, "after-journal": 1, "after-request": 2}[point]
    result = Trial(sandbox, tmp_path, "f", scenario).run(point=point, nth=nth)
    assert result.killed, f"the kill point {point}#{nth} never fired (exit {result.victim_exit})"
    assert result.writes_to_finish > 0, "the kill left nothing for the rerun to do"
    assert result.clean, (result.exit_codes, result.second_apply_writes, result.duplicates, result.orphans,
                          result.state_problem)
