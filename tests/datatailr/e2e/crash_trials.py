"""Crash trials: `platforge apply` killed with SIGKILL at a random moment, then run again.

One trial: a fresh stack of users, groups, memberships, KV entries and secrets; an apply in a
subprocess, killed (SIGKILL) after a random number of its writes, or early, before it writes; a
second apply to completion; then the checks:

- **converged**: the rerun exits 0 and the next plan has nothing to do;
- **no duplicates**: no create was answered 409 in the sandbox's access log, i.e. no create was
  sent for an object that already existed (on a platform with unique names a duplicate shows as
  exactly that);
- **no orphans**: every object the killed run created is owned by the state: an apply of the
  emptied stack with `--prune` leaves none of them behind.

Used by the test suite (a CI-sized count) and by `bench/crash_trials.py` (a bigger one).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CREATE_PATHS = ("/api/user/add", "/api/group/add")


@dataclass
class TrialResult:
    killed_after: float
    exit_codes: list[int] = field(default_factory=list)
    duplicates: int = 0
    orphans: list[str] = field(default_factory=list)
    converged: bool = False
    writes_before_kill: int = 0  # writes the killed run made
    writes_to_finish: int = 0  # writes the rerun still had to make

    @property
    def interrupted(self) -> bool:
        """Killed mid-apply: it had written something and had not finished."""
        return self.writes_before_kill > 0 and self.writes_to_finish > 0


def stack_body(tag: str, size: int) -> str:
    parts = [f"[group.{tag}-team]\n", f"[group.{tag}-ops]\nmembers = [\"{tag}-u0\"]\n"]
    for n in range(size):
        parts.append(f'[user.{tag}-u{n}]\nemail = "{tag}-u{n}@example.com"\ngroups = ["{tag}-team"]\n')
        parts.append(f'[kv.{tag}-k{n}]\nkey = "{tag}/k{n}"\nvalue = "v{n}"\n'
                     f'[kv.{tag}-k{n}.acl]\nread = {{ groups = ["{tag}-team"] }}\n')
    parts.append(f'[secret.{tag}-s]\nkey = "{tag}/s"\nvalue = {{ from_env = "CRASH_SECRET" }}\n')
    return "\n".join(parts)


def run_trial(sandbox, workdir: Path, tag: str, rng: random.Random, size: int = 8,
              writes: int = 29) -> TrialResult:
    """Kill the apply after a random number of its writes (1 .. writes-1) have reached the
    sandbox, or, one trial in five, at a random moment before it writes anything (start-up,
    login, reading live state)."""
    stack = workdir / tag
    stack.mkdir(parents=True)
    header = f'[platform]\ntype = "datatailr"\nendpoint = "{sandbox.url}"\nenvironment = "dev"\n\n'
    (stack / "main.toml").write_text(header + stack_body(tag, size), encoding="utf-8")
    env = {**os.environ, "DATATAILR_USER_NAME": sandbox.admin_user, "DATATAILR_USER_PASSWORD": sandbox.admin_password,
           "CRASH_SECRET": f"secret-{tag}", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "platforge", "apply", str(stack), "--yes"]
    log = Path(sandbox.access_log)
    mark = len(log.read_text().splitlines())

    early = rng.random() < 0.2
    target = 0 if early else rng.randint(1, max(1, writes - 1))
    result = TrialResult(killed_after=rng.uniform(0.05, 0.6) if early else 0.0)
    started = time.monotonic()
    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if early:
        time.sleep(result.killed_after)
    else:
        while victim.poll() is None and len(_writes(log.read_text().splitlines()[mark:])) < target:
            time.sleep(0.002)
        result.killed_after = time.monotonic() - started
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = len(log.read_text().splitlines())

    for args in (command, [sys.executable, "-m", "platforge", "plan", str(stack)]):
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        result.exit_codes.append(done.returncode)
    result.converged = result.exit_codes == [0, 0]

    lines = log.read_text().splitlines()
    requests = [json.loads(line) for line in lines[mark:]]
    result.duplicates = sum(1 for r in requests if r["path"] in CREATE_PATHS and r["status"] == 409)
    result.writes_before_kill = len(_writes(lines[mark:killed_at]))
    result.writes_to_finish = len(_writes(lines[killed_at:]))

    # Empty the stack (keep the platform table) and prune: whatever is left was never owned.
    (stack / "main.toml").write_text(header, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "platforge", "apply", str(stack), "--yes", "--prune"], env=env,
                   capture_output=True, text=True, timeout=300, check=True)
    result.orphans = leftovers(sandbox, tag)
    return result


def _writes(lines: list[str]) -> list[dict]:
    records = [json.loads(line) for line in lines]
    return [r for r in records if r["method"] != "GET" and r["path"] not in ("/login", "/logout")]


def calibrate(sandbox, workdir: Path, size: int = 8) -> int:
    """How many writes an uninterrupted apply of a trial stack makes, so that kills can fall
    between its first and its last."""
    stack = workdir / "calibration"
    stack.mkdir(parents=True)
    header = f'[platform]\ntype = "datatailr"\nendpoint = "{sandbox.url}"\nenvironment = "dev"\n\n'
    (stack / "main.toml").write_text(header + stack_body("calib", size), encoding="utf-8")
    env = {**os.environ, "DATATAILR_USER_NAME": sandbox.admin_user, "DATATAILR_USER_PASSWORD": sandbox.admin_password,
           "CRASH_SECRET": "calibration"}
    log = Path(sandbox.access_log)
    mark = len(log.read_text().splitlines())
    subprocess.run([sys.executable, "-m", "platforge", "apply", str(stack), "--yes"], env=env, capture_output=True,
                   check=True, timeout=300)
    return len(_writes(log.read_text().splitlines()[mark:]))


def leftovers(sandbox, tag: str) -> list[str]:
    import httpx

    with httpx.Client(base_url=sandbox.url) as http:
        http.post("/login", auth=(sandbox.admin_user, sandbox.admin_password)).raise_for_status()
        users = http.get("/api/user/ls", params={"json": "True"}).json()["result"]
        groups = http.get("/api/group/ls", params={"json": "True"}).json()["result"]
        kv = http.get("/api/kv/ls", params={"json": "True", "batch-size": "10000"}).json()["result"]["items"]
        secrets = http.get("/api/kv/ls", params={"json": "True", "secure": "True",
                                                 "batch-size": "10000"}).json()["result"]["items"]
    names = [f"user.{u['name']}" for u in users] + [f"group.{g['name']}" for g in groups]
    names += [f"kv.{e['key']}" for e in kv] + [f"secret.{e['key']}" for e in secrets]
    return sorted(n for n in names if n.split(".", 1)[1].startswith(tag))


def summarise(results: list[TrialResult]) -> dict[str, object]:
    return {
        "trials": len(results),
        "interrupted_mid_apply": sum(r.interrupted for r in results),
        "converged": sum(r.converged for r in results),
        "duplicates": sum(r.duplicates for r in results),
        "orphans": sum(len(r.orphans) for r in results),
    }
