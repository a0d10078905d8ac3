"""Crash trials: `platforge apply` killed with SIGKILL, then run again.

A trial prepares a stack of users, groups, memberships, KV entries with ACLs and a secret, in
one of three scenarios:

- `create`: nothing exists yet; the killed run creates everything;
- `update`: the stack was applied, and the killed run changes every object (e-mails, values,
  ACLs, memberships, the secret);
- `prune`: the stack was applied, and the killed run (`--prune`) deletes half of it.

The run is killed either at a random moment (after a random number of its writes reached the
sandbox, or one time in five before it wrote anything) or at a fixed point (`killpoint.py`).
Then the same command runs again to completion, and the trial checks:

- **converged**: the rerun exits 0 and the next plan has nothing to do (exit 0);
- **idempotent**: an apply after that sends zero writes (the sandbox's access log);
- **valid state**: the state file loads (schema, no damage), with no intent left pending and
  no temporary file left beside it;
- **no duplicates**: no create answered 409 and no delete answered 404, i.e. no write was sent
  again for something the killed run had already done (names are unique on this platform,
  so a second create of one object cannot go unseen);
- **no orphans**: an apply of the emptied stack with `--prune` leaves nothing of the trial's
  behind, so everything the killed run created was owned by the state.

Used by `tests/reliability/test_crashes.py` (the CI count) and `bench/crash_trials.py`.
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

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = ("create", "update", "prune")
POINTS = ("mid-state-write", "after-journal", "after-request")
CREATE_PATHS = ("/api/user/add", "/api/group/add")
DELETE_PATHS = ("/api/user/rm", "/api/group/rm", "/api/kv/rm")


@dataclass
class TrialResult:
    scenario: str
    kill: str
    victim_exit: int = 0
    exit_codes: list[int] = field(default_factory=list)
    writes_before_kill: int = 0
    writes_to_finish: int = 0
    second_apply_writes: int = -1
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    state_problem: str = ""

    @property
    def killed(self) -> bool:
        return self.victim_exit == -signal.SIGKILL

    @property
    def interrupted(self) -> bool:
        """Killed mid-apply: it had written something and had not finished."""
        return self.killed and self.writes_before_kill > 0 and self.writes_to_finish > 0

    @property
    def converged(self) -> bool:
        return self.exit_codes == [0, 0]

    @property
    def clean(self) -> bool:
        return (self.killed and self.converged and self.second_apply_writes == 0 and not self.duplicates
                and not self.orphans and not self.state_problem)


def body(tag: str, size: int, version: int) -> str:
    """The trial's stack. Version 2 changes every object of version 1; version 3 (prune)
    keeps the groups and the first half of the users and entries."""
    kept = size if version != 3 else size // 2
    ops_members = [f"{tag}-u0"] if version == 1 else [f"{tag}-u0", f"{tag}-u1"]
    parts = [f"[group.{tag}-team]\n", f"[group.{tag}-dev]\n", f"[group.{tag}-ops]\nmembers = {json.dumps(ops_members)}\n"]
    reader = f"{tag}-team" if version != 2 else f"{tag}-ops"
    for n in range(kept):
        email = f"{tag}-u{n}@example.com" if version != 2 else f"{tag}-u{n}@example.org"
        groups = [f"{tag}-team"] if version != 2 or n % 2 else [f"{tag}-team", f"{tag}-dev"]
        parts.append(f'[user.{tag}-u{n}]\nemail = "{email}"\ngroups = {json.dumps(groups)}\n')
        parts.append(f'[kv.{tag}-k{n}]\nkey = "{tag}/k{n}"\nvalue = "v{n}-{version}"\n'
                     f'[kv.{tag}-k{n}.acl]\nread = {{ groups = ["{reader}"] }}\n')
    if version != 3:
        parts.append(f'[secret.{tag}-s]\nkey = "{tag}/s"\nvalue = {{ from_env = "CRASH_SECRET" }}\n')
    return "\n".join(parts)


class Trial:
    def __init__(self, sandbox, workdir: Path, tag: str, scenario: str, size: int = 5) -> None:
        self.sandbox, self.tag, self.scenario, self.size = sandbox, tag, scenario, size
        self.stack = workdir / tag
        self.stack.mkdir(parents=True)
        self.log = Path(sandbox.access_log)
        self.header = (f'[platform]\ntype = "datatailr"\nendpoint = "{sandbox.url}"\nenvironment = "dev"\n\n')
        self.env = {**os.environ, "DATATAILR_USER_NAME": sandbox.admin_user,
                    "DATATAILR_USER_PASSWORD": sandbox.admin_password, "CRASH_SECRET": f"secret-{tag}-1",
                    "PYTHONUNBUFFERED": "1"}
        self.args = ["apply", str(self.stack), "--yes"] + (["--prune"] if scenario == "prune" else [])

    def write(self, version: int) -> None:
        (self.stack / "main.toml").write_text(self.header + body(self.tag, self.size, version), encoding="utf-8")

    def platforge(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "platforge", *args], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        if check and done.returncode != 0:
            raise AssertionError(f"platforge {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def prepare(self) -> None:
        """Apply version 1 when the scenario starts from an applied stack, then write the
        version the killed run applies."""
        if self.scenario != "create":
            self.write(1)
            self.platforge("apply", str(self.stack), "--yes", check=True)
            self.env["CRASH_SECRET"] = f"secret-{self.tag}-2"
        self.write({"create": 1, "update": 2, "prune": 3}[self.scenario])

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def calibrate(self) -> int:
        """Writes an uninterrupted run of this scenario makes (run on a throwaway trial)."""
        self.prepare()
        mark = len(self.lines())
        self.platforge(*self.args, check=True)
        return len(writes(self.lines()[mark:]))

    def run(self, rng: random.Random | None = None, writes_expected: int = 0,
            point: str = "", nth: int = 0) -> TrialResult:
        self.prepare()
        mark = len(self.lines())
        if point:
            command = [sys.executable, "-m", "tests.reliability.killpoint", point, str(nth), "--", *self.args]
            result = TrialResult(self.scenario, f"{point}#{nth}")
            victim = subprocess.Popen(command, env=self.env, cwd=REPO, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            victim.wait(timeout=300)
        else:
            assert rng is not None
            early = rng.random() < 0.2
            target = 0 if early else rng.randint(1, max(1, writes_expected - 1))
            result = TrialResult(self.scenario, "random-early" if early else f"random-after-{target}-writes")
            victim = subprocess.Popen([sys.executable, "-m", "platforge", *self.args], env=self.env, cwd=REPO,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if early:
                time.sleep(rng.uniform(0.05, 0.6))
            else:
                while victim.poll() is None and len(writes(self.lines()[mark:])) < target:
                    time.sleep(0.002)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        result.victim_exit = victim.returncode
        killed_at = len(self.lines())

        plan_args = ["plan", str(self.stack)] + (["--prune"] if self.scenario == "prune" else [])
        for args in (self.args, plan_args):
            result.exit_codes.append(self.platforge(*args).returncode)
        finished_at = len(self.lines())
        self.platforge(*self.args)
        lines = self.lines()
        result.second_apply_writes = len(writes(lines[finished_at:]))
        result.writes_before_kill = len(writes(lines[mark:killed_at]))
        result.writes_to_finish = len(writes(lines[killed_at:finished_at]))
        result.duplicates = [f"{r['method']} {r['path']} -> {r['status']}" for r in map(json.loads, lines[mark:])
                             if (r["path"] in CREATE_PATHS and r["status"] == 409)
                             or (r["path"] in DELETE_PATHS and r["status"] == 404)]
        result.state_problem = self.state_problem()

        # Empty the stack (keep the platform table) and prune: whatever is left was never owned.
        (self.stack / "main.toml").write_text(self.header, encoding="utf-8")
        self.platforge("apply", str(self.stack), "--yes", "--prune", check=True)
        result.orphans = leftovers(self.sandbox, self.tag)
        return result

    def state_problem(self) -> str:
        from platforge.core.state import LocalStateBackend

        path = self.stack / ".platforge" / "state.json"
        try:
            state = LocalStateBackend(path).load()
        except Exception as exc:  # the point is to report any failure to load
            return f"state does not load: {exc}"
        if state is None:
            return "no state file"
        if state.pending():
            return f"intents left pending: {[e.address for e in state.pending()]}"
        temporaries = [p.name for p in path.parent.iterdir() if ".tmp-" in p.name]
        return f"temporary files left: {temporaries}" if temporaries else ""


def writes(lines: list[str]) -> list[dict]:
    records = [json.loads(line) for line in lines]
    return [r for r in records if r["method"] != "GET" and r["path"] not in ("/login", "/logout")]


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
    return sorted(n for n in names if n.split(".", 1)[1].startswith(tag + "-") or n.split(".", 1)[1].startswith(tag + "/"))


def summarise(results: list[TrialResult]) -> dict[str, object]:
    return {
        "trials": len(results),
        "killed": sum(r.killed for r in results),
        "interrupted_mid_apply": sum(r.interrupted for r in results),
        "converged": sum(r.converged for r in results),
        "second_apply_writes": sum(max(0, r.second_apply_writes) for r in results),
        "duplicates": sum(len(r.duplicates) for r in results),
        "orphans": sum(len(r.orphans) for r in results),
        "invalid_states": sum(bool(r.state_problem) for r in results),
        "clean": sum(r.clean for r in results),
    }
