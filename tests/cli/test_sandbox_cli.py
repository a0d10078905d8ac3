"""`platforge sandbox datatailr` as users run it: a separate process over a SQLite file."""

from __future__ import annotations

from contextlib import closing

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SandboxProcess:
    def __init__(self, db: Path, password: str | None, *extra: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "platforge", "sandbox", "datatailr", "--port", str(self.port), "--db", str(db), *extra]
        if password:
            cmd += ["--admin-password", password]
        env = {k: v for k, v in os.environ.items() if k != "PLATFORGE_SANDBOX_ADMIN_PASSWORD"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=db.parent)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"sandbox exited early: {self.proc.stderr.read()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("sandbox did not come up")

    def stop(self, sig: int = signal.SIGTERM) -> str:
        self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def _login(url: str, user: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    response = client.post("/login", params={"response_type": "id_token"}, auth=(user, password))
    assert response.status_code == 200, response.text
    assert client.cookies.get("X-Datatailr-Oidc-Data")
    return client


def test_state_and_sessions_survive_a_restart(tmp_path):
    db = tmp_path / "state.db"
    first = SandboxProcess(db, "pw-one")
    with closing(_login(first.url, "admin", "pw-one")) as client:
        assert client.post("/api/group/add", json={"group_name": "analysts", "json-enrichened": True}).status_code == 200
        assert client.put("/api/kv/put", json={"key": "db_url", "value": "postgres://h/db"}).status_code == 200
        cookie = client.cookies.get("X-Datatailr-Oidc-Data")
    first.stop()

    second = SandboxProcess(db, "pw-one")
    try:
        with httpx.Client(base_url=second.url, cookies={"X-Datatailr-Oidc-Data": cookie}) as client:
            assert client.get("/api/kv/get", params={"key": "db_url", "json": "True"}).json()["result"] == "postgres://h/db"
            names = [g["name"] for g in client.get("/api/group/ls", params={"json": "True"}).json()["result"]]
            assert "analysts" in names
    finally:
        second.stop()


def test_generated_admin_password_is_kept_beside_the_db_and_never_printed(tmp_path):
    db = tmp_path / "gen.db"
    proc = SandboxProcess(db, None)
    password_file = Path(str(db) + ".admin-password")
    try:
        assert password_file.exists()
        assert oct(password_file.stat().st_mode & 0o777) == "0o600"
        password = password_file.read_text().strip()
        _login(proc.url, "admin", password).close()
    finally:
        err = proc.stop()
    assert password not in err
    assert str(password_file) in err


def test_sigkill_during_concurrent_writes_leaves_a_consistent_db(tmp_path):
    """Every write acknowledged before the kill is there after a restart; the file is intact."""
    db = tmp_path / "killed.db"
    proc = SandboxProcess(db, "pw")
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        client = _login(proc.url, "admin", "pw")
        i = 0
        while not stop.is_set():
            key = f"w{n}-{i}"
            try:
                response = client.put("/api/kv/put", json={"key": key, "value": key * 3})
            except httpx.TransportError:
                break
            if response.status_code == 200:
                with lock:
                    acknowledged.append(key)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    proc.proc.send_signal(signal.SIGKILL)
    proc.proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) > 20

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    again = SandboxProcess(db, "pw")
    try:
        with closing(_login(again.url, "admin", "pw")) as client:
            listing = client.get("/api/kv/ls", params={"batch-size": "100000", "include-values": "True", "json": "True"}).json()["result"]
        stored = {item["key"]: item.get("value") for item in listing["items"]}
        missing = [k for k in acknowledged if k not in stored]
        assert not missing, f"{len(missing)} acknowledged writes lost"
        assert all(stored[k] == k * 3 for k in acknowledged)
    finally:
        again.stop()


def test_bad_fault_flag_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "platforge", "sandbox", "datatailr", "--db", str(tmp_path / "x.db"),
         "--admin-password", "pw", "--error-rate", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "--error-rate must be between 0 and 1" in result.stderr


def test_demo_runs_the_whole_loop_on_the_embedded_sandbox(tmp_path):
    """The README's main job, as a user runs it from a fresh clone."""
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATATAILR_")}
    result = subprocess.run([sys.executable, "-m", "platforge", "demo", "--stack", str(repo / "examples/quickstart"),
                             "--output", str(tmp_path / "reports")], capture_output=True, text=True, timeout=300,
                            env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "12 to create" in result.stdout and "No changes" in result.stdout
    assert "second apply: 0 write requests" in result.stdout
    report = json.loads((tmp_path / "reports/drift.json").read_text())
    assert {f["cause"] for f in report["findings"]} == {"out_of_band", "missing", "unmanaged"}
    assert (tmp_path / "reports/drift.html").read_text().startswith("<!DOCTYPE html>")
    assert not (repo / "examples/quickstart/.platforge").exists()
