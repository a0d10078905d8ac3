"""Crash trials at bench size: kill `platforge apply` (SIGKILL) at random moments, run it again,
and count duplicates and orphans (see tests/datatailr/e2e/crash_trials.py for what each trial checks).

    .venv/bin/python bench/crash_trials.py [TRIALS]     # default 25

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

from tests.datatailr.e2e.crash_trials import calibrate, run_trial, summarise  # noqa: E402


class Box:
    def __init__(self, root: Path) -> None:
        self.admin_user = "admin"
        self.admin_password = secrets.token_urlsafe(12)
        self.access_log = str(root / "access.jsonl")
        app = create_app(SandboxConfig(db_path=str(root / "sandbox.db"), admin_password=self.admin_password,
                                       access_log=self.access_log))
        self.server = EmbeddedServer(app).start()
        self.url = self.server.url


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    root = Path(tempfile.mkdtemp(prefix="platforge-crash-"))
    box = Box(root)
    rng = random.Random(7)
    results = []
    started = time.monotonic()
    try:
        writes = calibrate(box, root)
        print(f"an uninterrupted apply makes {writes} writes; kills fall between the first and the last", flush=True)
        for n in range(trials):
            result = run_trial(box, root, f"c{n}", rng, writes=writes)
            results.append(result)
            print(f"trial {n:2d}: killed after {result.killed_after:.2f}s with {result.writes_before_kill} writes done, "
                  f"{result.writes_to_finish} left; exit codes {result.exit_codes}, duplicates {result.duplicates}, "
                  f"orphans {len(result.orphans)}", flush=True)
    finally:
        box.server.stop()
    summary = summarise(results)
    summary["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
