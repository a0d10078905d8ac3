"""How plan and apply scale with the size of a stack, against the embedded sandbox.

Generates a stack of N users, N/10 groups and N KV entries, applies it, then times a no-change
plan and counts the requests it made (from the sandbox's access log): live state must cost one
list call per kind per page, not one GET per object.

    python bench/plan_scale.py [--users 1000] [--out bench/plan_scale.json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path

from platforge.provider import get_platform
from platforge.provider._kit.sandbox.serve import embedded
from platforge.provider.datatailr.sandbox.app import create_app
from platforge.provider.datatailr.sandbox.config import SandboxConfig

from platforge.core.engine import Engine, make_backend
from platforge.core.stack import load_stack


def write_stack(directory: Path, url: str, users: int) -> None:
    groups = max(1, users // 10)
    lines = [f'[platform]\ntype = "datatailr"\nendpoint = "{url}"\n[state]\npath = "{directory}/state.json"\n']
    for g in range(groups):
        lines.append(f"[group.g{g:04d}]\n")
    for u in range(users):
        lines.append(f'[user.u{u:05d}]\nemail = "u{u}@example.com"\nfirst_name = "User {u}"\ngroups = ["g{u % groups:04d}"]\n')
    for k in range(users):
        lines.append(f'[kv.k{k:05d}]\nvalue = "value {k}"\n[kv.k{k:05d}.acl]\nread = {{ groups = ["g{k % groups:04d}"] }}\n')
    (directory / "main.toml").write_text("\n".join(lines))


def engine(directory: Path) -> Engine:
    stack, platform = load_stack(directory, get_platform)
    client = platform.connect(stack.platform_config)
    return Engine(stack, platform, client, make_backend(stack, platform, client))


def requests_since(log: Path, mark: int) -> Counter:
    lines = log.read_text().splitlines()[mark:]
    return Counter(f"{r['method']} {r['path']}" for r in map(json.loads, lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="platforge-scale-"))
    password = secrets.token_urlsafe(12)
    log = scratch / "access.jsonl"
    app = create_app(SandboxConfig(db_path=str(scratch / "db.sqlite"), admin_password=password, access_log=str(log)))
    os.environ.update(DATATAILR_USER_NAME="admin", DATATAILR_USER_PASSWORD=password)
    with embedded(app) as server:
        write_stack(scratch, server.url, args.users)
        t0 = time.perf_counter()
        e = engine(scratch)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = e.plan()
        first_plan_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        e.apply()
        apply_s = time.perf_counter() - t0
        mark = len(log.read_text().splitlines())
        t0 = time.perf_counter()
        again = engine(scratch).plan()
        plan_s = time.perf_counter() - t0
        calls = requests_since(log, mark)
    result = {
        "objects": len(first.actions), "users": args.users, "groups": max(1, args.users // 10), "kv": args.users,
        "load_and_validate_s": round(load_s, 2), "first_plan_s": round(first_plan_s, 2),
        "apply_s": round(apply_s, 2), "no_change_plan_s": round(plan_s, 2),
        "no_change_plan_changes": len(again.changes), "no_change_plan_requests": dict(calls),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
