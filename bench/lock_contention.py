"""Lock contention under injected delays: how often two runs held a stack's platform lock at once
(it must be never), and what taking the lock costs.

Two setups, both with a random delay before and after *every* lock request:

- memory: an in-memory linearizable store (tests/core/test_state_lock_protocol.py) that also
  delays 1% of requests past the lease (a throttled request retried after its Retry-After),
  delivers some puts a second time late, and has some holders die holding the lock;
- sandbox: the embedded Datatailr sandbox (real HTTP, real ACL checks), with server latency.

Each trial is 2 or 3 contenders racing for one stack's lock; each must get it once.

    python bench/lock_contention.py [--trials 2000] [--sandbox-trials 100] [--seed 1] [--out FILE]

The CI run of the same property is `PLATFORGE_LOCK_TRIALS` trials (200 by default).
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness lives with the tests

from tests.core.test_state_lock_protocol import run_contention  # noqa: E402


def sandbox_contention(trials: int, seed: int) -> dict:
    from platforge.provider._kit.sandbox.faults import FaultConfig
    from platforge.provider._kit.sandbox.serve import EmbeddedServer
    from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin
    from platforge.provider.datatailr.platform import DatatailrObjectStore
    from platforge.provider.datatailr.sandbox.app import create_app
    from platforge.provider.datatailr.sandbox.config import SandboxConfig

    from tests.datatailr.e2e.test_locks import Delayed

    with tempfile.TemporaryDirectory() as tmp:
        password = secrets.token_urlsafe(12)
        config = SandboxConfig(db_path=str(Path(tmp) / "sandbox.db"), admin_password=password,
                               faults=FaultConfig(latency_ms=2))
        server = EmbeddedServer(create_app(config)).start()
        try:
            clients = []
            for _ in range(3):
                client = DatatailrClient(server.url, PasswordLogin(config.admin_user, password))
                client.login()
                clients.append(client)
            turn = iter(range(10**9))
            guard = threading.Lock()

            def store_factory(rng: random.Random):
                with guard:
                    client = clients[next(turn) % len(clients)]
                return Delayed(DatatailrObjectStore(client, "dev"), rng, max_delay=0.01)

            report = run_contention(trials, seed=seed, lease=3.0, duplicate_rate=0.0, long_delay_rate=0.0,
                                    kill_rate=0.0, long_hold_rate=0.0, parallel=2, store_factory=store_factory)
            return report.summary()
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000, help="in-memory trials")
    parser.add_argument("--sandbox-trials", type=int, default=100, help="trials against the sandbox (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()

    results = {"memory": run_contention(args.trials, seed=args.seed).summary()}
    print("memory :", json.dumps(results["memory"]))
    if args.sandbox_trials:
        results["sandbox"] = sandbox_contention(args.sandbox_trials, args.seed)
        print("sandbox:", json.dumps(results["sandbox"]))
    for name, figures in results.items():
        print(f"{name}: {figures['trials']} trials, {figures['contenders']} contenders, "
              f"{figures['double_holders']} double holders, {figures['lost_leases']} lost leases (detected, "
              f"no write after), {figures['killed_holders']} dead holders waited out, acquire median "
              f"{figures['acquire_ms_median']} ms, p99 {figures['acquire_ms_p99']} ms, {figures['seconds']} s")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    if any(figures["double_holders"] or figures["gave_up"] for figures in results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
