"""Only tokens the sandbox signed get in; secrets never come back out; the sandbox's files are
owner-only; and `platforge sandbox dataloop` keeps a generated password beside the database
without printing it. The real dtlpy never checks a token's signature (contract §3.1), so every
check here is the sandbox's own."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest
from platforge.provider.sandbox import SANDBOXES, get_sandbox

from tests.dataloop.sandbox.conftest import API, Dataloop, DataloopFactory, error, ok


def bearer(dataloop: Dataloop, token: str) -> httpx.Client:
    return dataloop.client(token)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# ── tokens ───────────────────────────────────────────────────────────────────────────────────


def test_login_gives_a_jwt_dtlpy_accepts(dataloop: Dataloop):
    tokens = dataloop.login()
    assert set(tokens) >= {"id_token", "refresh_token"}
    claims = claims_of(tokens["id_token"])
    assert claims["email"] == dataloop.admin_email
    assert claims["exp"] > time.time() + 3600  # dtlpy's gate wants exp beyond now + 60 s
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "HS256"
    assert ok(bearer(dataloop, tokens["id_token"]).get("/users/me"))["email"] == dataloop.admin_email


def test_no_token_and_malformed_tokens_are_401(dataloop: Dataloop):
    anonymous = httpx.Client(base_url=dataloop.url + API, trust_env=False)
    assert "Bearer" in error(anonymous.get("/users/me"), 401)["message"]
    for header in ("Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Basic YWRtaW46cHc=", "Bearer " + "x" * 5000):
        error(anonymous.get("/projects", headers={"authorization": header}), 401)


@pytest.mark.filterwarnings("ignore:The HMAC key")
def test_unsigned_foreign_expired_and_tampered_tokens_are_401(dataloop: Dataloop):
    good = dataloop.login()["id_token"]
    claims = claims_of(good)
    key = dataloop.app.state.sessions._key
    forged = {
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "alg none, no signature": good.rsplit(".", 1)[0] + ".",
        "foreign key": jwt.encode(claims, "someone-elses-key-0123456789abcdef", algorithm="HS256"),
        "another algorithm": jwt.encode(claims, key, algorithm="HS512"),
        "expired": jwt.encode({**claims, "exp": int(time.time()) - 10}, key, algorithm="HS256"),
        "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, key, algorithm="HS256"),
        "tampered payload": _swap_payload(good, {**claims, "email": "root@example.com", "uid": claims["uid"] + 1}),
        "unknown session": jwt.encode({**claims, "sid": "made-up"}, key, algorithm="HS256"),
    }
    for name, token in forged.items():
        body = error(bearer(dataloop, token).get("/projects"), 401)
        assert body["name"] == "Unauthorized", name
    assert ok(bearer(dataloop, good).get("/projects")) == []


def _swap_payload(token: str, claims: dict) -> str:
    header, _, signature = token.split(".")
    payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{payload}.{signature}"


def test_a_token_of_another_sandbox_is_401(dataloop_factory: DataloopFactory):
    one, two = dataloop_factory(), dataloop_factory()
    error(bearer(two, one.login()["id_token"]).get("/users/me"), 401)


def test_wrong_unknown_and_invited_credentials_are_401(dataloop: Dataloop, admin: httpx.Client):
    raw = httpx.Client(base_url=dataloop.url, trust_env=False)
    ok(admin.post(f"/orgs/{dataloop.org_id}/members", json={"emails": ["invited@example.com"], "role": "member"}))
    for username, password in ((dataloop.admin_email, "wrong-password"), ("ghost@example.com", "whatever-pw"),
                               ("invited@example.com", ""), ("invited@example.com", "anything-at-all"), ("not-an-email", "x")):
        body = {"username": username, "password": password, "type": "user_credentials"}
        error(raw.post("/token?default", json=body), 401)
    error(raw.post("/token?default", json={"type": "password"}), 400)
    error(raw.post("/token?default", content=b"{"), 400)


def test_refresh_gives_a_new_token_and_refuses_unknown_ones(dataloop: Dataloop):
    raw = httpx.Client(base_url=dataloop.url, trust_env=False)
    tokens = dataloop.login()
    renewed = ok(raw.post("/token?default", json={"type": "refresh_token", "refresh_token": tokens["refresh_token"]}))
    assert renewed["id_token"] != tokens["id_token"] and claims_of(renewed["id_token"])["email"] == dataloop.admin_email
    ok(bearer(dataloop, renewed["id_token"]).get("/users/me"))
    error(raw.post("/token?default", json={"type": "refresh_token", "refresh_token": "guess"}), 401)
    error(raw.post("/token?default", json={"type": "refresh_token", "refresh_token": tokens["id_token"]}), 401)


def test_a_password_change_ends_the_users_other_sessions(dataloop: Dataloop):
    bob = dataloop.user("bob@example.com", "bob-password-1")
    other = dataloop.client(dataloop.login("bob@example.com", "bob-password-1")["id_token"])
    refresh = dataloop.login("bob@example.com", "bob-password-1")["refresh_token"]
    ok(bob.put("/sandbox/users/bob@example.com/password", json={"password": "bob-password-2"}))
    ok(bob.get("/users/me"))  # the session that made the change stays
    error(other.get("/users/me"), 401)
    raw = httpx.Client(base_url=dataloop.url, trust_env=False)
    error(raw.post("/token?default", json={"type": "refresh_token", "refresh_token": refresh}), 401)
    with pytest.raises(httpx.HTTPStatusError):
        dataloop.login("bob@example.com", "bob-password-1")
    assert dataloop.login("bob@example.com", "bob-password-2")["id_token"]


def test_only_the_administrator_manages_users_and_orgs(dataloop: Dataloop, admin: httpx.Client):
    bob = dataloop.user("bob@example.com")
    error(bob.post("/sandbox/users", json={"email": "x@example.com", "password": "long-enough"}), 403)
    error(bob.put("/sandbox/users/admin@sandbox.local/password", json={"password": "taken-over!"}), 403)
    error(bob.post("/sandbox/orgs", json={"name": "mine"}), 403)
    ok(admin.post("/sandbox/users", json={"email": "x@example.com", "password": "long-enough"}))
    error(admin.post("/sandbox/users", json={"email": "x@example.com", "password": "long-enough"}), 409)
    error(admin.post("/sandbox/users", json={"email": "y@example.com", "password": "short"}), 400)
    assert dataloop.login("x@example.com", "long-enough")["id_token"]


# ── secrets ──────────────────────────────────────────────────────────────────────────────────


def test_integration_secrets_never_leave_or_rest(dataloop_factory: DataloopFactory):
    dataloop = dataloop_factory(access_log=True)
    admin = dataloop.client()
    org = dataloop.org_id
    secret, rotated = "s3cr3t-SHOULD-NOT-LEAK-1", "r0tated-SHOULD-NOT-LEAK-2"
    project = ok(admin.post("/projects", data={"name": "p"}))
    created = ok(admin.post(f"/orgs/{org}/integrations",
                            json={"type": "key_value", "name": "k", "options": {"key": "API_TOKEN", "value": secret}}))
    iid = created["id"]
    pkg = ok(admin.post("/packages", json={"name": "pkg", "projectId": project["id"]}))
    svc = ok(admin.post("/services", json={"name": "svc", "projectId": project["id"], "packageId": pkg["id"],
                                           "secrets": [iid]}))
    answers = [created,
               ok(admin.patch(f"/orgs/{org}/integrations", json={"integrationId": iid,
                                                                 "credentials": {"options": {"value": rotated}}})),
               ok(admin.patch(f"/orgs/{org}/integrations", json={"integrationId": iid, "name": "k2"})),
               ok(admin.get(f"/orgs/{org}/integrations")), ok(admin.get(f"/orgs/{org}/availableIntegrations")),
               ok(admin.get(f"/orgs/{org}/integrations/{iid}")), ok(admin.get(f"/integrations/{iid}")),
               ok(admin.get(f"/services/{svc['id']}")), ok(admin.get(f"/projects/{project['id']}")),
               ok(admin.get(f"/orgs/{org}"))]
    error(admin.delete(f"/orgs/{org}/integrations/{iid}"), 409)  # in use by the service
    ok(admin.delete(f"/services/{svc['id']}"))
    answers.append(ok(admin.delete(f"/orgs/{org}/integrations/{iid}")))
    text = json.dumps(answers)
    assert secret not in text and rotated not in text and "API_TOKEN" not in text and "options" not in text
    assert all(set(a) >= {"id", "name", "type", "metadata"} for a in answers[:3])
    dataloop.app.state.store.checkpoint()
    at_rest = b"".join(Path(p).read_bytes() for p in (dataloop.db_path, dataloop.db_path + "-wal") if Path(p).exists())
    assert secret.encode() not in at_rest and rotated.encode() not in at_rest
    log = Path(dataloop.access_log).read_text()
    assert secret not in log and "eyJ" not in log and dataloop.admin_password not in log


# ── files ────────────────────────────────────────────────────────────────────────────────────


def test_database_and_key_files_are_owner_only(dataloop: Dataloop, admin: httpx.Client):
    ok(admin.post("/projects", data={"name": "p"}))
    for suffix in ("", "-wal", "-shm", ".signing-key"):
        path = Path(dataloop.db_path + suffix)
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with dataloop.app.state.store.read() as db:
        text = json.dumps([list(r) for r in db.all("SELECT * FROM dl_users")])
        assert dataloop.admin_password not in text  # scrypt hashes only
        assert db.scalar("SELECT COUNT(*) FROM sessions WHERE length(session_hash) = 64") >= 1


def test_a_restart_keeps_sessions_and_the_key(dataloop_factory: DataloopFactory, tmp_path: Path):
    db = str(tmp_path / "kept.db")
    first = dataloop_factory(db_path=db, admin_password="first-password")
    token = first.login()["id_token"]
    first.stop()
    second = dataloop_factory(db_path=db, admin_password="second-password")
    ok(second.client(token).get("/users/me"))
    assert second.login(second.admin_email, "second-password")["id_token"]
    with pytest.raises(httpx.HTTPStatusError):
        second.login(second.admin_email, "first-password")


def test_body_limit_is_413_in_dataloops_shape(dataloop_factory: DataloopFactory):
    dataloop = dataloop_factory(max_body_bytes=2048)
    admin = dataloop.client()
    error(admin.post("/projects", json={"name": "x" * 4000}), 413)
    ok(admin.post("/projects", json={"name": "small"}))


# ── the command line ─────────────────────────────────────────────────────────────────────────


def test_registered_with_its_own_flags():
    assert SANDBOXES["dataloop"] == "platforge.provider.dataloop.sandbox"
    sandbox = get_sandbox("dataloop")
    assert sandbox.name == "dataloop" and {f.name for f in sandbox.flags} == {"org", "admin_email", "unique_names"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(tmp_path: Path, *extra: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "platforge", "sandbox", "dataloop", "--port", str(port), "--db", str(tmp_path / "cli.db"),
           *extra]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORGE_")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**clean, **(env or {})},
                            cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(url + "/healthz", timeout=1, trust_env=False).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("sandbox did not come up")


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=15)
    return err


def test_cli_generates_a_password_beside_the_db_and_never_prints_it(tmp_path: Path):
    from platforge.provider.dataloop.sandbox import login

    proc, url = _run(tmp_path, "--org", "acme", "--admin-email", "ops@acme.io")
    password_file = Path(str(tmp_path / "cli.db") + ".admin-password")
    password = password_file.read_text().strip()
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    token = login(url, "ops@acme.io", password)["id_token"]
    orgs = httpx.get(url + "/api/v1/orgs", headers={"authorization": f"Bearer {token}"}, trust_env=False).json()
    assert [o["name"] for o in orgs] == ["acme"]
    err = _stop(proc)
    assert str(password_file) in err and password not in err
    proc, url = _run(tmp_path, "--org", "acme", "--admin-email", "ops@acme.io")  # a restart keeps it
    assert login(url, "ops@acme.io", password)["id_token"]
    _stop(proc)


def test_cli_takes_the_password_from_the_environment(tmp_path: Path):
    from platforge.provider.dataloop.sandbox import login

    proc, url = _run(tmp_path, env={"PLATFORGE_SANDBOX_ADMIN_PASSWORD": "from-the-env-var"})
    assert login(url, "admin@sandbox.local", "from-the-env-var")["id_token"]
    _stop(proc)
    assert not Path(str(tmp_path / "cli.db") + ".admin-password").exists()


def test_cli_refuses_bad_settings(tmp_path: Path):
    for extra in (("--admin-email", "not-an-email"), ("--unique-names", "widgets"), ("--admin-password", "short")):
        result = subprocess.run([sys.executable, "-m", "platforge", "sandbox", "dataloop", "--port", "0", "--db",
                                 str(tmp_path / "x.db"), *extra], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert result.returncode == 1 and extra[0] in result.stderr, result.stderr
