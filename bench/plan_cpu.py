"""CPU seconds of a no-op plan from 1,000 to 10,000 objects, before and after the ownership index.

Issue 9: `State.owned()` scanned the whole state for every declared resource, which made a plan
quadratic in the size of the stack. This bench checks that the plan's CPU now grows linearly.

* The Datatailr sandbox runs as its own process (`python -m platforge sandbox datatailr --port N
  --db FILE`, of the 'after' code, on a free port chosen here), so the planning process's CPU
  excludes the server's work. The sandbox's own CPU is read from /proc and reported beside it.
* One stack directory grows through the sizes (default 1,000, 2,500, 5,000 and 10,000 objects:
  users, groups and KV entries with ACLs, N : N/10 : N as in `bench/plan_scale.py`). Each size is
  applied once, with the 'after' code; a larger stack is a superset of a smaller one, so growing it
  only creates the new objects, and the platform always holds exactly the stack.
* At each size a no-op plan is measured in a fresh interpreter per run for (a) the code at
  `--before` (default 6c296c4, the last commit before the index) and (b) the current code
  (`--after`, default HEAD). Each is taken with `git archive` (read-only) and staged as installed
  (provider/ -> platforge/provider, resources/ -> platforge/pulumi) on PYTHONPATH; every run checks
  `platforge.__file__`. Both plan against the same state file (`platforge.state/v1` in both) and
  the same platform. Runs alternate between the versions; medians of `--repeats` runs are reported.
* Measured per run: CPU (`time.process_time()`: user + system of the planning process) and wall
  time of `Engine(...)` + `Engine.plan()` -- the current code reads the state in the constructor,
  the old one inside `plan()`, so both are counted; loading the stack and logging in are measured
  apart -- the part of that CPU spent in Python's cyclic garbage collector (`gc.callbacks`), and the
  requests the run sent (lines of the sandbox's `--access-log` written during the run).
* The current code's plan is profiled with cProfile (CPU clock) at the smallest and largest
  sizes: the top 10 functions by cumulative time, and the functions whose calls or own time per
  object grow between the two sizes.

    python bench/plan_cpu.py            # 1,000 2,500 5,000 10,000; writes bench/plan_cpu.json (~15 min)
    python bench/plan_cpu.py --quick    # 1,000 and 2,500, current code only, no profile; writes nothing
    python bench/plan_cpu.py --sizes 1000,4000 --repeats 5 --out /tmp/x.json --max-ratio 1.6

`--max-ratio R` exits 1 when the current code's CPU per object at the largest size is more than
R times that at the smallest: a linearity check for CI.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform as host_platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (1000, 2500, 5000, 10000)
QUICK_SIZES = (1000, 2500)
BEFORE_REV = "6c296c4"
#: Installed layout: import path -> folder of the source tree.
LAYOUT = {"platforge": "platforge", "platforge/provider": "provider", "platforge/pulumi": "resources"}
#: Medians reported per version and size.
MEDIANS = ("plan_cpu_s", "plan_wall_s", "gc_cpu_s", "engine_init_cpu_s", "engine_plan_cpu_s",
           "load_and_login_cpu_s", "process_cpu_s", "sandbox_cpu_s", "max_rss_mb")


# ---- the stack ---------------------------------------------------------------------------------

def composition(objects: int) -> dict[str, int]:
    """Users, groups and KV entries adding up to `objects`, as N : N/10 : N."""
    users = round(objects / 2.1)
    groups = max(1, math.ceil(users / 10))
    return {"users": users, "groups": groups, "kv": objects - users - groups}


def write_stack(directory: Path, url: str, objects: int) -> dict[str, int]:
    """Object i belongs to (users) or is read by (KV) group i // 10, so the stack of a larger size
    is a superset of a smaller one's (but for the last group of the smaller, which may change)."""
    c = composition(objects)
    last = c["groups"] - 1
    lines = [f'[platform]\ntype = "datatailr"\nendpoint = "{url}"\n[state]\npath = "{directory}/state.json"\n']
    for g in range(c["groups"]):
        lines.append(f"[group.g{g:05d}]\n")
    for u in range(c["users"]):
        lines.append(f'[user.u{u:05d}]\nemail = "u{u}@example.com"\nfirst_name = "User {u}"\n'
                     f'groups = ["g{min(u // 10, last):05d}"]\n')
    for k in range(c["kv"]):
        lines.append(f'[kv.k{k:05d}]\nvalue = "value {k}"\n[kv.k{k:05d}.acl]\n'
                     f'read = {{ groups = ["g{min(k // 10, last):05d}"] }}\n')
    (directory / "main.toml").write_text("\n".join(lines))
    return c


# ---- worker: a fresh interpreter that imports one tree -----------------------------------------

class GcMeter:
    """CPU spent in the cyclic garbage collector while on, by generation."""

    def __init__(self) -> None:
        import gc

        self.on = False
        self.cpu = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._started = time.process_time()
        else:
            self.cpu[info["generation"]] += time.process_time() - self._started
            self.collections[info["generation"]] += 1


def worker(args: argparse.Namespace) -> None:
    import gc
    import resource

    from platforge.provider import get_platform

    import platforge
    from platforge.core.engine import Engine, make_backend
    from platforge.core.stack import load_stack

    tree = Path(platforge.__file__).resolve().parent.parent
    if tree != Path(args.expect_tree).resolve():
        raise SystemExit(f"imported platforge from {tree}, expected {args.expect_tree}")
    out: dict[str, Any] = {"platforge_file": platforge.__file__}

    cpu, wall = time.process_time(), time.perf_counter()
    stack, platform = load_stack(args.stack, get_platform)
    client = platform.connect(stack.platform_config)
    backend = make_backend(stack, platform, client)
    out.update(load_and_login_cpu_s=time.process_time() - cpu, load_and_login_wall_s=time.perf_counter() - wall)

    if args.worker == "check":  # can this version read the stack and the state there?
        try:
            backend.load()
        except Exception as exc:  # whatever the old code raises for a state it cannot read
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            out["error"] = f"{type(exc).__name__}: {'; '.join(lines[:3])}"
        print(json.dumps(out))
        return

    if args.worker == "apply":
        import inspect

        engine = Engine(stack, platform, client, backend)
        cpu, wall = time.process_time(), time.perf_counter()
        if "parallelism" in inspect.signature(engine.apply).parameters:
            plan, result = engine.apply(parallelism=args.parallelism)
        else:  # the old code takes it from the stack's [platform] only
            stack.platform_config.parallelism = args.parallelism
            plan, result = engine.apply()
        out.update(apply_wall_s=time.perf_counter() - wall, apply_cpu_s=time.process_time() - cpu,
                   applied=len(result.applied), failed=[f"{a.address}: {why}" for a, why in result.failed][:20])
        print(json.dumps(out))
        return

    meter = GcMeter()
    profiler = None
    if args.worker == "profile":
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU clock: waiting for the sandbox is not counted
        profiler.enable()
    if args.no_gc:
        gc.disable()
    meter.on = True
    cpu, wall = time.process_time(), time.perf_counter()
    engine = Engine(stack, platform, client, backend)
    cpu_mid = time.process_time()
    plan = engine.plan()
    cpu_end, wall_end = time.process_time(), time.perf_counter()
    meter.on = False
    gc.enable()
    if profiler is not None:
        profiler.disable()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.update(
        plan_cpu_s=cpu_end - cpu, plan_wall_s=wall_end - wall,
        engine_init_cpu_s=cpu_mid - cpu, engine_plan_cpu_s=cpu_end - cpu_mid,
        gc_cpu_s=sum(meter.cpu), gc_cpu_s_by_generation=[round(x, 4) for x in meter.cpu],
        gc_collections_by_generation=meter.collections,
        actions=len(plan.actions), changes=len(plan.changes), orphans=len(plan.orphans),
        unmanaged=len(plan.unmanaged),
        process_cpu_s=usage.ru_utime + usage.ru_stime,  # interpreter start and imports included
        max_rss_mb=round(usage.ru_maxrss / 1024, 1),  # peak resident memory of the planning process (Linux: KiB)
    )
    if profiler is not None:
        out["profile"] = profile_rows(profiler, tree)
    print(json.dumps(out))


def profile_rows(profiler: Any, tree: Path) -> list[dict[str, Any]]:
    import pstats

    rows = []
    for (file, line, name), (cc, nc, tt, ct, _callers) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        where = file
        if file.startswith(str(tree)):
            where = os.path.relpath(file, tree)
        elif "site-packages" in file:
            where = file.split("site-packages" + os.sep, 1)[1]
        elif file.startswith((sys.prefix, sys.base_prefix)):
            where = "stdlib:" + os.path.basename(file)
        rows.append({"function": f"{where}:{line}({name})", "ncalls": nc, "primitive_calls": cc,
                     "tottime_s": round(tt, 4), "cumtime_s": round(ct, 4)})
    rows.sort(key=lambda r: -r["cumtime_s"])
    return rows


# ---- orchestration -----------------------------------------------------------------------------

def stage(rev: str, into: Path) -> Path:
    """The tree at `rev`, laid out as installed, from `git archive` (read-only: no checkout, no index)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
    source = into / "source"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/")[0] in set(LAYOUT.values())]
        tar.extractall(source, members=members, filter="data")
    staged = into / "site"
    for target, folder in LAYOUT.items():
        shutil.copytree(source / folder, staged / target, dirs_exist_ok=True)
    return staged


def resolve(rev: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev + "^{commit}"], check=True,
                          capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(pythonpath: Path | None = None, password: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no __pycache__ in anybody's tree
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    if password is not None:
        env.update(DATATAILR_USER_NAME="admin", DATATAILR_USER_PASSWORD=password)
    return env


class Sandbox:
    """`platforge sandbox datatailr` as its own process, on a port chosen here."""

    def __init__(self, scratch: Path, password: str, pythonpath: Path | None) -> None:
        self.log = scratch / "access.jsonl"
        self.db = scratch / "sandbox.db"
        self.stderr_path = scratch / "sandbox.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        with self.stderr_path.open("w") as stderr:
            for _ in range(5):  # a port taken between free_port() and the bind: try another
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "platforge", "sandbox", "datatailr", "--port", str(self.port),
                     "--db", str(self.db), "--admin-password", password, "--access-log", str(self.log)],
                    stdout=subprocess.DEVNULL, stderr=stderr, env=clean_env(pythonpath), cwd=scratch,
                )
                if self._ready():
                    return
                self.stop()
        raise SystemExit(f"the sandbox did not start: see {self.stderr_path}")

    def _ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        return False

    def offset(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def requests_since(self, offset: int) -> dict[str, int]:
        with self.log.open("rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode().splitlines()
        counts: dict[str, int] = {}
        for line in lines:
            record = json.loads(line)
            key = f"{record['method']} {record['path']}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def cpu_s(self) -> float:
        """User + system CPU of the sandbox process so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Platform:
    """One sandbox and the stack directory (stack and state) applied to it."""

    def __init__(self, directory: Path, password: str, pythonpath: Path | None) -> None:
        directory.mkdir()
        self.stack = directory / "stack"
        self.stack.mkdir()
        self.sandbox = Sandbox(directory, password, pythonpath)


class Worker:
    """One worker subprocess: a fresh interpreter importing one version's tree."""

    def __init__(self, bench: Bench, mode: str, version: str, platform: Platform, *extra: str) -> None:
        tree, pythonpath = bench.versions[version]
        self.mode, self.version, self.tree, self.platform = mode, version, tree, platform
        command = [sys.executable, str(bench.script), "--worker", mode, "--stack", str(platform.stack),
                   "--expect-tree", str(tree), *extra]
        self.mark, self.server = platform.sandbox.offset(), platform.sandbox.cpu_s()
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=clean_env(pythonpath, bench.password), cwd=platform.stack.parent)

    def result(self, check: bool = True) -> dict[str, Any]:
        stdout, stderr = self.proc.communicate()
        if self.proc.returncode != 0:
            if not check:
                return {"error": (stderr.strip().splitlines() or ["?"])[-1]}
            raise SystemExit(f"{self.mode} worker ({self.version}, {self.tree}) failed:\n{stderr[-4000:]}")
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        sandbox = self.platform.sandbox
        result["sandbox_cpu_s"] = sandbox.cpu_s() - self.server
        result["requests"] = sandbox.requests_since(self.mark)
        result["request_count"] = sum(result["requests"].values())
        return result


class Bench:
    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.password = secrets.token_urlsafe(16)
        # Workers run a copy of this file, so that editing it during a run changes nothing.
        self.script = scratch / "plan_cpu_worker.py"
        shutil.copy(__file__, self.script)
        #: name -> (tree that must be imported, PYTHONPATH)
        self.versions: dict[str, tuple[Path, Path | None]] = {}
        self.labels: dict[str, str] = {}
        if not args.no_before:
            site = stage(args.before, scratch / "before")
            self.versions["before"], self.labels["before"] = (site, site), resolve(args.before)
        if args.after == "worktree":
            self.versions["after"] = (REPO, None)
            dirty = [line[3:] for line in subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--", "platforge", "provider", "resources"],
                capture_output=True, text=True).stdout.splitlines() if line.strip()]
            self.labels["after"] = f"work tree at {resolve('HEAD')}" + (
                f" with uncommitted changes: {', '.join(dirty)}" if dirty else "")
        else:
            site = stage(args.after, scratch / "after")
            self.versions["after"], self.labels["after"] = (site, site), resolve(args.after)
        # Both versions plan against one platform (sandbox + state) applied by the current code,
        # unless the old code cannot read that state: then each applies and plans its own.
        shared = Platform(scratch / "platform", self.password, self.versions["after"][1])
        self.platforms: list[Platform] = [shared]
        self.platform_of = {name: shared for name in self.versions}
        self.applied_by = {id(shared): "after"}
        self.sharing = "shared" if "before" in self.versions else "after only"
        self.checked = False

    def separate(self, why: str) -> None:
        own = Platform(self.scratch / "platform-before", self.password, self.versions["after"][1])
        self.platforms.append(own)
        self.platform_of["before"] = own
        self.applied_by[id(own)] = "before"
        self.sharing = f"separate: {why}"
        log(f"the old code gets its own sandbox and state, applied by itself ({why})")

    def grow(self, size: int) -> dict[str, Any]:
        row: dict[str, Any] = {"objects": size}
        for platform, worker in self._apply_all(size):
            self._record_apply(row, size, platform, worker)
        if self.sharing == "shared" and not self.checked and self.args.platforms != "shared":
            self.checked = True
            check = Worker(self, "check", "before", self.platform_of["before"]).result(check=False)
            if self.args.platforms == "separate" or "error" in check:
                self.separate(check.get("error", "--platforms separate"))
                for platform, worker in self._apply_all(size, only=self.platform_of["before"]):
                    self._record_apply(row, size, platform, worker)
        return row

    def _apply_all(self, size: int, only: Platform | None = None) -> list[tuple[Platform, Worker]]:
        """Grow every platform to `size` objects at once (each by the version that owns it)."""
        started = []
        for platform in self.platforms if only is None else [only]:
            write_stack(platform.stack, platform.sandbox.url, size)
            started.append((platform, Worker(self, "apply", self.applied_by[id(platform)], platform,
                                             "--parallelism", str(self.args.parallelism))))
        return started

    def _record_apply(self, row: dict[str, Any], size: int, platform: Platform, worker: Worker) -> None:
        applied = worker.result()
        if applied["failed"]:
            raise SystemExit(f"apply at {size} objects ({worker.version}) failed: {applied['failed']}")
        log(f"{size:>6,} objects: {worker.version} applied {applied['applied']:,} in {applied['apply_wall_s']:.1f} s "
            f"(CPU: apply {applied['apply_cpu_s']:.1f} s, sandbox {applied['sandbox_cpu_s']:.1f} s)")
        row.update(composition(size))
        row.setdefault("apply", {})[worker.version] = {
            "applied": applied["applied"], "wall_s": round(applied["apply_wall_s"], 2),
            "cpu_s": round(applied["apply_cpu_s"], 2), "sandbox_cpu_s": round(applied["sandbox_cpu_s"], 2)}

    def measure(self, size: int) -> dict[str, Any]:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in self.versions}
        for _ in range(self.args.repeats):
            for name in self.versions:  # alternate, so that load on the machine hits both alike
                runs[name].append(Worker(self, "plan", name, self.platform_of[name]).result())
        out: dict[str, Any] = {}
        for name, rs in runs.items():
            summary: dict[str, Any] = {key: round(statistics.median([r[key] for r in rs]), 4) for key in MEDIANS}
            summary["plan_cpu_ms_per_object"] = round(1000 * summary["plan_cpu_s"] / size, 4)
            summary["plan_cpu_ms_per_object_without_gc"] = round(
                1000 * statistics.median([r["plan_cpu_s"] - r["gc_cpu_s"] for r in rs]) / size, 4)
            summary["requests"] = int(statistics.median([r["request_count"] for r in rs]))
            summary["requests_by_endpoint"] = rs[0]["requests"]
            summary["gc_collections_by_generation"] = rs[0]["gc_collections_by_generation"]
            for key in ("actions", "changes", "orphans", "unmanaged"):
                summary[key] = max(r[key] for r in rs)
            summary["runs_plan_cpu_s"] = [round(r["plan_cpu_s"], 4) for r in rs]
            summary["runs_plan_wall_s"] = [round(r["plan_wall_s"], 4) for r in rs]
            if summary["changes"] or summary["orphans"] or summary["unmanaged"]:
                log(f"warning: {name} at {size}: {summary['changes']} changes, {summary['orphans']} orphans, "
                    f"{summary['unmanaged']} unmanaged in what should be a no-op plan")
            out[name] = summary
        log("        " + "   ".join(f"{n}: {out[n]['plan_cpu_s']:.2f} s CPU ({out[n]['gc_cpu_s']:.2f} in GC), "
                                    f"{out[n]['plan_wall_s']:.2f} s wall, {out[n]['requests']} requests" for n in out))
        return out

    def profile(self, version: str, gc: bool = True) -> dict[str, Any]:
        result = Worker(self, "profile", version, self.platform_of[version], *(() if gc else ("--no-gc",))).result()
        return {key: result[key] for key in ("plan_cpu_s", "gc_cpu_s", "gc_collections_by_generation", "profile")}

    def stop(self) -> None:
        for platform in self.platforms:
            platform.sandbox.stop()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def growth(small: list[dict[str, Any]], large: list[dict[str, Any]], size_ratio: float, total_s: float,
           ) -> list[dict[str, Any]]:
    """Functions with at least 2% of the large run's CPU whose calls per object grow by more than
    1.2x, or own CPU per object by more than 1.5x, from the small size to the large one."""
    at_small = {r["function"]: r for r in small}
    found = []
    for r in large:
        s = at_small.get(r["function"])
        if s is None or r["tottime_s"] < 0.02 * total_s:
            continue
        calls = r["ncalls"] / s["ncalls"] / size_ratio if s["ncalls"] else math.inf
        own = r["tottime_s"] / s["tottime_s"] / size_ratio if s["tottime_s"] > 0 else math.inf
        if calls > 1.2 or own > 1.5:
            found.append({"function": r["function"], "tottime_s": r["tottime_s"], "ncalls": r["ncalls"],
                          "calls_per_object_ratio": round(calls, 2), "own_cpu_per_object_ratio": round(own, 2)})
    return sorted(found, key=lambda f: -f["tottime_s"])


def summarise(results: list[dict[str, Any]], versions: list[str], profiles: dict[str, Any]) -> dict[str, Any]:
    first, last = results[0], results[-1]
    report: dict[str, Any] = {
        "sizes": results,
        "linearity_between": [first["objects"], last["objects"]],
        "linearity": {n: round(last[n]["plan_cpu_ms_per_object"] / first[n]["plan_cpu_ms_per_object"], 2)
                      for n in versions},
        "linearity_without_gc": {n: round(last[n]["plan_cpu_ms_per_object_without_gc"]
                                          / first[n]["plan_cpu_ms_per_object_without_gc"], 2) for n in versions},
    }
    out: dict[str, Any] = {}
    for key, prof in profiles.items():
        out[key] = {"plan_cpu_s_under_profiler": round(prof["plan_cpu_s"], 3),
                    "gc_cpu_s_under_profiler": round(prof["gc_cpu_s"], 3),
                    "gc_collections_by_generation": prof["gc_collections_by_generation"],
                    "top10_cumulative": prof["profile"][:10]}
    # Growth is judged with the collector off: the CPU of a collection is charged to whichever
    # function's allocation set it off, which says nothing about that function (the collector's
    # share is measured apart, in every run).
    small = profiles.get(f"after@{first['objects']}, collector off")
    large = profiles.get(f"after@{last['objects']}, collector off")
    if small and large and last["objects"] > first["objects"]:
        out["growth_after"] = growth(small["profile"], large["profile"], last["objects"] / first["objects"],
                                     large["plan_cpu_s"])
    report["profile"] = out
    return report


def print_report(report: dict[str, Any], versions: list[str]) -> None:
    print()
    header = ["objects"]
    for n in versions:
        header += [f"{n}: CPU s", "of it GC", "wall s", "requests", "CPU ms/object"]
    if len(versions) == 2:
        header.append("CPU before/after")
    header.append("sandbox CPU s (after)")
    print("| " + " | ".join(header) + " |")
    print("| --- |" + " ---: |" * (len(header) - 1))
    for row in report["sizes"]:
        cells = [f"{row['objects']:,}"]
        for n in versions:
            r = row[n]
            cells += [f"{r['plan_cpu_s']:.2f}", f"{r['gc_cpu_s']:.2f}", f"{r['plan_wall_s']:.2f}", str(r["requests"]),
                      f"{r['plan_cpu_ms_per_object']:.3f}"]
        if len(versions) == 2:
            cells.append(f"{row['before']['plan_cpu_s'] / row['after']['plan_cpu_s']:.1f}x")
        cells.append(f"{row['after']['sandbox_cpu_s']:.2f}")
        print("| " + " | ".join(cells) + " |")
    a, b = report["linearity_between"]
    print(f"\nCPU per object at {b:,} / at {a:,} (1.00 = linear): "
          + ", ".join(f"{n} {report['linearity'][n]:.2f}" for n in versions)
          + "; without the garbage collector's share: "
          + ", ".join(f"{n} {report['linearity_without_gc'][n]:.2f}" for n in versions))
    for key, prof in report["profile"].items():
        if key == "growth_after" or "collector off" in key:
            continue
        print(f"\ncProfile (CPU clock) of the no-op plan, {key} objects: {prof['plan_cpu_s_under_profiler']:.2f} s "
              f"CPU under the profiler, {prof['gc_cpu_s_under_profiler']:.2f} s of it in GC "
              f"(collections by generation {prof['gc_collections_by_generation']}); top 10 by cumulative time:")
        for r in prof["top10_cumulative"]:
            print(f"  {r['cumtime_s']:7.3f} s cum {r['tottime_s']:7.3f} s own {r['ncalls']:>8} calls  {r['function']}")
    if "growth_after" in report["profile"]:
        print("\nfunctions whose calls (> 1.2x) or own CPU (> 1.5x) per object grow from the smallest size to the "
              "largest (>= 2% of the CPU; profiled with the collector off):")
        for g in report["profile"]["growth_after"] or [{"function": "none"}]:
            print("  " + ", ".join(f"{k} {v}" for k, v in g.items()))
    print(f"\nbench took {report['bench_wall_s']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated object counts (default 1000,2500,5000,10000)")
    parser.add_argument("--quick", action="store_true",
                        help="1,000 and 2,500 objects, the current code only, no profile, no JSON: CI size")
    parser.add_argument("--repeats", type=int, default=3, help="runs per version and size; medians reported")
    parser.add_argument("--before", default=BEFORE_REV, help="git revision of the old code (default %(default)s)")
    parser.add_argument("--after", default="HEAD",
                        help="git revision of the current code (default HEAD: uncommitted edits in the work tree "
                             "do not leak in), or 'worktree' for the editable install of the work tree as it is")
    parser.add_argument("--no-before", action="store_true", help="measure the current code only")
    parser.add_argument("--with-before", action="store_true", help="with --quick: measure the old code too")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="profile the current code at the smallest and largest sizes (default: not with --quick)")
    parser.add_argument("--profile-before", action="store_true", help="also profile the old code at the largest size")
    parser.add_argument("--platforms", choices=["auto", "shared", "separate"], default="auto",
                        help="whether both versions plan against one platform and state applied by the current "
                             "code (shared), or each against its own, applied by itself (separate); auto: shared "
                             "unless the old code cannot read the state the current code writes")
    parser.add_argument("--parallelism", type=int, default=8, help="apply parallelism while growing the stack")
    parser.add_argument("--max-ratio", type=float, help="exit 1 if the current code's CPU per object grows more")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/plan_cpu.json; none with --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--worker", choices=["plan", "profile", "apply", "check"], help=argparse.SUPPRESS)
    parser.add_argument("--stack", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--expect-tree", help=argparse.SUPPRESS)
    parser.add_argument("--no-gc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    started, load_at_start = time.perf_counter(), os.getloadavg()
    sizes = sorted({int(s) for s in args.sizes.split(",")}) if args.sizes else list(
        QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.quick and not args.with_before:
        args.no_before = True
    profile = args.profile if args.profile is not None else not args.quick
    out = args.out or (None if args.quick else REPO / "bench" / "plan_cpu.json")
    scratch = Path(tempfile.mkdtemp(prefix="platforge-plan-cpu-"))
    results: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    bench = None
    try:
        bench = Bench(args, scratch)
        versions = list(bench.versions)
        log(f"sandbox on {bench.platforms[0].sandbox.url}; scratch {scratch}; versions {bench.labels}")
        for size in sizes:
            row = bench.grow(size)
            row.update(bench.measure(size))
            results.append(row)
            if profile and size in (sizes[0], sizes[-1]):
                profiles[f"after@{size}"] = bench.profile("after")
                profiles[f"after@{size}, collector off"] = bench.profile("after", gc=False)
                if args.profile_before and size == sizes[-1] and "before" in bench.versions:
                    profiles[f"before@{size}"] = bench.profile("before")
    finally:
        if bench is not None:
            bench.stop()
        if args.keep:
            log(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    report = summarise(results, versions, profiles)
    report["config"] = {
        "sizes": sizes, "repeats": args.repeats, "versions": bench.labels, "platforms": bench.sharing,
        "apply_parallelism": args.parallelism,
        "measured": "CPU and wall: time.process_time() and time.perf_counter() of the planning subprocess around "
                    "Engine(...) + Engine.plan(); GC: CPU inside gc.callbacks; requests: sandbox access-log lines "
                    "written during the whole subprocess (login included); sandbox CPU: /proc/PID/stat of the "
                    "sandbox process during the subprocess",
        "machine": {"cpus": os.cpu_count(), "python": host_platform.python_version(),
                    "system": f"{host_platform.system()} {host_platform.release()}",
                    "loadavg_at_start": [round(x, 2) for x in load_at_start],
                    "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    report["bench_wall_s"] = round(time.perf_counter() - started, 1)
    print_report(report, versions)
    if out:
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {out}")
    if args.max_ratio is not None and report["linearity"]["after"] > args.max_ratio:
        print(f"FAIL: the current code's CPU per object grew {report['linearity']['after']:.2f}x "
              f"from {sizes[0]:,} to {sizes[-1]:,} objects (limit {args.max_ratio})")
        sys.exit(1)


if __name__ == "__main__":
    main()
