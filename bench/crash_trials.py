"""Crash trials at bench size: kill `platforge apply` (SIGKILL) at random moments and at fixed
points, in create, update and prune stacks, run it again, and count what went wrong (see
tests/reliability/crashes.py for what each trial checks).

    .venv/bin/python bench/crash_trials.py [TRIALS_PER_SCENARIO]    # default 20 (60 random + 9 fixed)

Prints one line per trial and a JSON summary, which bench/RESULTS.md quotes.
"""

from __future__ import annotations

import json
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from platforge.provider._kit.sandbox.serve import EmbeddedServer  # noqa: E402
from platforge.provider.datatailr.sandbox.app import create_app  # noqa: E402
from platforge.provider.datatailr.sandbox.config import SandboxConfig  # noqa: E402

from tests.reliability.crashes import POINTS, SCENARIOS, Trial, TrialResult, summarise  # noqa: E402


class Box:
    def __init__(self, root: Path) -> None:
        self.admin_user = "admin"
        self.admin_password = secrets.token_urlsafe(12)
        self.access_log = str(root / "access.jsonl")
        app = create_app(SandboxConfig(db_path=str(root / "sandbox.db"), admin_password=self.admin_password,
                                       access_log=self.access_log))
        self.server = EmbeddedServer(app).start()
        self.url = self.server.url


def show(n: int, result: TrialResult) -> None:
    print(f"{n:3d} {result.scenario:6s} {result.kill:28s} {result.writes_before_kill:2d} writes done, "
          f"{result.writes_to_finish:2d} left; exits {result.exit_codes}, second apply {result.second_apply_writes} "
          f"writes, duplicates {len(result.duplicates)}, orphans {len(result.orphans)}"
          f"{', ' + result.state_problem if result.state_problem else ''}", flush=True)


def main() -> None:
    per_scenario = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    root = Path(tempfile.mkdtemp(prefix="platforge-crash-"))
    box = Box(root)
    results: list[TrialResult] = []
    started = time.monotonic()
    try:
        for scenario in SCENARIOS:
            rng = random.Random(f"bench-{scenario}")
            writes = Trial(box, root, f"calib-{scenario}", scenario).calibrate()
            print(f"{scenario}: an uninterrupted apply makes {writes} writes", flush=True)
            for n in range(per_scenario):
                results.append(Trial(box, root, f"{scenario[0]}{n}", scenario).run(rng, writes))
                show(len(results), results[-1])
            for point in POINTS:
                for nth in (1, 3):
                    results.append(Trial(box, root, f"{scenario[0]}-{point}-{nth}", scenario).run(point=point, nth=nth))
                    show(len(results), results[-1])
    finally:
        box.server.stop()
    summary = summarise(results)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
