"""The sandbox is a stand-in platform that people run in CI, so it must be safe to share (issue 8):
private files, a signing key kept out of the database, revocable sessions, quotas, and
connections that cannot be held open forever."""

from __future__ import annotations

import base64
import json
import os
import socket
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx
import jwt
import pytest
from platforge.provider.datatailr.sandbox.auth import COOKIE_NAME

from tests.conftest import RunningSandbox, SandboxFactory
from tests.datatailr.sandbox.conftest import UserFactory, login, result, signed_in

REPO = Path(__file__).resolve().parents[3]
BUCKET = "blob://sandbox-user-data"


def _mode(path: str | Path) -> int:
    return os.stat(path).st_mode & 0o777


def _token(client: httpx.Client) -> str:
    token = client.cookies.get(COOKIE_NAME)
    assert token
    return token


def _status_with(url: str, token: str, path: str = "/api/user/ls") -> int:
    with httpx.Client(base_url=url, cookies={COOKIE_NAME: token}, timeout=10) as client:
        return client.get(path).status_code


def _put_blob(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/api/blob/put", json={"destination_file": name, "content_b64": base64.b64encode(data).decode()})


def _exists(client: httpx.Client, name: str) -> bool:
    return result(client.get("/api/blob/exists", params={"bucket_name": name}))


def _restart(factory: SandboxFactory, box: RunningSandbox, **kwargs) -> RunningSandbox:
    box.stop()
    box.server.app.state.store.close()
    return factory(db_path=box.db_path, admin_password=box.admin_password, **kwargs)


# ── files: modes and the signing key ─────────────────────────────────────────────────────────


def test_database_and_its_wal_and_shm_files_are_owner_only(sandbox: RunningSandbox, admin: httpx.Client) -> None:
    result(admin.put("/api/kv/put", json={"key": "k", "value": "v", "secure": True}))
    for suffix in ("", "-wal", "-shm"):
        path = sandbox.db_path + suffix
        assert os.path.exists(path), path
        assert _mode(path) == 0o600, f"{path}: {oct(_mode(path))}"


def test_existing_wider_database_files_are_tightened_on_open(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    outside = sqlite3.connect(db)  # keeps -wal and -shm in existence while the sandbox opens
    try:
        outside.execute("PRAGMA journal_mode = WAL")
        outside.execute("CREATE TABLE IF NOT EXISTS unrelated (x)")
        outside.execute("INSERT INTO unrelated VALUES (1)")
        outside.commit()
        for suffix in ("", "-wal", "-shm"):
            os.chmod(str(db) + suffix, 0o644)
        box = sandbox_factory(db_path=str(db))
        with signed_in(box.url, box.admin_user, box.admin_password) as admin:
            result(admin.get("/api/user/ls"))
        for suffix in ("", "-wal", "-shm"):
            assert _mode(str(db) + suffix) == 0o600, suffix
    finally:
        outside.close()


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_the_database_alone_cannot_mint_a_session(sandbox: RunningSandbox, admin: httpx.Client) -> None:
    """Reading the database file used to be enough to mint an admin cookie (its key was in `meta`)."""
    result(admin.put("/api/kv/put", json={"key": "k", "value": "v"}))
    key_file = Path(sandbox.db_path + ".signing-key")
    assert key_file.exists() and _mode(key_file) == 0o600
    key = key_file.read_bytes().strip()
    raw = b"".join(Path(sandbox.db_path + s).read_bytes() for s in ("", "-wal") if Path(sandbox.db_path + s).exists())
    assert key not in raw

    with closing(sqlite3.connect(f"file:{sandbox.db_path}?mode=ro", uri=True)) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        admin_id = conn.execute("SELECT user_id FROM users WHERE name = ?", (sandbox.admin_user,)).fetchone()[0]
    assert "jwt_key" not in meta
    now = int(time.time())
    claims = {"preferred_username": sandbox.admin_user, "sub": sandbox.admin_user, "uid": admin_id,
              "iss": "platforge-sandbox", "iat": now, "exp": now + 3600}
    for candidate in meta.values():
        forged = jwt.encode(claims, candidate, algorithm="HS256")
        assert _status_with(sandbox.url, forged) == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_legacy_key_in_the_database_is_removed_and_no_longer_accepted(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory()
    box.stop()
    box.server.app.state.store.close()
    with closing(sqlite3.connect(box.db_path)) as conn:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('jwt_key', 'legacy-key')")
        conn.commit()
    again = sandbox_factory(db_path=box.db_path, admin_password=box.admin_password)
    with closing(sqlite3.connect(f"file:{box.db_path}?mode=ro", uri=True)) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'jwt_key'").fetchone() is None
    now = int(time.time())
    forged = jwt.encode({"preferred_username": box.admin_user, "iat": now, "exp": now + 60}, "legacy-key", algorithm="HS256")
    assert _status_with(again.url, forged) == 401


def test_a_session_secret_replaces_the_key_file(sandbox_factory: SandboxFactory) -> None:
    secret = "correct horse battery staple, twice over"
    box = sandbox_factory(session_secret=secret)
    assert not Path(box.db_path + ".signing-key").exists()
    with signed_in(box.url, box.admin_user, box.admin_password) as admin:
        token = _token(admin)
    same = _restart(sandbox_factory, box, session_secret=secret)
    assert _status_with(same.url, token) == 200
    other = _restart(sandbox_factory, same, session_secret="another secret of enough length")
    assert _status_with(other.url, token) == 401


def test_an_in_memory_sandbox_writes_no_files(sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    box = sandbox_factory(db_path=":memory:")
    with signed_in(box.url, box.admin_user, box.admin_password) as admin:
        result(admin.get("/api/user/ls"))
    assert not list(tmp_path.glob("*memory*")) and not list(tmp_path.glob("*.signing-key"))


# ── sessions ─────────────────────────────────────────────────────────────────────────────────


def test_logout_ends_the_session_and_only_that_one(sandbox: RunningSandbox, make_user: UserFactory) -> None:
    bob = make_user("bob")
    first = _token(bob)
    with signed_in(sandbox.url, "bob", "pw-bob-1") as second:
        assert result(bob.post("/api/user/logout")) == "Logged out"
        assert _status_with(sandbox.url, first) == 401
        assert result(second.get("/api/user/exists", params={"username": "bob"})) is True
        # The browser-style `/logout` revokes too, not just clears the cookie.
        token = _token(second)
        assert second.post("/logout").status_code == 200
        assert _status_with(sandbox.url, token) == 401


def test_a_password_change_ends_the_users_other_sessions(
    sandbox: RunningSandbox, admin: httpx.Client, make_user: UserFactory
) -> None:
    bob = make_user("bob")
    with signed_in(sandbox.url, "bob", "pw-bob-1") as elsewhere:
        stale = _token(elsewhere)
        result(bob.put("/api/user/change-password", json={"current_password": "pw-bob-1", "new_password": "pw-bob-2"}))
        assert _status_with(sandbox.url, stale) == 401
        # Self-service: the session that made the change stays signed in.
        assert result(bob.get("/api/user/exists", params={"username": "bob"})) is True

    # An administrator setting the password ends all of bob's sessions, not the admin's own.
    bob_token = _token(bob)
    result(admin.put("/api/user/modify", json={"username": "bob", "password": "pw-bob-3"}))
    assert _status_with(sandbox.url, bob_token) == 401
    assert result(admin.get("/api/user/exists", params={"username": "bob"})) is True
    login(sandbox.url, "bob", "pw-bob-3").close()

    # The administrator changing their own password keeps the session that did it.
    with signed_in(sandbox.url, sandbox.admin_user, sandbox.admin_password) as other_admin:
        other_token = _token(other_admin)
        result(admin.put("/api/user/modify", json={"username": sandbox.admin_user, "password": "new-admin-pw"}))
        assert _status_with(sandbox.url, other_token) == 401
        assert result(admin.get("/api/user/exists", params={"username": "bob"})) is True


def test_a_deleted_users_token_never_works_for_a_new_user_of_the_same_name(
    sandbox: RunningSandbox, admin: httpx.Client
) -> None:
    result(admin.post("/api/user/add", json={"username": "dora", "password": "pw-1"}))
    with signed_in(sandbox.url, "dora", "pw-1") as dora:
        old = _token(dora)
    result(admin.request("DELETE", "/api/user/rm", json={"username": "dora"}))
    new = result(admin.post("/api/user/add", json={"username": "dora", "password": "pw-1", "json-enrichened": True}))
    assert _status_with(sandbox.url, old) == 401
    assert jwt.decode(old, options={"verify_signature": False})["uid"] != new["user_id"]
    with signed_in(sandbox.url, "dora", "pw-1") as dora:
        assert jwt.decode(_token(dora), options={"verify_signature": False})["uid"] == new["user_id"]
        assert result(dora.get("/api/user/exists", params={"username": "dora"})) is True


# ── quotas ───────────────────────────────────────────────────────────────────────────────────


def test_blob_bytes_per_user_quota(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(max_blob_bytes_per_user=1000)
    with signed_in(box.url, box.admin_user, box.admin_password) as admin:
        result(admin.post("/api/user/add", json={"username": "bob", "password": "pw"}))
        assert _put_blob(admin, f"{BUCKET}/a.bin", b"a" * 600).status_code == 200
        refused = _put_blob(admin, f"{BUCKET}/b.bin", b"b" * 600)
        assert "quota" in result(refused, 507).lower()
        assert not _exists(admin, f"{BUCKET}/b.bin")
        # Replacing one's own blob only counts the new size; up to the limit exactly is fine.
        assert _put_blob(admin, f"{BUCKET}/a.bin", b"a" * 900).status_code == 200
        assert _put_blob(admin, f"{BUCKET}/c.bin", b"c" * 100).status_code == 200
        upload = admin.post("/api/blob/cp", json={"source_file_b64": base64.b64encode(b"d").decode(),
                                                  "source_file_name": "d.bin", "destination_bucket": f"{BUCKET}/"})
        result(upload, 507)
        assert not _exists(admin, f"{BUCKET}/d.bin")
        # The quota is per user: bob has his own.
        with signed_in(box.url, "bob", "pw") as bob:
            assert _put_blob(bob, f"{BUCKET}/bob.bin", b"x" * 1000).status_code == 200
        # Removing frees the space.
        result(admin.request("DELETE", "/api/blob/rm", json={"bucket_name": f"{BUCKET}/a.bin"}))
        assert _put_blob(admin, f"{BUCKET}/e.bin", b"e" * 900).status_code == 200


def test_database_size_limit_refuses_writes_while_reads_keep_working(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(max_db_bytes=1024 * 1024)
    chunk = os.urandom(96 * 1024)
    with signed_in(box.url, box.admin_user, box.admin_password) as admin:
        result(admin.put("/api/kv/put", json={"key": "before", "value": "kept"}))
        stored, refused = [], None
        for i in range(30):
            response = _put_blob(admin, f"{BUCKET}/fill/{i}.bin", chunk)
            if response.status_code != 200:
                refused = response
                break
            stored.append(i)
        assert stored and refused is not None, "the database never filled up"
        assert "full" in result(refused, 507).lower()
        assert not _exists(admin, f"{BUCKET}/fill/{len(stored)}.bin")
        # Reads keep working, and so does signing in (sessions have a little headroom).
        assert result(admin.get("/api/kv/get", params={"key": "before"})) == "kept"
        first = result(admin.get("/api/blob/get", params={"bucket_name": f"{BUCKET}/fill/0.bin"}))
        assert base64.b64decode(first) == chunk
        with signed_in(box.url, box.admin_user, box.admin_password) as again:
            assert result(again.get("/api/user/exists", params={"username": box.admin_user})) is True
        # Removing data makes room again.
        result(admin.request("DELETE", "/api/blob/rm", json={"bucket_name": f"{BUCKET}/fill/0.bin"}))
        assert _put_blob(admin, f"{BUCKET}/fill/again.bin", chunk).status_code == 200
    with closing(sqlite3.connect(f"file:{box.db_path}?mode=ro", uri=True)) as conn:
        size = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    assert size <= 2 * 1024 * 1024  # the limit plus the sessions' headroom


# ── connections ──────────────────────────────────────────────────────────────────────────────


def _address(box: RunningSandbox) -> tuple[str, int]:
    url = httpx.URL(box.url)
    return url.host, url.port


def _seconds_until_closed(sock: socket.socket, limit: float) -> float:
    """How long the server took to close `sock` (EOF or reset); fails after `limit` seconds."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for more than {limit} s")
    return time.monotonic() - started


def test_connection_limit_answers_503_with_the_error_envelope(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(max_connections=2, idle_timeout=10)
    held = [socket.create_connection(_address(box)) for _ in range(2)]
    try:
        time.sleep(0.2)  # let the server accept both
        response = httpx.get(box.url + "/healthz", timeout=5)
        assert response.status_code == 503
        assert response.headers["retry-after"] and response.headers["connection"] == "close"
        assert "connections" in response.json()["error"]
        held.pop().close()
        deadline = time.monotonic() + 3
        while (status := httpx.get(box.url + "/healthz", timeout=5).status_code) != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("sent", [
    b"",  # connected and silent
    b"GET /healthz HT",  # half a request line
    b"PUT /api/kv/put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ke",  # half a body
    # more than uvicorn buffers before it pauses reading, then silence
    b"PUT /api/kv/put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400000\r\n\r\n"
    + b" " * 200_000,
], ids=["silent", "partial-request-line", "partial-body", "partial-large-body"])
def test_half_open_connections_are_closed_after_the_idle_timeout(sandbox_factory: SandboxFactory, sent: bytes) -> None:
    box = sandbox_factory(idle_timeout=0.5)
    with socket.create_connection(_address(box)) as sock:
        sock.sendall(sent)
        elapsed = _seconds_until_closed(sock, 3)
    assert 0.3 <= elapsed <= 2.5, elapsed


def test_idle_keep_alive_connections_are_closed_after_the_idle_timeout(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(idle_timeout=0.5)
    with socket.create_connection(_address(box)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(3)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert _seconds_until_closed(sock, 3) <= 2.5


def test_a_slow_but_active_client_is_not_cut_off(sandbox_factory: SandboxFactory) -> None:
    """The timeout is for silence, not for the whole request."""
    box = sandbox_factory(idle_timeout=0.6)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(_address(box)) as sock:
        for i in range(0, len(request), 8):
            sock.sendall(request[i:i + 8])
            time.sleep(0.15)  # 7 pieces: about 1 s in all, never 0.6 s of silence
        sock.settimeout(3)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"result": "ok"}


def test_a_client_that_stops_reading_is_cut_off(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(idle_timeout=0.5)
    size = 8 * 1024 * 1024
    with signed_in(box.url, box.admin_user, box.admin_password) as admin:
        assert _put_blob(admin, f"{BUCKET}/big.bin", os.urandom(size)).status_code == 200
        token = _token(admin)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with sock:
        sock.connect(_address(box))
        sock.sendall(f"GET /api/blob/get?bucket_name={BUCKET}/big.bin HTTP/1.1\r\nHost: x\r\n"
                     f"Cookie: {COOKIE_NAME}={token}\r\n\r\n".encode())
        time.sleep(1.2)  # never read while the server is writing
        received = 0
        sock.settimeout(3)
        try:
            while chunk := sock.recv(1024 * 1024):
                received += len(chunk)
        except ConnectionResetError:
            pass
        except TimeoutError:
            pytest.fail("the server kept a stalled reader's connection open")
    assert received < size  # cut off: the base64 reply is 4/3 of the blob


# ── no references outside the repository ──────────────────────────────────────────────────────


def test_no_file_or_help_text_points_outside_the_repository(sandbox: RunningSandbox) -> None:
    from typer.testing import CliRunner

    from platforge.cli.sandbox import app as cli

    sandboxes = [REPO / "provider/datatailr/sandbox", REPO / "provider/_kit/sandbox"]
    files = [*(p for folder in sandboxes for p in sorted(folder.rglob("*.py"))),
             *(p for folder in sandboxes for p in sorted(folder.rglob("*.md"))), REPO / "platforge/cli/sandbox.py"]
    assert len(files) > 20
    offenders = [str(p.relative_to(REPO)) for p in files if "shared/contracts" in p.read_text(encoding="utf-8")]
    assert not offenders
    assert "shared/" not in json.dumps(httpx.get(sandbox.url + "/openapi.json").json())
    help_text = CliRunner().invoke(cli, ["datatailr", "--help"], env={"COLUMNS": "200"}).output
    assert "Datatailr" in help_text and "shared/" not in help_text
