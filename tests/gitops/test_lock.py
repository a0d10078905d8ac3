"""Two runs of one stack: the platform state backend's lock lets one apply at a time. A second
apply fails at once (exit 1) naming the holder, nothing it would write is written, and the next
run converges with every object created exactly once; with PLATFORGE_LOCK_TIMEOUT it waits for
the holder instead."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from .conftest import GitOpsRepo, make_repo

CREATES = {("POST", "/api/user/add"): 2, ("POST", "/api/group/add"): 2}


@pytest.fixture
def slow_repo(sandbox_factory, tmp_path) -> GitOpsRepo:
    """20 ms per request, so that two applies started together overlap."""
    return make_repo(sandbox_factory(access_log=True, latency_ms=20), tmp_path)


def object_writes(writes: Counter) -> Counter:
    return Counter({k: n for k, n in writes.items() if not k[1].startswith("/api/blob/")})


def test_two_applies_of_one_stack_at_once(slow_repo: GitOpsRepo) -> None:
    repo = slow_repo
    assert repo.run("plan.sh", "--changes-ok", "dev").returncode == 0
    runs = [repo.popen("apply.sh", "dev") for _ in range(2)]
    results = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        results.append((run.returncode, out, err))
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    winner = next(out for code, out, _ in results if code == 0)
    loser = next(err for code, _, err in results if code == 1)
    assert "Apply complete: 7 applied." in winner
    # The loser names the holder (the identity, process and host), or, if the winner finished
    # first, refuses its saved plan as stale: either way it wrote nothing.
    assert ("is locked by " in loser and "admin (pid " in loser and "running apply" in loser
            or "saved plan is stale" in loser), loser

    # Converged, no duplicates: the next plan has nothing to do, every object was created once.
    replan = repo.run("plan.sh", "dev")
    assert replan.returncode == 0, replan.stderr
    writes = object_writes(repo.writes())
    assert {k: writes[k] for k in CREATES} == CREATES
    # 2 entries, the secret (a placeholder, then its value) and the state's fingerprint key: none twice
    assert writes[("PUT", "/api/kv/put")] <= 5
    dt = repo.client()
    names = [u.name for u in dt.users.ls()]
    assert names.count("etl-dev") == 1 and names.count("reporting-dev") == 1
    assert len([e for e in dt.kv.ls(environment="dev") if e.key.startswith("analytics/")]) == 2


def test_an_apply_while_the_lock_is_held_fails_naming_the_holder(repo: GitOpsRepo, monkeypatch) -> None:
    from platforge.cli.lock import open_backend

    assert repo.run("plan.sh", "--changes-ok", "dev").returncode == 0
    for key in ("DATATAILR_USER_NAME", "DATATAILR_USER_PASSWORD", "WAREHOUSE_PASSWORD"):
        monkeypatch.setenv(key, repo.env[key])
    backend = open_backend(repo.root / "stacks" / "dev", repo.sandbox.url)
    with backend.lock("a long apply from another runner"):
        before = repo.writes()  # the holder's own writes (its lock, the state's key) are not the apply's
        blocked = repo.run("apply.sh", "dev")
        assert blocked.returncode == 1
        assert "is locked by admin (pid " in blocked.stderr
        assert "running a long apply from another runner" in blocked.stderr
        assert "platforge lock release --force" in blocked.stderr
        status = repo.run("lock.sh", "dev")  # ci/lock.sh: `platforge lock status`, for an operator
        assert status.returncode == 2 and "locked by admin" in status.stdout
        # The blocked apply wrote no object (only its lock intent, written and removed: the protocol).
        assert object_writes(repo.writes()) == object_writes(before)

    # With PLATFORGE_LOCK_TIMEOUT (apply --lock-timeout) the apply waits for the holder instead,
    # then applies the same saved plan (the holder changed nothing meanwhile).
    holding = threading.Event()
    released = threading.Event()

    def hold_for_a_while() -> None:
        with backend.lock("a short apply from another runner"):
            holding.set()
            time.sleep(3.0)
        released.set()

    holder = threading.Thread(target=hold_for_a_while)
    holder.start()
    assert holding.wait(30)
    started = time.monotonic()
    done = repo.run("apply.sh", "dev", env={"PLATFORGE_LOCK_TIMEOUT": "60"})
    holder.join()
    assert done.returncode == 0, done.stderr
    assert released.is_set() and time.monotonic() - started >= 2.5  # it waited for the release
    assert "Apply complete: 7 applied." in done.stdout
