"""`platforge sandbox datatailr` as users run it: a separate process over a SQLite file."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import httpx
import typer


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
    assert "14 to create" in result.stdout and "No changes" in result.stdout
    assert "second apply: 0 write requests" in result.stdout
    report = json.loads((tmp_path / "reports/drift.json").read_text())
    assert {f["cause"] for f in report["findings"]} == {"out_of_band", "missing", "unmanaged"}
    assert (tmp_path / "reports/drift.html").read_text().startswith("<!DOCTYPE html>")
    assert not (repo / "examples/quickstart/.platforge").exists()


QUOTA_FLAGS = ("--max-body-bytes", "--max-blob-bytes-per-user", "--max-db-bytes", "--max-connections", "--idle-timeout")


def _platforge() -> list[str]:
    script = Path(sys.executable).parent / "platforge"
    return [str(script)] if script.exists() else [sys.executable, "-m", "platforge"]


def test_port_zero_prints_the_port_it_really_bound(tmp_path):
    """`--port 0` picks a free port, and the URL printed is the one to use. The quota flags
    reach the server, and the files it creates are owner-only."""
    db = tmp_path / "zero.db"
    cmd = [*_platforge(), "sandbox", "datatailr", "--port", "0", "--db", str(db), "--admin-password", "pw",
           "--max-body-bytes", "2048", "--idle-timeout", "1"]
    env = {k: v for k, v in os.environ.items() if k != "PLATFORGE_SANDBOX_ADMIN_PASSWORD"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"Datatailr sandbox on (http://127\.0\.0\.1:(\d+))", line)
            if found:
                url, port = found.group(1), int(found.group(2))
        assert url is not None, "".join(lines)
        assert port != 0
        assert httpx.get(url + "/healthz", timeout=10).json() == {"result": "ok"}
        with closing(_login(url, "admin", "pw")) as client:
            big = client.put("/api/kv/put", json={"key": "k", "value": "v" * 4096})
            assert big.status_code == 413 and "2048" in big.json()["error"]
            assert client.put("/api/kv/put", json={"key": "k", "value": "v"}).status_code == 200
        for suffix in ("", "-wal", "-shm", ".signing-key", ".admin-password"):
            path = Path(str(db) + suffix)
            if suffix != ".admin-password":  # the password was given, so no file is written
                assert oct(path.stat().st_mode & 0o777) == "0o600", suffix
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_help_documents_every_quota_flag_with_its_default():
    from platforge.provider.datatailr.sandbox.config import SandboxConfig
    from typer.testing import CliRunner

    from platforge.cli.sandbox import app as cli

    output = CliRunner().invoke(cli, ["datatailr", "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"}).output
    for flag in (*QUOTA_FLAGS, "--session-secret"):
        assert flag in output, flag
    # The CLI's defaults are the embedded sandbox's.
    config = SandboxConfig()
    command = typer.main.get_command(cli)
    command = getattr(command, "commands", {}).get("datatailr", command)  # a lone command is the root
    defaults = {param.name: param.default for param in command.params}
    assert defaults["max_body_bytes"] == config.faults.max_body_bytes == 100 * 1024 * 1024
    for name in ("max_blob_bytes_per_user", "max_db_bytes", "max_connections", "idle_timeout"):
        assert defaults[name] == getattr(config, name), name
    assert "default: 104857600" in output.replace("[", "").replace("]", "")


def test_bad_quota_flag_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "platforge", "sandbox", "datatailr", "--db", str(tmp_path / "x.db"),
         "--admin-password", "pw", "--idle-timeout", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "--idle-timeout must be > 0" in result.stderr
