"""Issue 11's scale targets on Dataiku DSS, side by side in one run.

A realistic DSS mix of N objects (10% groups, 50% users, 15% instance variables, projects with
two group grants and their variables each, a few connections and scenarios, one or two code
environments) against the DSS sandbox (`python -m platforge sandbox dataiku`, its own process on
a free 127.0.0.1 port, with an access log the requests are counted from):

1. **Listing against per-object refresh.** The stack is applied at full speed; the sandbox is
   restarted on the same database with `--latency-ms 50 --rate-limit 15` (a remote, throttled
   DSS), the state retargeted, and one no-op plan is timed each way in a fresh process:
   `platforge plan` (one listing per kind, one read per settings document no listing carries)
   against `platforge plan --refresh per-object` (one read per object, 10 at a time, as
   Terraform refreshes). Target: >= 20x at N = 10,000.
2. **Plan CPU and peak memory** of the no-op plan at N, no latency: CPU of `Engine(...)` +
   `Engine.plan()` in a fresh interpreter (as `bench/plan_cpu.py` measures it), and CPU and
   `ru_maxrss` of the whole `platforge plan` process (interpreter start, imports and output
   included, from `os.wait4`). Medians of `--repeats`. Targets: <= 2 s CPU, <= 200 MB.
3. **An apply of `--apply-n` creates** (the same mix) against a fresh sandbox at `--rate-limit
   15`, the client's limiter left at its default: the share of requests that are writes, the
   writes per second as a share of the limit, and the share of answers that are 429. Targets:
   >= 90% of the limit spent on writes, < 1% 429s.

    python bench/dataiku_scale.py                 # N = 10,000, apply of 1,000; writes bench/dataiku_scale.json
    python bench/dataiku_scale.py --quick         # N = 500, apply of 200 (a smoke run; JSON in the scratch folder)
    python bench/dataiku_scale.py --n 2000 --out /tmp/x.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host_platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox import Sandbox  # noqa: E402  (the benches' shared sandbox process)

REPO = Path(__file__).resolve().parent.parent
PREFIX = "/public/api"
TARGETS = {"ratio": 20.0, "plan_cpu_s": 2.0, "max_rss_mb": 200.0, "write_share_of_limit": 0.90, "share_429": 0.01}


# ---- the stack ---------------------------------------------------------------------------------

def mix(n: int) -> dict[str, int]:
    """10% groups, 50% users, 15% instance variables, 0.5% connections, 1% scenarios (one per
    project, in the first projects), 1-2 code environments; the rest projects of four objects
    each (the project, two group grants, its variables), any remainder users."""
    counts = {"group": max(2, n // 10), "user": n // 2, "instance_variable": max(1, n * 15 // 100),
              "connection": max(1, n // 200), "scenario": max(1, n // 100), "code_env": 2 if n >= 2000 else 1}
    rest = n - sum(counts.values())
    projects = max(counts["scenario"], rest // 4)
    counts.update(project=projects, project_group_grant=2 * projects, project_variables=projects)
    counts["user"] += n - sum(counts.values())
    return counts


def stack_text(url: str, n: int, parallelism: int | None = None) -> str:
    c = mix(n)
    groups = [f"team_{g:04d}" for g in range(c["group"])]
    out = [f'[platform]\ntype = "dataiku"\nendpoint = "{url}"\n' + (f"parallelism = {parallelism}\n" if parallelism
                                                                    else "")]
    for g, name in enumerate(groups):
        out.append(f'[group.{name}]\ndescription = "Team {g}"\nmay_create_projects = {str(g % 2 == 0).lower()}\n')
    for u in range(c["user"]):
        member_of = sorted({groups[u % len(groups)], groups[(u * 7 + 1) % len(groups)]})
        out.append(f'[user.u{u:05d}]\ndisplay_name = "User {u}"\nemail = "u{u:05d}@example.com"\n'
                   f'groups = {json.dumps(member_of)}\ninitial_password = {{ from_env = "BENCH_USER_PASSWORD" }}\n')
    for v in range(c["instance_variable"]):
        out.append(f'[instance_variable.var_{v:05d}]\nvalue = {{ index = {v}, on = true }}\n')
    for p in range(c["project"]):
        key = f"P{p:04d}"
        out.append(f'[project.{key}]\nname = "Project {p}"\ntags = ["bench", "t{p % 5}"]\n')
        for i, (group, flags) in enumerate(((groups[p % len(groups)], "write_project_content = true\n"),
                                            (groups[(p + 1) % len(groups)], "read_dashboards = true\n"))):
            out.append(f'[project_group_grant.{key}-{i}]\nproject = "{key}"\ngroup = "{group}"\n'
                       f'read_project_content = true\nrun_scenarios = true\n{flags}')
        out.append(f'[project_variables.{key}]\nstandard = {{ schema = "s{p}", days = {p % 30} }}\n'
                   f'local = {{ debug = false }}\n')
    for s in range(c["scenario"]):
        key = f"P{s:04d}"
        out.append(f'[scenario.{key}-build]\nproject = "{key}"\nname = "Build"\nactive = true\n'
                   f'[[scenario.{key}-build.triggers]]\nfrequency = "Daily"\nhour = {s % 24}\n'
                   f'minute = {(7 * s) % 60}\ntimezone = "UTC"\n')
    for c_ in range(c["connection"]):
        out.append(f'[connection.pg_{c_:03d}]\ntype = "PostgreSQL"\ndescription = "warehouse {c_}"\n'
                   f'params = {{ host = "db{c_}.internal", port = 5432, db = "analytics" }}\n'
                   f'password = {{ from_env = "BENCH_PG_PASSWORD" }}\nusable_by = "ALLOWED"\n'
                   f'allowed_groups = ["{groups[c_ % len(groups)]}"]\n')
    for e in range(c["code_env"]):
        out.append(f'[code_env.env_{e}]\nlang = "PYTHON"\npackages = ["pandas==2.2.0", "requests"]\n'
                   f'usable_by_all = true\n')
    return "\n".join(out)


def expected_listing_requests(c: dict[str, int]) -> dict[str, int]:
    """What a no-op plan by listing should send: one listing per kind (DSS does not page), and one
    read per settings document no listing carries, plus the sign-in check."""
    return {"sign-in (auth/info)": 1,
            "listings (users, groups, projects, instance variables, connections, code envs)": 6,
            "project permissions (grants)": c["project"], "project variables": c["project"],
            "scenario listings (per project with a scenario)": c["scenario"],
            "scenario documents (triggers)": c["scenario"], "code env documents (packages)": c["code_env"]}


# ---- requests by endpoint ----------------------------------------------------------------------

def endpoint(record: dict[str, Any]) -> str:
    """`GET /public/api/projects/P0012/scenarios/BUILD/` -> `GET /projects/{project}/scenarios/{id}/`."""
    path = record["path"].removeprefix(PREFIX)
    path = re.sub(r"^/projects/[^/]+/", "/projects/{project}/", path)
    path = re.sub(r"^(/projects/\{project\}/scenarios/)[^/]+/?", r"\1{id}", path)
    path = re.sub(r"^/admin/(users|groups|connections|global-api-keys)/[^/]+/?$", r"/admin/\1/{name}", path)
    path = re.sub(r"^/admin/code-envs/[^/]+/[^/]+", "/admin/code-envs/{lang}/{name}", path)
    path = re.sub(r"^/futures/[^/]+", "/futures/{id}", path)
    return f"{record['method']} {path}"


def by_endpoint(answers: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(endpoint(r) for r in answers).most_common())


# ---- processes ---------------------------------------------------------------------------------

def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(cmd: list[str], env: dict[str, str], scratch: Path, label: str, timeout: float | None = None,
        ) -> dict[str, Any]:
    """Run `cmd`; its exit status, wall seconds, and its own CPU seconds and peak RSS (`wait4`).
    Past `timeout` seconds it is killed and `timed_out` is set (its wall time is then a bound)."""
    out_path, err_path = scratch / f"{label}.out", scratch / f"{label}.err"
    timed_out = False
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG if timeout else 0)
            if pid:
                break
            if time.perf_counter() - started > timeout:  # type: ignore[operator]
                timed_out = True
                process.kill()
            time.sleep(0.2)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return {"exit": process.returncode, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss / 1024, "timed_out": timed_out,
            "stdout": out_path.read_text(errors="replace"), "stderr": err_path.read_text(errors="replace")}


def must(result: dict[str, Any], what: str, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
    if result["exit"] not in ok:
        raise SystemExit(f"{what} exited {result['exit']}:\n{result['stdout'][-3000:]}\n{result['stderr'][-3000:]}")
    return result


def worker(stack_dir: Path) -> None:
    """A fresh interpreter: CPU and GC of `Engine(...)` + `Engine.plan()`, and peak RSS."""
    import gc
    import resource

    from platforge.provider import get_platform

    from platforge.core.engine import Engine, make_backend
    from platforge.core.stack import load_stack

    gc_cpu = [0.0]
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            gc_cpu[0] += time.process_time() - started[0]

    cpu0 = time.process_time()
    stack, platform = load_stack(stack_dir, get_platform)
    client = platform.connect(stack.platform_config)
    backend = make_backend(stack, platform, client)
    load_cpu = time.process_time() - cpu0
    gc.callbacks.append(on_gc)
    cpu, wall = time.process_time(), time.perf_counter()
    engine = Engine(stack, platform, client, backend)
    plan = engine.plan()
    plan_cpu, plan_wall = time.process_time() - cpu, time.perf_counter() - wall
    gc.callbacks.remove(on_gc)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"load_and_login_cpu_s": load_cpu, "plan_cpu_s": plan_cpu, "plan_wall_s": plan_wall,
                      "gc_cpu_s": gc_cpu[0], "changes": len(plan.changes), "orphans": len(plan.orphans),
                      "process_cpu_s": usage.ru_utime + usage.ru_stime,
                      "max_rss_mb": usage.ru_maxrss / 1024}))


# ---- the three measurements ----------------------------------------------------------------------

def refresh_and_cpu(args: argparse.Namespace, scratch: Path, env: dict[str, str], cli: list[str],
                    save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    n, c = args.n, mix(args.n)
    stack = scratch / "stack"
    stack.mkdir()
    report: dict[str, Any] = {"n": n, "mix": c}

    # Apply at full speed, then measure the plan's CPU and memory on the same sandbox (no latency).
    fast = Sandbox(scratch, env["DATAIKU_API_KEY"], platform="dataiku")
    try:
        (stack / "main.toml").write_text(stack_text(fast.url, n), encoding="utf-8")
        log(f"[1/3] applying {n:,} objects at full speed ({fast.url}) ...")
        applied = must(run([*cli, "apply", str(stack), "--yes"], env, scratch, "apply-full"), "apply")
        report["apply_full_speed"] = {"wall_s": round(applied["wall_s"], 1), "cpu_s": round(applied["cpu_s"], 1),
                                      "requests": len(fast.requests())}
        log(f"      applied in {applied['wall_s']:.1f} s ({len(fast.requests()):,} requests)")
        save(report)

        log(f"[2/3] no-op plan CPU and peak memory at {n:,} objects, no latency, {args.repeats} runs ...")
        runs = []
        for i in range(args.repeats):
            mark = len(fast.requests())
            inner = must(run([sys.executable, __file__, "--worker", str(stack)], env, scratch, f"worker-{i}"),
                         "the planning worker")
            measured = json.loads(inner["stdout"].strip().splitlines()[-1])
            mark2 = len(fast.requests())
            whole = must(run([*cli, "plan", str(stack)], env, scratch, f"plan-cpu-{i}"), "plan")
            answers = fast.requests()[mark2:]
            runs.append({**{k: round(v, 3) if isinstance(v, float) else v for k, v in measured.items()},
                         "worker_requests": mark2 - mark,
                         "cli_process_cpu_s": round(whole["cpu_s"], 3),
                         "cli_process_max_rss_mb": round(whole["max_rss_mb"], 1),
                         "cli_wall_s": round(whole["wall_s"], 2), "cli_requests": len(answers)})
            log(f"      run {i + 1}: Engine+plan {measured['plan_cpu_s']:.2f} s CPU ({measured['gc_cpu_s']:.2f} s GC), "
                f"{measured['max_rss_mb']:.0f} MB; `platforge plan` process {whole['cpu_s']:.2f} s CPU, "
                f"{whole['max_rss_mb']:.0f} MB, {len(answers)} requests")
        cpu_answers = fast.requests()[mark2:]
        report["plan_cpu"] = {
            **{key: round(statistics.median(r[key] for r in runs), 3) for key in
               ("plan_cpu_s", "gc_cpu_s", "plan_wall_s", "load_and_login_cpu_s", "process_cpu_s", "max_rss_mb",
                "cli_process_cpu_s", "cli_process_max_rss_mb", "cli_wall_s")},
            "requests": runs[-1]["cli_requests"], "requests_by_endpoint": by_endpoint(cpu_answers), "runs": runs}
        save(report)
    finally:
        fast.stop()

    # Restart on the same database, remote and throttled; time both refresh modes.
    slow = Sandbox(scratch, env["DATAIKU_API_KEY"], "--latency-ms", str(args.latency_ms),
                   "--rate-limit", str(args.rate_limit), platform="dataiku")
    try:
        (stack / "main.toml").write_text(stack_text(slow.url, n), encoding="utf-8")
        must(run([*cli, "state", "retarget", str(stack)], env, scratch, "retarget"), "state retarget")
        rows: dict[str, Any] = {}
        for mode in ("list", "per-object"):
            log(f"[1/3] no-op plan --refresh {mode} at {args.latency_ms:g} ms, {args.rate_limit:g} requests/s ...")
            mark = len(slow.requests())
            plan = run([*cli, "plan", str(stack), "--refresh", mode], env, scratch, f"plan-{mode}",
                       timeout=args.per_object_timeout if mode == "per-object" else None)
            answers = slow.requests()[mark:]
            rows[mode] = {"exit": plan["exit"], "wall_s": round(plan["wall_s"], 1), "cpu_s": round(plan["cpu_s"], 2),
                          "max_rss_mb": round(plan["max_rss_mb"], 1), "requests": len(answers),
                          "throttled_429": sum(1 for r in answers if r["status"] == 429),
                          "timed_out": plan["timed_out"], "by_endpoint": by_endpoint(answers)}
            if plan["exit"] != 0:
                rows[mode]["output_tail"] = (plan["stdout"][-1500:] + plan["stderr"][-1500:])
            log(f"      {plan['wall_s']:.1f} s, {len(answers):,} requests ({rows[mode]['throttled_429']} 429s), "
                f"exit {plan['exit']}{', stopped at the timeout' if plan['timed_out'] else ''}")
            save({**report, "refresh": dict(rows)})
    finally:
        slow.stop()
    expected = expected_listing_requests(c)
    report["refresh"] = {"latency_ms": args.latency_ms, "rate_limit": args.rate_limit, **rows,
                         "ratio": round(rows["per-object"]["wall_s"] / rows["list"]["wall_s"], 1),
                         "expected_listing_requests": {**expected, "total": sum(expected.values())}}
    return report


def apply_under_limit(args: argparse.Namespace, scratch: Path, env: dict[str, str], cli: list[str]) -> dict[str, Any]:
    box = Sandbox(scratch, env["DATAIKU_API_KEY"], "--rate-limit", str(args.rate_limit), platform="dataiku")
    try:
        stack = scratch / "stack"
        stack.mkdir()
        (stack / "main.toml").write_text(stack_text(box.url, args.apply_n, parallelism=8), encoding="utf-8")
        log(f"[3/3] applying {args.apply_n:,} creates at {args.rate_limit:g} requests/s ...")
        result = run([*cli, "apply", str(stack), "--yes"], env, scratch, "apply-limited")
        answers = box.requests()
    finally:
        box.stop()
    throttled = [r for r in answers if r["status"] == 429]
    served = [r for r in answers if r["status"] != 429]
    writes = [r for r in served if r["method"] != "GET"]
    document_gets = [r for r in served if r["method"] == "GET" and re.search(
        r"/admin/variables/|/permissions|/variables/|/metadata|/admin/users/[^/]+$|/scenarios/[^/]+$|"
        r"/admin/code-envs/[^/]+/[^/]+$", r["path"])]
    wall = result["wall_s"]
    report = {
        "n": args.apply_n, "mix": mix(args.apply_n), "rate_limit": args.rate_limit, "exit": result["exit"],
        "wall_s": round(wall, 1), "requests": len(answers), "writes": len(writes),
        "reads_served": len(served) - len(writes), "of_them_settings_document_gets": len(document_gets),
        "throttled_429": len(throttled),
        "writes_share_of_requests": round(len(writes) / len(answers), 3),
        "writes_share_of_served": round(len(writes) / len(served), 3),
        "share_429": round(len(throttled) / len(answers), 4),
        "writes_per_second": round(len(writes) / wall, 2),
        "write_share_of_limit": round(len(writes) / wall / args.rate_limit, 3),
        "served_per_second": round(len(served) / wall, 2),
        "served_share_of_limit": round(len(served) / wall / args.rate_limit, 3),
        "by_endpoint": by_endpoint(answers),
    }
    if result["exit"] != 0:
        report["output_tail"] = result["stdout"][-1500:] + result["stderr"][-1500:]
    log(f"      {wall:.1f} s, {len(answers):,} requests, {len(writes):,} writes, {len(throttled)} 429s, exit "
        f"{result['exit']}")
    return report


# ---- the report -----------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(report: dict[str, Any]) -> str:
    r, cpu, a = report["refresh"], report["plan_cpu"], report["apply"]
    lst, per = r["list"], r["per-object"]
    lines = [
        f"N = {report['n']:,}: " + ", ".join(f"{k} {v:,}" for k, v in report["mix"].items()),
        "",
        "| what | figure | target | |",
        "| --- | --- | ---: | --- |",
        f"| no-op plan by listing, {r['latency_ms']:g} ms latency, {r['rate_limit']:g} requests/s | "
        f"**{lst['wall_s']} s**, {lst['requests']:,} requests ({lst['throttled_429']} 429s; expected "
        f"{r['expected_listing_requests']['total']:,}) | | |",
        f"| no-op plan, one read per object (`--refresh per-object`) | {'>= ' if per['timed_out'] else ''}"
        f"{per['wall_s']} s, {per['requests']:,} "
        f"requests ({per['throttled_429']} 429s) | | |",
        f"| ratio | **{'>= ' if per['timed_out'] else ''}{r['ratio']}x** | >= {TARGETS['ratio']:g}x | {verdict(r['ratio'] >= TARGETS['ratio'])} |",
        f"| no-op plan CPU (`Engine` + `plan()`, median of {len(cpu['runs'])}), no latency | **{cpu['plan_cpu_s']} s** "
        f"({cpu['gc_cpu_s']} s GC) | <= {TARGETS['plan_cpu_s']:g} s | "
        f"{verdict(cpu['plan_cpu_s'] <= TARGETS['plan_cpu_s'])} |",
        f"| the whole `platforge plan` process: CPU, wall | {cpu['cli_process_cpu_s']} s, {cpu['cli_wall_s']} s, "
        f"{cpu['requests']:,} requests | | |",
        f"| peak memory (`ru_maxrss`) of the planning process | **{cpu['cli_process_max_rss_mb']:.0f} MB** "
        f"(worker: {cpu['max_rss_mb']:.0f} MB) | <= {TARGETS['max_rss_mb']:g} MB | "
        f"{verdict(cpu['cli_process_max_rss_mb'] <= TARGETS['max_rss_mb'])} |",
        f"| apply of {a['n']:,} creates at {a['rate_limit']:g} requests/s: requests that are writes | "
        f"{a['writes']:,} of {a['requests']:,} ({100 * a['writes_share_of_requests']:.1f}%); "
        f"{a['of_them_settings_document_gets']:,} of the reads are GETs of settings documents (the plans' reads, "
        f"read-modify-write, read-backs) | | |",
        f"| writes per second over the whole run | {a['writes_per_second']} = **{100 * a['write_share_of_limit']:.1f}%** "
        f"of the limit ({a['wall_s']} s; all served requests: {100 * a['served_share_of_limit']:.1f}%) | >= 90% | "
        f"{verdict(a['write_share_of_limit'] >= TARGETS['write_share_of_limit'])} |",
        f"| answers that are 429 | {a['throttled_429']} (**{100 * a['share_429']:.2f}%**) | < 1% | "
        f"{verdict(a['share_429'] < TARGETS['share_429'])} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, help="objects for the refresh comparison and the CPU (default 10,000)")
    parser.add_argument("--apply-n", type=int, help="creates in the rate-limited apply (default 1,000)")
    parser.add_argument("--quick", action="store_true", help="N = 500, apply of 200: a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="CPU runs; medians reported")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rate-limit", type=float, default=15)
    parser.add_argument("--skip", choices=["refresh", "apply"], action="append", default=[],
                        help="leave out a part (refresh: parts 1 and 2; apply: part 3)")
    parser.add_argument("--per-object-timeout", type=float, default=2400,
                        help="stop the per-object plan after this many seconds (its time is then a lower bound)")
    parser.add_argument("--out", type=Path, help="JSON (default bench/dataiku_scale.json; with --quick, the scratch)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    args.n = args.n or (500 if args.quick else 10000)
    args.apply_n = args.apply_n or (200 if args.quick else 1000)

    started, load_at_start = time.perf_counter(), os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-dataiku-scale-"))
    out = args.out or (scratch / "dataiku_scale.json" if args.quick else REPO / "bench" / "dataiku_scale.json")
    env = {**os.environ, "DATAIKU_API_KEY": secrets.token_urlsafe(24),
           "BENCH_USER_PASSWORD": secrets.token_urlsafe(12), "BENCH_PG_PASSWORD": secrets.token_urlsafe(12),
           "PYTHONDONTWRITEBYTECODE": "1"}
    cli = [sys.executable, "-m", "platforge"]
    report: dict[str, Any] = {}
    log(f"scratch {scratch}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the sandboxes on the way out
    try:
        # The short, independent part first; the JSON is written after each part.
        if "apply" not in args.skip:
            (scratch / "apply").mkdir()
            report["apply"] = apply_under_limit(args, scratch / "apply", env, cli)
            out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if "refresh" not in args.skip:
            (scratch / "scale").mkdir()
            report.update(refresh_and_cpu(args, scratch / "scale", env, cli, lambda partial: out.write_text(
                json.dumps({**report, **partial, "partial": True}, indent=2) + "\n", encoding="utf-8")))
    finally:
        if args.keep or args.quick:
            log(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    report["config"] = {
        "command": " ".join(["python", "bench/dataiku_scale.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": host_platform.python_version(),
                    "system": f"{host_platform.system()} {host_platform.release()}",
                    "loadavg_at_start": [round(x, 2) for x in load_at_start],
                    "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if "refresh" in report and "apply" in report:
        print(markdown(report))
    else:
        print(json.dumps({k: v for k, v in report.items() if k != "config"}, indent=2)[:6000])
    print(f"\nJSON: {out}; bench took {report['config']['bench_wall_s']:.0f} s")


if __name__ == "__main__":
    main()
