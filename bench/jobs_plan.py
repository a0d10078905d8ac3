"""A no-op plan over 500 Datatailr jobs: one `job ls` per page, never one `job get` per job.

A sandbox process (`python -m platforge sandbox datatailr`, on a free port, with an access log)
gets N jobs (a fifth of them workflows with three tasks and a schedule, the rest services),
saved directly through the client. A stack declares each of them the same way; one apply with
`--adopt '*'` takes them over (it must write nothing: they are as declared), and then a no-op
plan is timed several times in fresh processes, counting its requests by endpoint.

    python bench/jobs_plan.py                 # 500 jobs, 3 plans
    python bench/jobs_plan.py --jobs 100      # CI size
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox import Sandbox  # noqa: E402  (the benches' shared sandbox process)

REPO = Path(__file__).resolve().parent.parent


def stack_text(url: str, jobs: int) -> str:
    lines = [f'[platform]\ntype = "datatailr"\nendpoint = "{url}"\n']
    for n in range(jobs):
        if n % 5 == 0:
            lines.append(f'[workflow.flow-{n:04d}]\nstate = "stopped"\n[workflow.flow-{n:04d}.schedule]\n'
                         f'at_hours = [{n % 24}]\nweekdays = ["Mon", "Fri"]\n'
                         f'[workflow.flow-{n:04d}.tasks.fetch]\nentrypoint = "etl.tasks:fetch"\n'
                         f'[workflow.flow-{n:04d}.tasks.clean]\nentrypoint = "etl.tasks:clean"\n'
                         f'depends_on = ["fetch"]\n'
                         f'[workflow.flow-{n:04d}.tasks.load]\nentrypoint = "etl.tasks:load"\n'
                         f'depends_on = ["clean"]\nmemory = "1g"\n')
        else:
            lines.append(f'[service.svc-{n:04d}]\nentrypoint = "svc.main:run"\nmemory = "256m"\ncpus = 0.5\n'
                         f'env = {{ INDEX = "{n}" }}\n[service.svc-{n:04d}.image]\nrequirements = ["flask"]\n')
    return "\n".join(lines)


def requests_since(log: Path, mark: int) -> tuple[int, Counter[str]]:
    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines[mark:] if line.strip()]
    return len(lines), Counter(f"{r['method']} {r['path']}" for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-jobs-bench-"))
    password = secrets.token_urlsafe(12)
    env = {**os.environ, "DATATAILR_USER_NAME": "admin", "DATATAILR_USER_PASSWORD": password}
    server = Sandbox(scratch, password)
    url, log = server.url, server.log
    try:
        stack = scratch / "stack"
        stack.mkdir()
        (stack / "main.toml").write_text(stack_text(url, args.jobs))
        started = time.perf_counter()
        created = subprocess.run([sys.executable, "-m", "platforge", "apply", str(stack), "--yes"], env=env,
                                 capture_output=True, text=True)
        if created.returncode != 0:
            raise SystemExit(created.stdout[-2000:] + created.stderr[-2000:])
        create_s = time.perf_counter() - started
        # The same jobs, adopted by a second stack that never created them: no write.
        state = stack / ".platforge"
        for path in sorted(state.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        mark, _ = requests_since(log, 0)
        adopted = subprocess.run([sys.executable, "-m", "platforge", "apply", str(stack), "--yes", "--adopt", "*"],
                                 env=env, capture_output=True, text=True)
        mark2, by_endpoint = requests_since(log, mark)
        adopt_writes = sum(n for k, n in by_endpoint.items() if not k.startswith("GET") and k != "POST /login")
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            plan = subprocess.run([sys.executable, "-m", "platforge", "plan", str(stack)], env=env,
                                  capture_output=True, text=True)
            wall = time.perf_counter() - t0
            mark3, counts = requests_since(log, mark2)
            mark2 = mark3
            runs.append({"exit": plan.returncode, "wall_s": round(wall, 2), "requests": dict(sorted(counts.items()))})
        report = {
            "jobs": args.jobs, "workflows": (args.jobs + 4) // 5, "create_apply_s": round(create_s, 1),
            "adopt_exit": adopted.returncode, "adopt_writes": adopt_writes,
            "plan_wall_s_median": statistics.median(r["wall_s"] for r in runs), "plans": runs,
        }
        print(json.dumps(report, indent=2))
        ok = adopted.returncode == 0 and adopt_writes == 0 and all(r["exit"] == 0 for r in runs) and all(
            r["requests"].get("GET /api/job/get", 0) == 0 for r in runs)
        raise SystemExit(0 if ok else 1)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
