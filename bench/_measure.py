"""What the platform benches measure the same way: a command's wall time, CPU and peak memory,
and how a rate-limited apply spent its requests. Kept here so that every platform's table in
RESULTS.md means the same thing by "CPU" and by "share of the limit in writes"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable

#: Peak resident memory (MB) of the last command `run` waited for.
LAST_MAX_RSS_MB = [0.0]


def run(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """The command's result, wall seconds and CPU seconds: its own, from `wait4` (the sandbox is
    another process); its peak memory goes to `LAST_MAX_RSS_MB`."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(cmd, os.waitstatus_to_exitcode(status),
                                           out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    LAST_MAX_RSS_MB[0] = usage.ru_maxrss / 1024
    return done, wall, usage.ru_utime + usage.ru_stime


def checked(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-2000:])


def writes_share(answers: list[dict], wall: float, limit: float, is_read: Callable[[dict], bool],
                 endpoint: Callable[[dict], str]) -> dict:
    """What an apply spent its requests on: writes, reads, 429s, and writes per second as a share
    of the sandbox's limit (0 when it had none)."""
    throttled = sum(1 for r in answers if r["status"] == 429)
    writes = sum(1 for r in answers if r["status"] != 429 and not is_read(r))
    return {"requests": len(answers), "writes": writes, "throttled_429": throttled, "wall_s": round(wall, 1),
            "share_429": round(throttled / max(1, len(answers)), 4),
            "write_share_of_limit": round(writes / wall / limit, 3) if limit else 0.0,
            "reads_by_endpoint": dict(Counter(endpoint(r) for r in answers
                                              if r["status"] != 429 and is_read(r)).most_common(12))}


def per_object_plan(cli: list[str], stack: str, env: dict[str, str], requests: Callable[[], list[dict]],
                    endpoint: Callable[[dict], str]) -> dict:
    """One plan that reads one object per request, 10 at a time (`--refresh per-object`), as
    Terraform refreshes: the baseline a listing plan is compared with in the same run."""
    mark = len(requests())
    plan, wall, cpu = run([*cli, "plan", stack, "--refresh", "per-object"], env)
    answers = requests()[mark:]
    return {"exit": plan.returncode, "wall_s": round(wall, 1), "cpu_s": round(cpu, 2), "requests": len(answers),
            "throttled_429": sum(1 for r in answers if r["status"] == 429),
            "by_endpoint": dict(Counter(endpoint(r) for r in answers).most_common(12))}


_PHASES = r"""
import json, sys, time
t0 = time.process_time()
from platforge.core.engine import Engine, make_backend
from platforge.core.stack import load_stack
from platforge.provider import get_platform
t1 = time.process_time()
stack, platform = load_stack(sys.argv[1], get_platform)
client = platform.connect(stack.platform_config)
backend = make_backend(stack, platform, client)
t2 = time.process_time()
plan = Engine(stack, platform, client, backend).plan()
t3 = time.process_time()
print(json.dumps({"imports_cpu_s": round(t1 - t0, 2), "load_and_login_cpu_s": round(t2 - t1, 2),
                  "plan_cpu_s": round(t3 - t2, 2), "has_changes": plan.has_changes}))
"""


def plan_phases(stack: str, env: dict[str, str]) -> dict:
    """Where a plan's CPU goes, measured in a fresh interpreter as `bench/plan_cpu.py` measures
    Datatailr's: the imports, reading the stack and logging in, and `Engine.plan` itself (the
    figure issue 11's 2 s target is held to), each as `time.process_time()`."""
    done = subprocess.run([sys.executable, "-c", _PHASES, stack], env=env, capture_output=True, text=True)
    checked(done)
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def timed_plans(cli: list[str], stack: str, env: dict[str, str], requests: Callable[[], list[dict]],
                endpoint: Callable[[dict], str], repeats: int) -> list[dict]:
    """`repeats` no-op plans, each in a fresh process: exit, wall, CPU, peak memory and the
    requests it made by endpoint (from the sandbox's access log)."""
    runs = []
    for _ in range(repeats):
        mark = len(requests())
        plan, wall, cpu = run([*cli, "plan", stack], env)
        counted = Counter(endpoint(r) for r in requests()[mark:])
        runs.append({"exit": plan.returncode, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                     "max_rss_mb": round(LAST_MAX_RSS_MB[0], 1), "requests": sum(counted.values()),
                     "by_endpoint": dict(sorted(counted.items()))})
        if plan.returncode != 0:
            print(plan.stdout[-2000:], plan.stderr[-2000:], file=sys.stderr)
    return runs
