"""The local state backend: damaged files give clear errors, writes are durable and atomic, a
killed run's leftovers are cleaned up, and the lock is an OS lock (no stale lock to break).

The same errors through the CLI (exit 1, no traceback) are in tests/datatailr/e2e/test_state_security.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from platforge.core import state as state_module
from platforge.core.errors import LockError, StateError
from platforge.core.fingerprint import KEY_ENV
from platforge.core.state import LocalStateBackend, LockInfo, State


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def backend(tmp_path: Path) -> LocalStateBackend:
    return LocalStateBackend(tmp_path / ".platforge" / "state.json")


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# ── damaged files ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("content, detail", [
    (b'{"format": "platforge.state/v1", "serial": 3, "resou', "not valid JSON"),  # torn
    (b"", "empty"),
    (b"\xff\xfe garbage", "not valid JSON"),
    (b'{"format": "platforge.state/v1", "serial": "three"}', "serial"),
    (b'{"format": "something/v9"}', "unsupported state format"),
    (b"[1, 2]", "unsupported state format"),
])
def test_a_damaged_state_file_is_a_clear_error(backend, content, detail):
    backend.save(State(stack="s"))
    backend.save(State(stack="s", serial=1))  # now there is a backup of the previous save
    backend.path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        backend.load()
    message = str(caught.value)
    assert str(backend.path) in message and "damaged" in message and detail in message
    assert f"{backend.path}.bak" in message, "points at the backup"
    restored = State.from_bytes(backend.backup_path.read_bytes(), "bak")
    assert restored.serial == 0


def test_the_state_path_naming_a_directory_is_a_clear_error(tmp_path):
    (tmp_path / "state-dir").mkdir()
    backend = LocalStateBackend(tmp_path / "state-dir")
    for action in (backend.load, lambda: backend.save(State()), backend.fingerprint_key,
                   lambda: backend.lock("apply").__enter__()):
        with pytest.raises(StateError, match="is a directory"):
            action()


def test_a_state_path_below_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    backend = LocalStateBackend(tmp_path / "afile" / "state.json")
    with pytest.raises(StateError, match="is a file, not a directory"):
        backend.save(State())


@pytest.mark.parametrize("content, detail", [(b"", "empty"), (b"\n", "empty"), (b"abc12x", "not hexadecimal"),
                                             (b"abcd\n", "too short"), (b"zz" * 32, "not hexadecimal")])
def test_a_damaged_fingerprint_key_is_a_clear_error(backend, content, detail):
    backend.key_path.parent.mkdir(parents=True)
    backend.key_path.write_bytes(content)
    with pytest.raises(StateError) as caught:
        backend.fingerprint_key()
    assert str(backend.key_path) in str(caught.value) and detail in str(caught.value)


# ── durable, atomic writes ───────────────────────────────────────────────────────────────────


def test_state_and_key_writes_are_fsynced(backend, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def record(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else str(fd))
        real_fsync(fd)

    monkeypatch.setattr(state_module.os, "fsync", record)
    backend.fingerprint_key()
    assert any(".tmp-" in path and "fingerprint.key" in path for path in synced), synced  # the key's content
    assert str(backend.path.parent) in synced  # the directory entry
    synced.clear()
    backend.save(State(stack="s"))
    assert any(".tmp-" in path and "state.json" in path for path in synced), synced
    assert str(backend.path.parent) in synced


def test_the_key_is_created_atomically_and_privately(backend):
    key = backend.fingerprint_key()
    assert len(key) == 32 and backend.key_path.stat().st_mode & 0o777 == 0o600
    assert backend.fingerprint_key() == key
    assert not [p for p in backend.key_path.parent.iterdir() if ".tmp-" in p.name]


def _first_run(path: str, barrier, results) -> None:
    barrier.wait()
    results.put(LocalStateBackend(path).fingerprint_key().hex())


def test_two_first_runs_agree_on_one_key(tmp_path, monkeypatch):
    """Processes racing to create the key: the hard link lets exactly one win; the others read
    the winner's key, never an empty or partial file."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        path = tmp_path / f"round-{round_}" / "state.json"
        barrier, results = context.Barrier(4), context.Queue()
        runs = [context.Process(target=_first_run, args=(str(path), barrier, results)) for _ in range(4)]
        for run in runs:
            run.start()
        keys = {results.get(timeout=30) for _ in runs}
        for run in runs:
            run.join(timeout=30)
        assert all(run.exitcode == 0 for run in runs)
        assert len(keys) == 1 and (path.parent / "fingerprint.key").read_text().strip() in keys


def test_threads_racing_to_create_the_key_agree(tmp_path):
    keys: list[bytes] = []
    barrier = threading.Barrier(8)

    def first_run() -> None:
        backend = LocalStateBackend(tmp_path / "state.json")
        barrier.wait()
        keys.append(backend.fingerprint_key())

    threads = [threading.Thread(target=first_run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1


def test_a_killed_runs_temporary_files_are_cleaned_up_and_live_ones_kept(backend):
    directory = backend.path.parent
    directory.mkdir(parents=True)
    gone = dead_pid()
    leftovers = [directory / f"state.json.tmp-{gone}-0badc0de", directory / f"fingerprint.key.tmp-{gone}-12345678",
                 directory / f"state.tmp-{gone}", directory / f"state.json.bak.tmp-{gone}-aa"]
    live = directory / f"fingerprint.key.tmp-{os.getpid()}-87654321"  # a run in progress
    unrelated = directory / "notes.tmp-1"
    for path in [*leftovers, live, unrelated]:
        path.write_text("partial")
    backend.save(State(stack="s"))
    assert backend.load() is not None
    assert not any(path.exists() for path in leftovers)
    assert live.exists() and unrelated.exists()


def test_a_save_keeps_the_previous_state_as_a_backup(backend):
    backend.save(State(stack="s", serial=1))
    backend.save(State(stack="s", serial=2))
    assert json.loads(backend.backup_path.read_bytes())["serial"] == 1
    assert backend.load().serial == 2


# ── the lock ─────────────────────────────────────────────────────────────────────────────────


def test_a_lock_that_looks_stale_is_never_broken_while_its_holder_lives(backend):
    """Today's O_EXCL lock treats a lock whose pid is gone or that is old as stale and deletes
    it (read, then delete): a second process could delete a fresh lock that way. With an OS
    lock, what the file says does not matter: only a live holder blocks."""
    with backend.lock("apply"):
        stale_looking = LockInfo(owner="ghost:1", host=os.uname().nodename, pid=dead_pid(),
                                 created=time.time() - 10 * 3600, operation="apply")
        backend.lock_path.write_text(stale_looking.model_dump_json())
        with pytest.raises(LockError, match="is locked by"), LocalStateBackend(backend.path).lock("apply"):
            pass
    with LocalStateBackend(backend.path).lock("apply"):
        pass


def test_a_leftover_lock_file_of_a_dead_run_does_not_block(backend):
    backend.path.parent.mkdir(parents=True)
    backend.lock_path.write_text(LockInfo(owner="ghost:1", host="elsewhere", pid=12345, created=time.time(),
                                          operation="apply").model_dump_json())
    with backend.lock("apply"):  # nobody holds the OS lock: the content is only a description
        pass


def _racer(path: str, log: str, barrier) -> None:
    barrier.wait()
    for _ in range(400):
        try:
            with LocalStateBackend(path).lock("apply"):
                with open(log, "a") as fh:
                    fh.write(f"in {time.monotonic()}\n")
                time.sleep(0.005)
                with open(log, "a") as fh:
                    fh.write(f"out {time.monotonic()}\n")
            return
        except LockError:
            time.sleep(0.002)
    raise SystemExit(3)


def test_only_one_of_many_racing_processes_holds_the_lock(backend, tmp_path):
    """Processes racing for a lock whose file describes a dead holder: one at a time."""
    import multiprocessing

    backend.path.parent.mkdir(parents=True)
    backend.lock_path.write_text(LockInfo(owner="ghost:1", host=os.uname().nodename, pid=dead_pid(),
                                          created=time.time() - 7200, operation="apply").model_dump_json())
    log = tmp_path / "log"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(6)
    runs = [context.Process(target=_racer, args=(str(backend.path), str(log), barrier)) for _ in range(6)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)
    assert all(run.exitcode == 0 for run in runs)
    inside = peak = 0
    lines = log.read_text().splitlines()
    for line in lines:
        inside += 1 if line.startswith("in") else -1
        peak = max(peak, inside)
    assert peak == 1 and len(lines) == 12


def test_a_killed_holder_releases_the_lock_at_once(backend):
    script = ("import sys, time; from platforge.core.state import LocalStateBackend\n"
              "cm = LocalStateBackend(sys.argv[1]).lock('apply'); cm.__enter__()\n"
              "print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", script, str(backend.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        status = backend.lock_status()
        assert status.held and status.holders[0].pid == holder.pid
        with pytest.raises(LockError, match=rf"is locked by \S+ \(pid {holder.pid} on .*running apply since"):
            with backend.lock("apply"):
                pass
        with pytest.raises(LockError, match="cannot be released from outside"):
            backend.release_lock(force=True)
    finally:
        holder.kill()
        holder.wait()
    assert not backend.lock_status().held
    with backend.lock("apply"):
        pass


def test_the_lock_message_is_grammatical_and_names_the_holder(backend):
    with backend.lock("apply"), pytest.raises(LockError) as caught, LocalStateBackend(backend.path).lock("apply"):
        pass
    message = str(caught.value)
    assert "locked held by" not in message
    assert f"is locked by {os.environ.get('USER') or 'unknown'}" in message or "is locked by " in message
    assert f"(pid {os.getpid()} on " in message and "running apply since" in message


def test_lock_waiting_retries_only_the_taking_of_a_held_lock(tmp_path):
    """`lock_waiting`: no timeout fails at once naming the holder; a timeout waits and takes the
    lock once it is free; a holder outlasting it fails saying how long it waited; an error in
    the body still releases the lock."""
    import threading
    import time

    from platforge.core.errors import LockError
    from platforge.core.state import LocalStateBackend, lock_waiting

    backend = LocalStateBackend(tmp_path / "state.json")
    other = LocalStateBackend(tmp_path / "state.json")
    held = other.lock("apply")
    held.__enter__()
    with pytest.raises(LockError) as at_once:
        with lock_waiting(backend, "apply", 0):
            pass
    assert "waited" not in str(at_once.value)
    started = time.monotonic()
    with pytest.raises(LockError, match=r"\(waited 0\.3 s\)"):
        with lock_waiting(backend, "apply", 0.3):
            pass
    assert time.monotonic() - started >= 0.3
    threading.Timer(0.4, lambda: held.__exit__(None, None, None)).start()
    with lock_waiting(backend, "apply", 10):
        pass  # taken once the other run let go
    with pytest.raises(RuntimeError):
        with lock_waiting(backend, "apply", 0):
            raise RuntimeError("the body failed")
    with lock_waiting(backend, "apply", 0):  # and the lock was released
        pass
