"""An apply of N creates against a platform limited to R requests per second: how much of the
request budget goes to writes, and how many answers are 429.

A sandbox process runs with `--rate-limit R` (429 with `Retry-After` beyond it); the stack is
the issue's mix without secrets' reads skewing it (40% users, 55% KV entries with ACLs, 5%
groups). The client's limiter is the default (adaptive, nothing configured).

    python bench/apply_rate_limit.py               # N = 1,000, R = 15 (about 75 s)
    python bench/apply_rate_limit.py --n 200       # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox import Sandbox  # noqa: E402  (the benches' shared sandbox process)


def stack_text(url: str, n: int) -> str:
    groups = max(1, n * 5 // 100)
    users = n * 40 // 100
    kv = n - groups - users
    parts = [f'[platform]\ntype = "datatailr"\nendpoint = "{url}"\nparallelism = 8\n']
    parts += [f"[group.g{i:05d}]\n" for i in range(groups)]
    parts += [f'[user.u{i:05d}]\nemail = "u{i}@example.com"\ngroups = ["g{i % groups:05d}"]\n' for i in range(users)]
    parts += [f'[kv.k{i:05d}]\nvalue = "v{i}"\n[kv.k{i:05d}.acl]\nread = {{ groups = ["g{i % groups:05d}"] }}\n'
              for i in range(kv)]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rate-limit", type=float, default=15)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-ratelimit-"))
    password = secrets.token_urlsafe(12)
    env = {**os.environ, "DATATAILR_USER_NAME": "admin", "DATATAILR_USER_PASSWORD": password}
    box = Sandbox(scratch, password, "--rate-limit", str(args.rate_limit))
    try:
        stack = scratch / "stack"
        stack.mkdir()
        (stack / "main.toml").write_text(stack_text(box.url, args.n))
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "platforge", "apply", str(stack), "--yes"], env=env,
                                capture_output=True, text=True)
        wall = time.perf_counter() - started
        answers = box.requests()
    finally:
        box.stop()
    writes = [r for r in answers if r["method"] != "GET" and r["path"] != "/login" and r["status"] != 429]
    throttled = sum(1 for r in answers if r["status"] == 429)
    report = {
        "n": args.n, "rate_limit": args.rate_limit, "exit": result.returncode, "wall_s": round(wall, 1),
        "requests": len(answers), "writes": len(writes), "throttled_429": throttled,
        "writes_share_of_requests": round(len(writes) / len(answers), 3),
        "share_429": round(throttled / len(answers), 4),
        "writes_per_second": round(len(writes) / wall, 2),
        "write_share_of_limit": round(len(writes) / wall / args.rate_limit, 3),
        "by_endpoint": dict(Counter(f"{r['method']} {r['path']}" for r in answers).most_common(8)),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
