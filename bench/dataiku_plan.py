"""A no-op plan over 1,000 Dataiku DSS objects: one listing per kind, one read per settings
document that no listing carries, never one GET per object where a list exists.

A DSS sandbox process (`python -m platforge sandbox dataiku`, on a free port, with an access
log) gets N objects in a team's mix through one `platforge apply`: a twentieth each of groups,
projects and connections, a tenth instance variables, and per project two group grants, its
variables and three scenarios with a daily trigger; users are the rest (45%). The sandbox is
then restarted on the same database, optionally with `--latency-ms` (a remote DSS), the state
retargeted to its new port, and a no-op plan is timed several times in fresh processes, counting its requests by endpoint (project keys
and scenario ids folded into `{project}` and `{id}`).

    python bench/dataiku_plan.py                          # 1,000 objects, 3 plans, no latency
    python bench/dataiku_plan.py --latency-ms 50          # every request 50 ms slower
    python bench/dataiku_plan.py --n 200 --repeats 1      # CI size
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
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

PREFIX = "/public/api"
#: What a plan may read once per project or per scenario: documents no listing carries. Any
#: other path with a name in it would be one GET per object where a listing exists.
PER_DOCUMENT = {"GET /projects/{project}/permissions", "GET /projects/{project}/variables/",
                "GET /projects/{project}/scenarios/", "GET /projects/{project}/scenarios/{id}"}


def mix(n: int) -> dict[str, int]:
    projects = max(1, n // 20)
    counts = {"group": max(1, n // 20), "project": projects, "project_group_grant": 2 * projects,
              "project_variables": projects, "instance_variable": max(1, n // 10),
              "connection": max(1, n // 20), "scenario": 3 * projects}
    counts["user"] = max(1, n - sum(counts.values()))
    return counts


def stack_text(url: str, n: int) -> str:
    counts = mix(n)
    groups = [f"team_{g:03d}" for g in range(counts["group"])]
    out = [f'[platform]\ntype = "dataiku"\nendpoint = "{url}"\n']
    for g, name in enumerate(groups):
        out.append(f'[group.{name}]\ndescription = "Team {g}"\nmay_create_projects = {str(g % 2 == 0).lower()}\n')
    for u in range(counts["user"]):
        member_of = sorted({groups[u % len(groups)], groups[(u * 7) % len(groups)]})
        out.append(f'[user.u{u:04d}]\ndisplay_name = "User {u}"\nemail = "u{u:04d}@example.com"\n'
                   f'groups = {json.dumps(member_of)}\ninitial_password = {{ from_env = "BENCH_USER_PASSWORD" }}\n')
    for p in range(counts["project"]):
        key = f"P{p:03d}"
        out.append(f'[project.{key}]\nname = "Project {p}"\ntags = ["bench", "t{p % 5}"]\n')
        for i, (group, flags) in enumerate(((groups[p % len(groups)], "write_project_content = true\n"),
                                            (groups[(p + 1) % len(groups)], "read_dashboards = true\n"))):
            out.append(f'[project_group_grant.{key}-{i}]\nproject = "{key}"\ngroup = "{group}"\n'
                       f'read_project_content = true\nrun_scenarios = true\n{flags}')
        out.append(f'[project_variables.{key}]\nstandard = {{ schema = "s{p}", days = {p % 30} }}\n'
                   f'local = {{ debug = false }}\n')
        for s in range(3):
            out.append(f'[scenario.{key}-s{s}]\nproject = "{key}"\nname = "Build {s}"\nactive = true\n'
                       f'[[scenario.{key}-s{s}.triggers]]\nfrequency = "Daily"\nhour = {(p + s) % 24}\n'
                       f'minute = {(7 * s) % 60}\ntimezone = "UTC"\n')
    for v in range(counts["instance_variable"]):
        out.append(f'[instance_variable.var_{v:03d}]\nvalue = {{ index = {v}, on = true }}\n')
    for c in range(counts["connection"]):
        out.append(f'[connection.pg_{c:03d}]\ntype = "PostgreSQL"\ndescription = "warehouse {c}"\n'
                   f'params = {{ host = "db{c}.internal", port = 5432, db = "analytics" }}\n'
                   f'password = {{ from_env = "BENCH_PG_PASSWORD" }}\nusable_by = "ALLOWED"\n'
                   f'allowed_groups = ["{groups[c % len(groups)]}"]\n')
    return "\n".join(out)


def endpoint(record: dict) -> str:
    """`GET /projects/P012/scenarios/BUILD_0` -> `GET /projects/{project}/scenarios/{id}`."""
    path = record["path"].removeprefix(PREFIX)
    path = re.sub(r"^/projects/[^/]+/", "/projects/{project}/", path)
    path = re.sub(r"^(/projects/\{project\}/scenarios/)[^/]+", r"\1{id}", path)
    path = re.sub(r"^/admin/(users|groups|connections)/[^/]+/?$", r"/admin/\1/{name}", path)
    return f"{record['method']} {path}"


def run(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """The command's result, wall seconds and CPU seconds (its own: the sandbox is not waited yet)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="objects declared")
    parser.add_argument("--repeats", type=int, default=3, help="no-op plans timed")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the sandbox's delay per request")
    parser.add_argument("--out", type=Path, help="the JSON report (default: in the scratch folder)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-dataiku-bench-"))
    api_key = secrets.token_urlsafe(24)
    env = {**os.environ, "DATAIKU_API_KEY": api_key, "BENCH_USER_PASSWORD": secrets.token_urlsafe(12),
           "BENCH_PG_PASSWORD": secrets.token_urlsafe(12)}
    cli = [sys.executable, "-m", "platforge"]
    stack = scratch / "stack"
    stack.mkdir()

    fast = Sandbox(scratch, api_key, platform="dataiku")
    try:
        (stack / "main.toml").write_text(stack_text(fast.url, args.n), encoding="utf-8")
        created, create_wall, _ = run([*cli, "apply", str(stack), "--yes"], env)
        if created.returncode != 0:
            raise SystemExit(created.stdout[-2000:] + created.stderr[-2000:])
    finally:
        fast.stop()

    flags = ("--latency-ms", str(args.latency_ms)) if args.latency_ms else ()
    server = Sandbox(scratch, api_key, *flags, platform="dataiku")
    try:
        (stack / "main.toml").write_text(stack_text(server.url, args.n), encoding="utf-8")
        moved, _, _ = run([*cli, "state", "retarget", str(stack)], env)
        if moved.returncode != 0:
            raise SystemExit(moved.stdout + moved.stderr)
        runs = []
        for _ in range(args.repeats):
            mark = len(server.requests())
            plan, wall, cpu = run([*cli, "plan", str(stack)], env)
            counts = Counter(endpoint(r) for r in server.requests()[mark:])
            runs.append({"exit": plan.returncode, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                         "requests": sum(counts.values()), "by_endpoint": dict(sorted(counts.items()))})
            if plan.returncode != 0:
                print(plan.stdout[-2000:], plan.stderr[-2000:], file=sys.stderr)
    finally:
        server.stop()

    counts = mix(args.n)
    last = runs[-1]["by_endpoint"]
    per_object = {k: v for k, v in last.items() if "{name}" in k or (k.startswith("GET") and "{" in k
                                                                    and k not in PER_DOCUMENT)}
    report = {
        "n": sum(counts.values()), "mix": counts, "latency_ms": args.latency_ms, "create_apply_wall_s": round(create_wall, 1),
        "plan_wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "plan_cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
        "requests_per_plan": runs[-1]["requests"], "gets_per_object_with_a_listing": per_object, "plans": runs,
    }
    out = args.out or scratch / "dataiku_plan.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"{report['n']} objects: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"create apply: {report['create_apply_wall_s']} s; latency per request: {args.latency_ms:g} ms")
    print(f"no-op plan (median of {args.repeats}): wall {report['plan_wall_s_median']} s, "
          f"CPU {report['plan_cpu_s_median']} s, {report['requests_per_plan']} requests\n")
    width = max(len(k) for k in last)
    print(f"{'endpoint'.ljust(width)}  requests")
    for key, value in last.items():
        print(f"{key.ljust(width)}  {value:>8}")
    print(f"\nJSON: {out}")
    expected_scenario_reads = counts["scenario"]
    ok = (all(r["exit"] == 0 for r in runs) and not per_object
          and last.get("GET /projects/{project}/scenarios/{id}", 0) == expected_scenario_reads)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
