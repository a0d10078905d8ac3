"""How the Datatailr sandbox's per-object reads and listing pages scale with the number of objects.

A per-object read (`user get`, `kv get`, `job get`, ...) should cost the same whatever the number
of objects, and a listing page should cost the page plus an indexed count. This bench fills a
sandbox with N users (each in `dtusers` and one of N/10 groups, so a group has about ten
members), N KV entries (plus N/10 secrets) and N jobs (one version each, every tenth with a
second, removed version; every fifth a three-task workflow), each object with an owner ACL and
every tenth shared with a group, then times each request at N = 1,000 and 10,000 and prints the
ratio. A flat ratio (about 1) means the request does not grow with N.

The objects are written straight into the sandbox's SQLite file through its store, in the shape
the API writes them (jobs are copies of versions saved through the API): creating 30,000 objects
through HTTP would take minutes and measure the writes, not the reads. The requests go through
the whole ASGI app in process (FastAPI's TestClient: routing, session check, handler, JSON), so
the figures exclude only the network. Each figure is the median of up to `--calls` calls, fewer
when a request is slow (a `--budget` of seconds per request and size, at least 5 calls); the
sizes take turns call by call, so that other load on the machine weighs on both alike.

    python bench/sandbox_scaling.py [--sizes 1000,10000] [--calls 50] [--budget 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

with warnings.catch_warnings():  # starlette's notice about httpx, irrelevant to the figures
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from platforge.provider.datatailr.sandbox.app import create_app  # noqa: E402
from platforge.provider.datatailr.sandbox.auth import hash_password  # noqa: E402
from platforge.provider.datatailr.sandbox.config import SandboxConfig  # noqa: E402
from platforge.provider.datatailr.sandbox.jobs.definition import job_id  # noqa: E402

PASSWORD = secrets.token_urlsafe(16)  # generated per run: never a literal credential
USER_PASSWORD = secrets.token_urlsafe(16)
PERMS = ("read", "write", "operate", "access", "promote")
FIRST_USER = 1001
FIRST_GROUP = 103  # after the built-in groups 100-102
PAGE = 100

IMAGE = {"python_version": "3.12", "python_requirements": "flask\nnumpy", "branch_name": "main",
         "path_to_repo": "/src/proj", "path_to_module": "mypkg"}
SERVICE = {"environment": "dev", "image": IMAGE, "type": "service", "display_name": "Template Service",
           "run_as": "admin", "memory": "256m", "num_cpus": 0.5, "app_section": "",
           "entrypoint": "mypkg.svc:main", "env": [{"DATATAILR_JOB_ENV_A": "1"}]}
WORKFLOW = {"environment": "dev", "image": IMAGE, "type": "batch", "display_name": "Template Flow",
            "run_as": "admin", "memory": "100m", "num_cpus": 1, "app_section": "",
            "jobs": [{"display_name": f"task{n}", "name": f"task{n}", "child_number": n,
                      "entrypoint": "mypkg.tasks:step", "memory": "100m", "num_cpus": 1,
                      "depends_on": [n - 1] if n else [], "env": []} for n in range(3)]}


def user_name(i: int) -> str:
    return f"user{i:05d}"


def group_name(i: int) -> str:
    return f"team{i:04d}"


def kv_key(i: int) -> str:
    return f"config/key-{i:05d}"


def job_name(i: int) -> str:
    return f"job-{i:05d}"


def populate(app: Any, client: TestClient, n: int) -> None:
    """N users, N/10 groups, N KV entries, N/10 secrets and N jobs, written through the store."""
    groups = max(1, n // 10)
    templates = {}
    for data in (SERVICE, WORKFLOW):
        reply = client.post("/api/job/save", json={"json": True, "data": data})
        reply.raise_for_status()
    store = app.state.store
    with store.read() as db:
        for row in db.all("SELECT * FROM job_versions"):
            templates[row["type"]] = dict(row)
    user_hash = hash_password(USER_PASSWORD)  # one user can sign in (the non-admin reads)
    with store.tx() as db:
        db.execute("DELETE FROM job_versions")
        db.execute("DELETE FROM acl_entries WHERE resource LIKE 'job/%'")
        db.executemany("INSERT INTO groups(group_id, name) VALUES (?, ?)",
                       [(FIRST_GROUP + g, group_name(g)) for g in range(groups)])
        db.executemany(
            "INSERT INTO users(user_id, name, first_name, last_name, email, password_hash) VALUES (?, ?, ?, ?, ?, ?)",
            [(FIRST_USER + i, user_name(i), f"First{i}", f"Last{i % 97}", f"{user_name(i)}@example.com",
              user_hash if i == 0 else None) for i in range(n)])
        db.executemany("INSERT INTO memberships(group_id, user_id) VALUES (?, ?)",
                       [(100, FIRST_USER + i) for i in range(n)]
                       + [(FIRST_GROUP + i % groups, FIRST_USER + i) for i in range(n)])
        acl: list[tuple[str, str, int]] = []

        def own(resource: str, i: int) -> None:
            acl.extend((resource, perm, FIRST_USER + i % n) for perm in PERMS)
            if i % 10 == 0:
                acl.append((resource, "read", -(FIRST_GROUP + i % groups)))

        now = time.time_ns() // 1000
        kv = [("dev", 0, kv_key(i), f"value-{i}") for i in range(n)]
        kv += [("dev", 1, kv_key(i), f"secret-{i}") for i in range(0, n, 10)]
        db.executemany("INSERT INTO kv_entries(environment, secure, key, value, updated_at) VALUES (?, ?, ?, ?, ?)",
                       [(*row, now) for row in kv])
        for i, (env, secure, key, _) in enumerate(kv):
            own(f"kv/{env}/{secure}/{key}", i)
        jobs = []
        for i in range(n):
            template = templates["batch" if i % 5 == 0 else "service"]
            definition = json.loads(template["definition"])
            definition["display_name"] = f"Job {i:05d}"
            versions = [(1, 0), (2, 1)] if i % 10 == 0 else [(1, 0)]
            for version, removed in versions:
                jobs.append(("dev", job_name(i), version, job_id(job_name(i), "dev"), template["type"],
                             f"Job {i:05d}", "ready", removed, now + i, json.dumps(definition)))
                own(f"job/dev/{job_name(i)}/{version}", i)
        db.executemany(
            "INSERT INTO job_versions(environment, name, version, id, type, display_name, state, removed, "
            "create_time, definition) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", jobs)
        db.executemany("INSERT OR IGNORE INTO acl_entries(resource, permission, principal) VALUES (?, ?, ?)", acl)


def requests_for(n: int) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """name -> (who, path, query). `who` is `admin` or `user` (a non-admin, user00000)."""
    mid = n // 2
    groups = max(1, n // 10)
    page = {"batch-size": PAGE}
    middle = {"batch-size": PAGE, "offset": mid}
    return {
        "user/get": ("admin", "/api/user/get", {"username": user_name(mid)}),
        "user/exists": ("admin", "/api/user/exists", {"username": user_name(mid)}),
        "group/get": ("admin", "/api/group/get", {"group_name": group_name(groups // 2)}),
        "kv/get": ("admin", "/api/kv/get", {"key": kv_key(mid)}),
        "kv/get secure": ("admin", "/api/kv/get", {"key": kv_key(mid // 10 * 10), "secure": "true"}),
        "kv/acls": ("admin", "/api/kv/acls", {"key": kv_key(mid)}),
        "kv/get (non-admin)": ("user", "/api/kv/get", {"key": kv_key(0)}),
        "job/get": ("admin", "/api/job/get", {"job_name": job_name(mid)}),
        "job/get by display name": ("admin", "/api/job/get", {"job_name": f"Job {mid:05d}"}),
        "user/ls first page": ("admin", "/api/user/ls", page),
        "user/ls middle page": ("admin", "/api/user/ls", middle),
        "group/ls first page": ("admin", "/api/group/ls", page),
        "group/ls middle page": ("admin", "/api/group/ls", {"batch-size": PAGE, "offset": groups // 2}),
        "kv/ls first page": ("admin", "/api/kv/ls", page),
        "kv/ls middle page": ("admin", "/api/kv/ls", middle),
        "kv/ls first page (non-admin)": ("user", "/api/kv/ls", page),
        "job/ls first page": ("admin", "/api/job/ls", page),
        "job/ls middle page": ("admin", "/api/job/ls", middle),
        "job/ls first page (non-admin)": ("user", "/api/job/ls", page),
    }


class Sandbox:
    """One sandbox of `n` objects in a temporary directory, with an admin and a user signed in."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._tmp = tempfile.TemporaryDirectory()
        config = SandboxConfig(db_path=str(Path(self._tmp.name) / "bench.db"), admin_password=PASSWORD)
        self.app = create_app(config)
        self.admin, self.user = TestClient(self.app), TestClient(self.app)
        self.admin.post("/login", auth=(config.admin_user, PASSWORD)).raise_for_status()
        t0 = time.perf_counter()
        populate(self.app, self.admin, n)
        print(f"N={n:,}: populated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        self.user.post("/login", auth=(user_name(0), USER_PASSWORD)).raise_for_status()

    def call(self, name: str) -> Callable[[], Any]:
        who, path, query = requests_for(self.n)[name]
        client = self.admin if who == "admin" else self.user
        return lambda: client.get(path, params=query)

    def close(self) -> None:
        self.admin.close()
        self.user.close()
        self.app.state.store.close()
        self._tmp.cleanup()


def measure(sizes: list[int], calls: int, budget: float) -> dict[int, dict[str, dict[str, float]]]:
    """Median milliseconds per request and size. The sizes take turns call by call, so a change
    in the machine's load (other processes) weighs on every size alike and the ratios hold; a
    request stops after `budget` seconds per size (at least 5 calls each), after one warm-up
    call per size that must succeed."""
    boxes = [Sandbox(n) for n in sizes]
    out: dict[int, dict[str, dict[str, float]]] = {n: {} for n in sizes}
    try:
        for name in requests_for(sizes[0]):
            funcs = [box.call(name) for box in boxes]
            for func in funcs:
                response = func()
                assert response.status_code == 200, response.text
            samples: list[list[float]] = [[] for _ in boxes]
            deadline = time.perf_counter() + budget * len(boxes)
            while len(samples[0]) < calls and (len(samples[0]) < 5 or time.perf_counter() < deadline):
                for func, taken in zip(funcs, samples, strict=True):
                    t0 = time.perf_counter()
                    response = func()
                    taken.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 200, response.text
            for n, taken in zip(sizes, samples, strict=True):
                out[n][name] = {"ms": statistics.median(taken), "calls": len(taken)}
            print(f"  {name:32} " + "  ".join(f"{statistics.median(t):8.2f} ms" for t in samples)
                  + f"  ({len(samples[0])} calls each)", file=sys.stderr)
    finally:
        for box in boxes:
            box.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated object counts")
    parser.add_argument("--calls", type=int, default=50, help="calls per request (median)")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per request before stopping early")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = measure(sizes, args.calls, args.budget)
    first, last = sizes[0], sizes[-1]
    print(f"| request | N = {first:,} (ms) | N = {last:,} (ms) | ratio {last:,} / {first:,} |")
    print("| --- | ---: | ---: | ---: |")
    for name in results[first]:
        a, b = results[first][name]["ms"], results[last][name]["ms"]
        print(f"| `{name}` | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({str(n): r for n, r in results.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
