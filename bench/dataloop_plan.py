"""A no-op plan over 1,000 Dataloop objects: one listing per kind (a `…/query` listing names up to
a hundred projects at once; only project members are listed project by project), one request
per page, never one GET per object.

A Dataloop sandbox process (`python -m platforge sandbox dataloop`, on a free port, with an
access log) gets N objects in a vision team's mix: a fiftieth are projects, each with a
package pushed through the gate (packages are not platforge's), one service running it, two
cron triggers and a two-node pipeline; a hundredth are integrations, a fifth org members, and
the rest split between datasets (two fifths) and project members. The projects go first
through one `platforge apply`, the packages are pushed, and the whole stack through a second.
The sandbox is then restarted on the same database, optionally with `--latency-ms` (a remote
gate), the state retargeted to its new port, and a no-op plan is timed several times in fresh
processes, counting its requests by endpoint (ids folded into `{id}`, e-mails into `{email}`).
The plan is expected to cost exactly the kinds' listings plus their pages:

    login + me + orgs + org members + integrations + projects      6 requests
    per project: members                                            1
    per 100 projects: datasets, services, triggers, pipelines       4 x pages

    python bench/dataloop_plan.py                          # 1,000 objects, 3 plans, no latency
    python bench/dataloop_plan.py --latency-ms 50          # every request 50 ms slower
    python bench/dataloop_plan.py --page-size 5            # many pages per listing
    python bench/dataloop_plan.py --n 60 --repeats 1       # CI size

Issue 11's targets at scale (a remote, throttled gate; the creating apply under the same limit,
the client's limiter at its default; one plan reading one object per request, 10 at a time, as
Terraform refreshes):

    python bench/dataloop_plan.py --n 10000 --latency-ms 50 --rate-limit 15 --per-object --apply-rate-limit 15
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import checked, per_object_plan, plan_phases, run, timed_plans, writes_share  # noqa: E402
from _sandbox import Sandbox  # noqa: E402  (the benches' shared sandbox process)
from platforge.provider.dataloop.kinds.common import PROJECTS_PER_QUERY  # noqa: E402

PREFIX = "/api/v1"
ADMIN = "admin@bench.example"
ORG = "bench"
#: Reads that are listings: one per run, or one per project, never one per object.
LISTINGS = {"GET /users/me", "GET /orgs", "GET /orgs/{id}/members", "GET /orgs/{id}/integrations", "GET /projects",
            "GET /projects/{id}/members", "POST /datasets/query", "POST /query/faas", "POST /pipelines/query",
            "POST /token"}


def mix(n: int) -> dict[str, int]:
    projects = max(1, n // 50)
    counts = {"project": projects, "integration": max(1, n // 100), "org_member": max(1, n // 5),
              "service": projects, "trigger": 2 * projects, "pipeline": projects}
    rest = max(2, n - sum(counts.values()))
    counts["dataset"] = max(1, rest * 2 // 5)
    counts["project_member"] = max(1, rest - counts["dataset"])
    return counts


def spread(total: int, parts: int) -> list[int]:
    """`total` objects over `parts` projects, as evenly as possible."""
    return [total // parts + (1 if p < total % parts else 0) for p in range(parts)]


def header(url: str, page_size: int) -> str:
    return (f'[platform]\ntype = "dataloop"\nendpoint = "{url}"\norg = "{ORG}"\npage_size = {page_size}\n'
            f'email_env = "BENCH_DATALOOP_EMAIL"\npassword_env = "BENCH_DATALOOP_PASSWORD"\n')


def projects_text(url: str, n: int, page_size: int) -> str:
    return header(url, page_size) + "".join(f"\n[project.p{p:03d}]\n" for p in range(mix(n)["project"]))


def stack_text(url: str, n: int, page_size: int, packages: dict[str, str]) -> str:
    counts = mix(n)
    out = [header(url, page_size)]
    integrations = [f"key-{i:03d}" for i in range(counts["integration"])]
    for name in integrations:
        out.append(f'[integration.{name}]\ntype = "key_value"\noptions = {{ from_env = "BENCH_INTEGRATION" }}\n')
    roles = ("admin", "member", "member", "worker")
    for m in range(counts["org_member"]):
        out.append(f'[org_member.m{m:04d}]\nemail = "m{m:04d}@bench.example"\nrole = "{roles[m % len(roles)]}"\n')
    datasets = spread(counts["dataset"], counts["project"])
    bindings = spread(counts["project_member"], counts["project"])
    project_roles = ("engineer", "annotator", "annotationManager", "owner")
    for p in range(counts["project"]):
        key = f"p{p:03d}"
        out.append(f"[project.{key}]\n")
        for d in range(datasets[p]):
            out.append(f'[dataset.{key}-d{d:03d}]\nproject = "{key}"\nname = "images-{d:03d}"\n')
        for b in range(bindings[p]):
            # The org's members first, then guests: Dataloop's project members need not be in the org.
            email = f"m{b:04d}@bench.example" if b < counts["org_member"] else f"{key}-g{b:03d}@bench.example"
            out.append(f'[project_member.{key}-b{b:03d}]\nproject = "{key}"\nemail = "{email}"\n'
                       f'role = "{project_roles[b % len(project_roles)]}"\n')
        # A trigger names its service by the service's table name, which is also its Dataloop name.
        service = f"detector-{p:03d}"
        out.append(f'[service.{service}]\nproject = "{key}"\npackage_id = "{packages[key]}"\n'
                   f'package_revision = "1.0.0"\nsecrets = ["{integrations[p % len(integrations)]}"]\n'
                   f'init_params = {{ threshold = 0.{p % 10} }}\n[service.{service}.runtime]\n'
                   f'pod_type = "regular-xs"\nautoscaler = {{ max_replicas = {1 + p % 3} }}\n')
        for t in range(2):
            out.append(f'[trigger.{key}-t{t}]\nproject = "{key}"\nname = "nightly-{t}"\ntype = "Cron"\n'
                       f'service = "{service}"\ncron = "{(7 * t) % 60} {(p + t) % 24} * * *"\n')
        out.append(f'[pipeline.{key}-ingest]\nproject = "{key}"\nname = "ingest"\ninstalled = {str(p % 2 == 0).lower()}\n'
                   f'[[pipeline.{key}-ingest.nodes]]\nname = "incoming"\ntype = "storage"\n'
                   f'namespace = {{ function_name = "dataset_handler", service_name = "pipeline-utils" }}\n'
                   f'outputs = [{{ name = "item" }}]\n[[pipeline.{key}-ingest.nodes]]\nname = "detect"\n'
                   f'type = "function"\nnamespace = {{ function_name = "run", service_name = "{service}" }}\n'
                   f'inputs = [{{ name = "item" }}]\n[[pipeline.{key}-ingest.connections]]\n'
                   f'source = "incoming"\ntarget = "detect"\n')
    return "\n".join(out)


def push_packages(url: str, password: str, projects: list[str]) -> dict[str, str]:
    """One package per project, pushed as dtlpy's `push` does (a git codebase, nothing uploaded)."""
    def post(path: str, body: dict, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers, method="POST")
        for _ in range(60):  # a sandbox under --rate-limit answers 429 with Retry-After
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return dict(json.loads(response.read()))
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
                time.sleep(float(exc.headers.get("Retry-After") or 1))
        raise SystemExit(f"{path}: still throttled after 60 tries")

    token = post("/token?default", {"username": ADMIN, "password": password, "type": "user_credentials"})["id_token"]
    request = urllib.request.Request(f"{url}{PREFIX}/projects?excludeContributors=true",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        ids = {p["name"]: p["id"] for p in json.loads(response.read())}
    return {name: post(f"{PREFIX}/packages", {
        "name": "detector", "projectId": ids[name], "version": "1.0.0",
        "codebase": {"type": "git", "gitUrl": "https://github.com/bench/detector.git", "gitTag": "v1.0.0"}},
        token)["id"] for name in projects}


def endpoint(record: dict) -> str:
    """`GET /api/v1/projects/65f0…/members` -> `GET /projects/{id}/members`."""
    path = record["path"].split("?")[0].removeprefix(PREFIX)
    path = re.sub(r"/[0-9a-f]{24}(?=/|$)", "/{id}", path)
    path = re.sub(r"/[^/@]+@[^/]+", "/{email}", path)
    return f"{record['method']} {path}"


def expected_requests(n: int, page_size: int) -> int:
    """The kinds' listings plus their pages (a listing of nothing is one page): members per
    project (an IAM listing takes one project), and each `…/query` kind once per
    `PROJECTS_PER_QUERY` projects, with the pages of what those projects hold together."""
    counts = mix(n)
    projects = counts["project"]
    datasets = spread(counts["dataset"], projects)
    pages = 0
    for start in range(0, projects, PROJECTS_PER_QUERY):
        chunk = range(start, min(start + PROJECTS_PER_QUERY, projects))
        rows = (sum(datasets[p] for p in chunk), len(chunk), 2 * len(chunk), len(chunk))  # datasets, services, triggers, pipelines
        pages += sum(max(1, math.ceil(c / page_size)) for c in rows)
    return 6 + projects + pages


def is_read(record: dict) -> bool:
    """Dataloop's listings and its login are POSTs: a read is a GET or one of those."""
    return record["method"] == "GET" or endpoint(record) in LISTINGS


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="objects declared")
    parser.add_argument("--repeats", type=int, default=3, help="no-op plans timed")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the sandbox's delay per request")
    parser.add_argument("--page-size", type=int, default=1000, help="items per page of a …/query listing (1-1000)")
    parser.add_argument("--rate-limit", type=float, default=0.0, help="the restarted sandbox's requests per second")
    parser.add_argument("--per-object", action="store_true",
                        help="also time one plan that reads one object per request (--refresh per-object)")
    parser.add_argument("--apply-rate-limit", type=float, default=0.0,
                        help="create the stack against a sandbox limited to this many requests per second, and "
                             "report the share of the limit spent on writes")
    parser.add_argument("--out", type=Path, help="the JSON report (default: in the scratch folder)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-dataloop-bench-"))
    password = secrets.token_urlsafe(18)
    env = {**os.environ, "BENCH_DATALOOP_EMAIL": ADMIN, "BENCH_DATALOOP_PASSWORD": password,
           "BENCH_INTEGRATION": json.dumps({"key": "API_KEY", "value": secrets.token_urlsafe(12)})}
    cli = [sys.executable, "-m", "platforge"]
    stack = scratch / "stack"
    stack.mkdir()
    identity = ("--admin-email", ADMIN, "--org", ORG)
    counts = mix(args.n)
    names = [f"p{p:03d}" for p in range(counts["project"])]

    limit = ("--rate-limit", str(args.apply_rate_limit)) if args.apply_rate_limit else ()
    fast = Sandbox(scratch, password, *identity, *limit, platform="dataloop")
    try:
        (stack / "main.toml").write_text(projects_text(fast.url, args.n, args.page_size), encoding="utf-8")
        checked(run([*cli, "apply", str(stack), "--yes"], env)[0])
        packages = push_packages(fast.url, password, names)
        (stack / "main.toml").write_text(stack_text(fast.url, args.n, args.page_size, packages), encoding="utf-8")
        mark = len(fast.requests())
        created, create_wall, _ = run([*cli, "apply", str(stack), "--yes"], env)
        checked(created)
        applied = writes_share(fast.requests()[mark:], create_wall, args.apply_rate_limit, is_read, endpoint)
    finally:
        fast.stop()

    flags = (("--latency-ms", str(args.latency_ms)) if args.latency_ms else ()) + \
        (("--rate-limit", str(args.rate_limit)) if args.rate_limit else ())
    server = Sandbox(scratch, password, *identity, *flags, platform="dataloop")
    try:
        (stack / "main.toml").write_text(stack_text(server.url, args.n, args.page_size, packages), encoding="utf-8")
        checked(run([*cli, "state", "retarget", str(stack)], env)[0])
        runs = timed_plans(cli, str(stack), env, server.requests, endpoint, args.repeats)
        phases = plan_phases(str(stack), env)
        per_object_run = per_object_plan(cli, str(stack), env, server.requests, endpoint) if args.per_object else None
    finally:
        server.stop()

    last = runs[-1]["by_endpoint"]
    per_object = {k: v for k, v in last.items() if k not in LISTINGS}
    expected = expected_requests(args.n, args.page_size)
    report = {
        "n": sum(counts.values()), "mix": counts, "latency_ms": args.latency_ms, "page_size": args.page_size,
        "create_apply_wall_s": round(create_wall, 1),
        "plan_wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "plan_cpu_s_median": statistics.median(r["cpu_s"] for r in runs),
        "requests_per_plan": runs[-1]["requests"], "expected_requests": expected,
        "requests_not_listings": per_object, "plans": runs, "plan_phases": phases,
        "plan_max_rss_mb": max(r["max_rss_mb"] for r in runs), "rate_limit": args.rate_limit,
        "create_apply": applied,
    }
    if per_object_run is not None:
        report["per_object_plan"] = per_object_run
        report["ratio"] = round(per_object_run["wall_s"] / report["plan_wall_s_median"], 1)
    out = args.out or scratch / "dataloop_plan.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print(f"{report['n']} objects: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"create apply: {report['create_apply_wall_s']} s; latency per request: {args.latency_ms:g} ms; "
          f"page size {args.page_size}")
    print(f"no-op plan (median of {args.repeats}): wall {report['plan_wall_s_median']} s, "
          f"CPU {report['plan_cpu_s_median']} s, {report['requests_per_plan']} requests "
          f"(expected: kinds + pages = {expected})\n")
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
    print(f"where a plan's CPU goes (in process): imports {phases['imports_cpu_s']} s, stack and login "
          f"{phases['load_and_login_cpu_s']} s, Engine.plan {phases['plan_cpu_s']} s")
    print(f"\nJSON: {out}")
    ok = all(r["exit"] == 0 for r in runs) and not per_object and all(r["requests"] == expected for r in runs)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
