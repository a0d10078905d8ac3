"""Requests per second of the Datatailr sandbox for `user ls` and `kv put`.

The sandbox runs as its own process (`platforge sandbox datatailr`, one uvicorn worker), exactly
as users run it; the load comes from client threads in this process over keep-alive httpx
connections. Both share the machine, so the figure is a floor for a dedicated server.

    python bench/sandbox_rps.py [--seconds 10] [--threads 4] [--users 50] [--out bench/results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(db: Path, password: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "platforge", "sandbox", "datatailr", "--port", str(port), "--db", str(db),
         "--admin-password", password],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("sandbox did not start")


def session(url: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    client.post("/login", auth=("admin", password)).raise_for_status()
    return client


def run_load(url: str, password: str, seconds: float, threads: int, make_request) -> dict:
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start_gate = threading.Barrier(threads + 1)
    deadline_box: dict[str, float] = {}

    def worker(n: int) -> None:
        client = session(url, password)
        start_gate.wait()
        i = 0
        while time.perf_counter() < deadline_box["t"]:
            t0 = time.perf_counter()
            response = make_request(client, n, i)
            latencies[n].append(time.perf_counter() - t0)
            if response.status_code == 200:
                counts[n] += 1
            else:
                errors[n] += 1
            i += 1
        client.close()

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    deadline_box["t"] = time.perf_counter() + seconds
    start_gate.wait()
    began = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    all_latencies = sorted(x for per in latencies for x in per)
    return {
        "requests": sum(counts),
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "rps": round(sum(counts) / elapsed, 1),
        "p50_ms": round(statistics.median(all_latencies) * 1000, 2),
        "p95_ms": round(all_latencies[int(len(all_latencies) * 0.95) - 1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--users", type=int, default=50, help="users seeded before `user ls` is measured")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    password = "bench-" + os.urandom(6).hex()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_sandbox(Path(tmp) / "bench.db", password)
        try:
            with closing(session(url, password)) as admin:
                for i in range(args.users):
                    admin.post("/api/user/add", json={
                        "username": f"user{i:04d}", "first-name": "U", "last-name": f"{i}",
                        "email": f"user{i}@example.com", "password": "pw", "json-enrichened": True,
                    }).raise_for_status()
            user_ls = run_load(url, password, args.seconds, args.threads,
                               lambda c, n, i: c.get("/api/user/ls", params={"filter": "", "json": "True"}))
            kv_put = run_load(url, password, args.seconds, args.threads,
                              lambda c, n, i: c.put("/api/kv/put", json={"key": f"bench/{n}/{i % 500}", "value": f"v{i}"}))
        finally:
            proc.terminate()
            proc.wait(timeout=15)

    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "threads": args.threads,
        "seeded_users": args.users,
        "user_ls": user_ls,
        "kv_put": kv_put,
    }
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
