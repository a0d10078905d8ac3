"""A no-op plan read by listing against the per-object refresh other engines do, side by side.

N objects in the issue's mix (5% groups, 40% users, 50% KV entries with ACLs, 5% secrets) are
applied to a sandbox process at full speed; the sandbox is then restarted on the same database
with `--latency-ms 50 --rate-limit 15` (a remote, throttled platform), and the same no-op plan is
timed both ways in fresh processes: `platforge plan` (one list call per kind per page, secrets
trusted from their recorded fingerprints) and `platforge plan --refresh per-object` (one read per
object, 10 at a time, as Terraform refreshes). Requests are counted from the access log.

    python bench/refresh_compare.py              # N = 1,000 (about 2 minutes)
    python bench/refresh_compare.py --n 10000    # about 15 minutes, mostly the per-object plan
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
    secrets_ = n * 5 // 100
    kv = n - groups - users - secrets_
    parts = [f'[platform]\ntype = "datatailr"\nendpoint = "{url}"\n']
    parts += [f"[group.g{i:05d}]\n" for i in range(groups)]
    parts += [f'[user.u{i:05d}]\nemail = "u{i}@example.com"\ngroups = ["g{i % groups:05d}"]\n' for i in range(users)]
    parts += [f'[kv.k{i:05d}]\nvalue = "v{i}"\n[kv.k{i:05d}.acl]\nread = {{ groups = ["g{i % groups:05d}"] }}\n'
              for i in range(kv)]
    parts += [f'[secret.s{i:05d}]\nvalue = {{ from_env = "BENCH_SECRET" }}\n[secret.s{i:05d}.acl]\n'
              f'read = {{ groups = ["g{i % groups:05d}"] }}\n' for i in range(secrets_)]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rate-limit", type=float, default=15)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-refresh-"))
    password = secrets.token_urlsafe(12)
    env = {**os.environ, "DATATAILR_USER_NAME": "admin", "DATATAILR_USER_PASSWORD": password,
           "BENCH_SECRET": "bench-" + secrets.token_hex(4)}
    stack = scratch / "stack"
    stack.mkdir()

    fast = Sandbox(scratch, password)
    (stack / "main.toml").write_text(stack_text(fast.url, args.n))
    started = time.perf_counter()
    applied = subprocess.run([sys.executable, "-m", "platforge", "apply", str(stack), "--yes"], env=env,
                             capture_output=True, text=True)
    apply_s = time.perf_counter() - started
    fast.stop()
    if applied.returncode != 0:
        raise SystemExit(applied.stdout[-2000:] + applied.stderr[-2000:])

    slow = Sandbox(scratch, password, "--latency-ms", str(args.latency_ms), "--rate-limit", str(args.rate_limit))
    (stack / "main.toml").write_text(stack_text(slow.url, args.n))
    retarget = subprocess.run([sys.executable, "-m", "platforge", "state", "retarget", str(stack)], env=env,
                              capture_output=True, text=True)
    if retarget.returncode != 0:
        raise SystemExit(retarget.stdout + retarget.stderr)
    rows = {}
    try:
        for mode in ("list", "per-object"):
            mark = len(slow.requests())
            started = time.perf_counter()
            plan = subprocess.run([sys.executable, "-m", "platforge", "plan", str(stack), "--refresh", mode],
                                  env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            answers = slow.requests()[mark:]
            rows[mode] = {"exit": plan.returncode, "wall_s": round(wall, 1), "requests": len(answers),
                          "throttled_429": sum(1 for r in answers if r["status"] == 429),
                          "by_endpoint": dict(Counter(f"{r['method']} {r['path']}" for r in answers).most_common(6))}
    finally:
        slow.stop()
    report = {"n": args.n, "latency_ms": args.latency_ms, "rate_limit": args.rate_limit,
              "apply_s_at_full_speed": round(apply_s, 1), **rows,
              "ratio": round(rows["per-object"]["wall_s"] / rows["list"]["wall_s"], 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
