"""A no-op plan over 1,000 DataChain Studio objects: one listing per kind (one per declared group
for its members), the pipeline listing the schedules' data source reads, and never one GET per
object.

A Studio sandbox process (`python -m platforge sandbox studio`, on a free port, with an access
log) is seeded with what platforge does not manage: a tenth of N users (the sandbox's own route:
Studio has no API for users), all in an `everyone` group the team's administrators keep (Studio
shows a user only through a group or a rule), and one pipeline definition per schedule (its
name is Studio's, from `pipeline/trigger`, as `datachain pipeline create` calls it). The stack
declares N objects in an ML team's mix: a twentieth access groups, two fifths members (spread
over the groups), three tenths access rules (half for a group, half for a user) and the rest
pipeline schedules, each on its own pipeline. One `platforge apply` creates them; the sandbox is
restarted on the same database, optionally with `--latency-ms` (a remote Studio), the state
retargeted to its new port, and a no-op plan is timed several times in fresh processes,
counting its requests by endpoint (ids folded into `{id}`). The plan is expected to cost:

    access groups: the connection's proof + the kind's listing        2 requests
    access rules, pipeline schedules                                  1 + 1
    members: one listing per declared group                           G
    pipelines: `pipeline/list` with `limit` = page_size, doubled      pages
               while an answer is full (no offset exists)

    python bench/studio_plan.py                          # 1,000 objects, 3 plans, no latency
    python bench/studio_plan.py --latency-ms 50          # every request 50 ms slower
    python bench/studio_plan.py --n 60 --repeats 1 --page-size 5      # CI size, the doubling shows

Issue 11's targets at scale (a remote, throttled Studio; the creating apply under the same limit,
the client's limiter at its default; one plan reading one object per request, 10 at a time, as
Terraform refreshes):

    python bench/studio_plan.py --n 10000 --latency-ms 50 --rate-limit 15 --per-object --apply-rate-limit 15
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import checked, per_object_plan, plan_phases, run, timed_plans, writes_share  # noqa: E402
from _sandbox import Sandbox  # noqa: E402  (the benches' shared sandbox process)

PREFIX = "/api"
TEAM = "bench"
TOKEN_ENV = "BENCH_STUDIO_TOKEN"
#: Reads that are listings: one per run, or one per declared group, never one per object.
LISTINGS = {"GET /datachain/rbac/access-groups/", "GET /datachain/rbac/access-groups/{id}/members/",
            "GET /datachain/rbac/access-rules/", "GET /datachain/pipeline/schedules", "GET /datachain/pipeline/list"}


def mix(n: int) -> dict[str, int]:
    counts = {"access_group": max(1, n // 20), "access_group_member": max(1, n * 2 // 5),
              "access_rule": max(2, n * 3 // 10)}
    counts["pipeline_schedule"] = max(1, n - sum(counts.values()))
    return counts


def users(n: int) -> list[str]:
    """A tenth of N, and at least as many as the largest group has members."""
    counts = mix(n)
    largest = -(-counts["access_group_member"] // counts["access_group"])
    return [f"u{u:04d}@bench.example" for u in range(max(2, n // 10, largest))]


def spread(total: int, parts: int) -> list[int]:
    """`total` objects over `parts` groups, as evenly as possible."""
    return [total // parts + (1 if p < total % parts else 0) for p in range(parts)]


def stack_text(url: str, n: int, page_size: int, pipelines: list[str]) -> str:
    counts = mix(n)
    emails = users(n)
    out = [f'[platform]\ntype = "studio"\nendpoint = "{url}"\nteam = "{TEAM}"\ntoken_env = "{TOKEN_ENV}"\n'
           f'page_size = {page_size}\n\n[external]\naccess_group = ["everyone"]\n']
    groups = [f"g{g:03d}" for g in range(counts["access_group"])]
    roles = ("read", "write", "admin")
    for g, (name, size) in enumerate(zip(groups, spread(counts["access_group_member"], len(groups)), strict=True)):
        out.append(f'[access_group.{name}]\ndescription = "bench group {g}"\n')
        for m in range(size):
            email = emails[(g * size + m) % len(emails)]
            out.append(f'[access_group_member.{name}-m{m:03d}]\ngroup = "{name}"\nuser = "{email}"\n'
                       f'role = "{roles[(g + m) % 3]}"\n')
    for r in range(counts["access_rule"]):
        principal = f'group = "{groups[r // 2 % len(groups)]}"' if r % 2 == 0 else f'user = "{emails[r // 2 % len(emails)]}"'
        out.append(f'[access_rule.r{r:04d}]\nresource_type = "namespace"\nresource_id = "ns-{r:04d}"\n'
                   f'permission = "{roles[r % 3]}"\n{principal}\n')
    for s, pipeline in enumerate(pipelines):
        out.append(f'[pipeline_schedule.s{s:04d}]\npipeline = "{pipeline}"\ncron_expression = "{s % 60} {s % 24} * * *"\n'
                   f'start_after = 2026-01-01T00:00:00Z\npause_pipeline = {str(s % 2 == 0).lower()}\n')
    return "\n".join(out)


def seed(url: str, token: str, n: int) -> list[str]:
    """The users in the `everyone` group, and one pipeline definition per schedule: their names."""
    def post(path: str, body: dict, query: bool = False) -> dict:
        target = f"{url}{PREFIX}{path}" + (f"?team_name={TEAM}" if query else "")
        request = urllib.request.Request(target, data=json.dumps({**body, "team_name": TEAM}).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))

    everyone = post("/datachain/rbac/access-groups/", {"name": "everyone"}, query=True)["id"]
    for email in users(n):
        uid = post("/sandbox/users", {"username": email.split("@")[0], "email": email})["user_id"]
        post(f"/datachain/rbac/access-groups/{everyone}/members/", {"user_id": uid, "role": "read"}, query=True)
    return [post("/datachain/pipeline/trigger", {"datasets": [f"@bench.training.ds-{s:04d}"], "review": True})
            ["pipeline"]["name"] for s in range(mix(n)["pipeline_schedule"])]


def endpoint(record: dict) -> str:
    """`GET /api/datachain/rbac/access-groups/1b2c…/members/?team_name=bench` ->
    `GET /datachain/rbac/access-groups/{id}/members/`."""
    path = record["path"].split("?")[0].removeprefix(PREFIX)
    path = re.sub(r"/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?=/|$)", "/{id}", path)
    path = re.sub(r"/[0-9]+(?=/|$)", "/{id}", path)
    return f"{record['method']} {path}"


def pipeline_pages(pipelines: int, page_size: int) -> int:
    """Requests of a `pipeline/list` read: `limit` doubles while the answer holds `limit` items."""
    requests, limit = 1, page_size
    while pipelines >= limit:
        requests, limit = requests + 1, limit * 2
    return requests


def expected_requests(n: int, page_size: int) -> int:
    counts = mix(n)
    return 2 + 1 + 1 + counts["access_group"] + pipeline_pages(counts["pipeline_schedule"], page_size)


def is_read(record: dict) -> bool:
    return record["method"] == "GET"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="objects declared")
    parser.add_argument("--repeats", type=int, default=3, help="no-op plans timed")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the sandbox's delay per request")
    parser.add_argument("--page-size", type=int, default=100, help="first `limit` of the pipeline listing (1-10000)")
    parser.add_argument("--rate-limit", type=float, default=0.0, help="the restarted sandbox's requests per second")
    parser.add_argument("--per-object", action="store_true",
                        help="also time one plan that reads one object per request (--refresh per-object)")
    parser.add_argument("--apply-rate-limit", type=float, default=0.0,
                        help="create the stack against a sandbox limited to this many requests per second, and "
                             "report the share of the limit spent on writes")
    parser.add_argument("--out", type=Path, help="the JSON report (default: in the scratch folder)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-studio-bench-"))
    token = "isat_" + secrets.token_urlsafe(32)
    env = {**os.environ, TOKEN_ENV: token}
    cli = [sys.executable, "-m", "platforge"]
    stack = scratch / "stack"
    stack.mkdir()
    counts = mix(args.n)

    seeding = Sandbox(scratch, token, "--team", TEAM, platform="studio")
    try:
        pipelines = seed(seeding.url, token, args.n)
    finally:
        seeding.stop()
    # The seed is not platforge's work: only the creating apply meets the limit.
    limit = ("--rate-limit", str(args.apply_rate_limit)) if args.apply_rate_limit else ()
    fast = Sandbox(scratch, token, "--team", TEAM, *limit, platform="studio")
    try:
        (stack / "main.toml").write_text(stack_text(fast.url, args.n, args.page_size, pipelines), encoding="utf-8")
        mark = len(fast.requests())
        created, create_wall, _ = run([*cli, "apply", str(stack), "--yes"], env)
        checked(created)
        applied = writes_share(fast.requests()[mark:], create_wall, args.apply_rate_limit, is_read, endpoint)
    finally:
        fast.stop()

    # Plan CPU as bench/plan_cpu.py and bench/dataiku_scale.py measure it: the planning
    # process's own, against a sandbox with no latency (under latency and a rate limit the
    # client's waiting threads and the first 429s add CPU that is the remote's, not planning's).
    plain = Sandbox(scratch, token, "--team", TEAM, platform="studio")
    try:
        (stack / "main.toml").write_text(stack_text(plain.url, args.n, args.page_size, pipelines), encoding="utf-8")
        checked(run([*cli, "state", "retarget", str(stack)], env)[0])
        phase_runs = [plan_phases(str(stack), env) for _ in range(args.repeats)]
        phases = {key: statistics.median(r[key] for r in phase_runs)
                  for key in ("imports_cpu_s", "load_and_login_cpu_s", "plan_cpu_s")}
    finally:
        plain.stop()

    flags = (("--latency-ms", str(args.latency_ms)) if args.latency_ms else ()) + \
        (("--rate-limit", str(args.rate_limit)) if args.rate_limit else ())
    server = Sandbox(scratch, token, "--team", TEAM, *flags, platform="studio")
    try:
        (stack / "main.toml").write_text(stack_text(server.url, args.n, args.page_size, pipelines), encoding="utf-8")
        checked(run([*cli, "state", "retarget", str(stack)], env)[0])
        runs = timed_plans(cli, str(stack), env, server.requests, endpoint, args.repeats)
        phases_remote = plan_phases(str(stack), env)
        per_object_run = per_object_plan(cli, str(stack), env, server.requests, endpoint) if args.per_object else None
    finally:
        server.stop()

    last = runs[-1]["by_endpoint"]
    per_object = {k: v for k, v in last.items() if k not in LISTINGS}
    expected = expected_requests(args.n, args.page_size)
    report = {
        "n": sum(counts.values()), "mix": counts, "users": len(users(args.n)), "pipelines": len(pipelines),
        "latency_ms": args.latency_ms, "page_size": args.page_size, "create_apply_wall_s": round(create_wall, 1),
        "plan_wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "plan_cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
        "requests_per_plan": runs[-1]["requests"], "expected_requests": expected,
        "requests_not_listings": per_object, "plans": runs, "plan_phases": phases, "plan_phases_runs": phase_runs,
        "plan_phases_under_latency": phases_remote, "plan_max_rss_mb": max(r["max_rss_mb"] for r in runs),
        "rate_limit": args.rate_limit, "create_apply": applied,
    }
    if per_object_run is not None:
        report["per_object_plan"] = per_object_run
        report["ratio"] = round(per_object_run["wall_s"] / report["plan_wall_s_median"], 1)
    out = args.out or scratch / "studio_plan.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"{report['n']} objects: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f"; seeded: {report['users']} users, {report['pipelines']} pipelines")
    print(f"create apply: {report['create_apply_wall_s']} s; latency per request: {args.latency_ms:g} ms; "
          f"pipeline page size {args.page_size}")
    print(f"no-op plan (median of {args.repeats}): wall {report['plan_wall_s_median']} s, "
          f"CPU {report['plan_cpu_s_median']} s, {report['requests_per_plan']} requests "
          f"(expected: kinds + member listings + pages = {expected})\n")
    width = max(len(k) for k in last)
    print(f"{'endpoint'.ljust(width)}  requests")
    for key, value in last.items():
        print(f"{key.ljust(width)}  {value:>8}")
    if per_object_run is not None:
        print(f"\none read per object: {per_object_run['wall_s']} s, {per_object_run['requests']} requests "
              f"({per_object_run['throttled_429']} 429s): ratio {report['ratio']}x")
    if args.apply_rate_limit:
        print(f"creating apply at {args.apply_rate_limit:g} requests/s: {applied['writes']} writes of "
              f"{applied['requests']} requests, {100 * applied['write_share_of_limit']:.1f}% of the limit in writes, "
              f"{100 * applied['share_429']:.2f}% 429s")
    print(f"peak memory of a plan: {report['plan_max_rss_mb']} MB")
    print(f"where a plan's CPU goes (in process, no latency, median of {args.repeats}): imports "
          f"{phases['imports_cpu_s']} s, stack and login {phases['load_and_login_cpu_s']} s, "
          f"Engine.plan {phases['plan_cpu_s']} s (under the latency and limit: {phases_remote['plan_cpu_s']} s)")
    print(f"\nJSON: {out}")
    ok = all(r["exit"] == 0 for r in runs) and not per_object and all(r["requests"] == expected for r in runs)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
