"""Only tokens the sandbox knows get in, and each sees only its own teams; tokens are kept as
hashes; the sandbox's files are owner-only; and `platforge sandbox studio` keeps a generated
token beside the database without ever printing it. Users run CI against this sandbox without
credentials, so every check here is the sandbox's own (contract §3.1, §5 #1, #2)."""

from __future__ import annotations

import os
import secrets
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from platforge.provider.sandbox import SANDBOXES, get_sandbox

from tests.studio.sandbox.conftest import API, TEAM, Studio, StudioFactory, error, ok

GROUPS = "/datachain/rbac/access-groups/"


def test_both_header_forms_are_accepted(studio: Studio):
    for scheme in ("token", "Token", "Bearer", "bearer"):
        assert ok(studio.client(scheme=scheme).get("/datachain/clusters/"))[0]["name"] == "default", scheme


def test_missing_wrong_and_malformed_tokens_are_401(studio: Studio):
    anonymous = httpx.Client(base_url=studio.url + API, trust_env=False)
    body = error(anonymous.get(GROUPS), 401)
    assert "token" in body["message"]
    for header in ("token", "Bearer", f"Basic {studio.token}", f"token {studio.token}x", f"token x{studio.token}",
                   "token " + "x" * 5000, f"Token{studio.token}", "isat_" + studio.token):
        assert error(anonymous.get(GROUPS, headers={"authorization": header}), 401)["message"], header
    assert error(anonymous.get(GROUPS, headers={"authorization": "token nope"}), 401)["message"] == "Invalid token"
    for path in ("/datachain/jobs/", "/datachain/pipeline/list", "/datachain/pipeline/schedules", "/datachain/clusters/",
                 "/datachain/rbac/access-rules/"):
        error(anonymous.get(path), 401)
    error(anonymous.post("/datachain/jobs/", json={"query": "x"}), 401)
    error(anonymous.post("/sandbox/users", json={"username": "eve"}), 401)


def test_a_token_sees_only_its_teams(studio: Studio, admin: httpx.Client):
    studio.team_named("other")
    ok(admin.post(GROUPS, json={"name": "secret", "team_name": "other"}), 201)
    job = ok(admin.post("/datachain/jobs/", json={"query": "x", "team_name": "other"}))
    _, bob = studio.user("bob")  # a member of acme only
    for params in ({"team_name": "other"}, {"team_name": "nonexistent"}):
        assert error(bob.get(GROUPS, params=params), 403)["message"].startswith("Not authorized for the team")
    assert error(bob.post(GROUPS, json={"name": "x", "team_name": "other"}), 403)["message"] == \
        "Not authorized for the team other"
    assert ok(bob.get(GROUPS)) == []
    assert ok(bob.get("/datachain/jobs/", params={"job_id": job["id"]})) == []
    error(bob.post(f"/datachain/jobs/{job['id']}/cancel", json={"team_name": TEAM}), 404)
    error(bob.get("/datachain/datasets/dataset_job_versions", params={"job_id": job["id"]}), 404)
    group_in_other = ok(admin.get(GROUPS, params={"team_name": "other"}))[0]
    # Even the administrator, acting in acme, cannot reach other's objects by id.
    error(admin.patch(f"{GROUPS}{group_in_other['id']}/", json={"name": "stolen"}), 404)
    error(admin.get(f"{GROUPS}{group_in_other['id']}/members/"), 404)
    assert ok(admin.get(GROUPS, params={"team_name": "other"}))[0]["name"] == "secret"


def test_a_token_limited_to_one_team_cannot_use_the_users_others(studio: Studio, admin: httpx.Client):
    studio.team_named("other")
    user_id, both = studio.user("carol", teams=(TEAM, "other"))
    assert ok(both.get(GROUPS, params={"team_name": "other"})) == []
    limited = ok(both.post("/sandbox/tokens", json={"team_names": ["other"]}), 201)["token"]
    client = studio.client(limited)
    assert ok(client.get(GROUPS)) == []  # its default team is other
    error(client.get(GROUPS, params={"team_name": TEAM}), 403)
    error(both.post("/sandbox/tokens", json={"user_id": 1}), 403)  # not a superuser
    error(both.post("/sandbox/teams", json={"name": "mine"}), 403)
    error(both.post("/sandbox/users", json={"username": "eve"}), 403)


def test_tokens_are_stored_as_hashes_only(studio: Studio, admin: httpx.Client):
    made = ok(admin.post("/sandbox/users", json={"username": "dave", "teams": [TEAM]}), 201)
    assert made["token"].startswith("isat_") and ok(studio.client(made["token"]).get(GROUPS)) == []
    studio.app.state.store.checkpoint()
    at_rest = b"".join(Path(p).read_bytes() for p in (studio.db_path, studio.db_path + "-wal") if Path(p).exists())
    for secret in (studio.token, made["token"]):
        assert secret.encode() not in at_rest


def test_logout_revokes_the_token_and_a_restart_with_another_token_revokes_the_old(studio_factory: StudioFactory,
                                                                                    tmp_path: Path):
    db = str(tmp_path / "restart.db")
    first_token, second_token = ("isat_" + secrets.token_urlsafe(18) for _ in range(2))
    first = studio_factory(db_path=db, token=first_token)
    made = ok(first.client().post("/sandbox/users", json={"username": "erin"}), 201)
    erin = first.client(made["token"])
    assert ok(erin.post("/device-logout")) == {"ok": True}
    error(erin.get(GROUPS), 401)
    first.stop()
    second = studio_factory(db_path=db, token=second_token)
    error(second.client(first_token).get(GROUPS), 401)
    assert ok(second.client().get(GROUPS)) == []


def test_device_login_needs_an_approval_and_gives_a_token_once(studio: Studio, admin: httpx.Client):
    public = httpx.Client(base_url=studio.url, trust_env=False)
    opened = ok(public.post("/api/device-login", json={"client_name": "DataChain", "token_name": "ci", "scopes": ["DATASETS"],
                                                       "team_names": [TEAM], "expires_in_days": 1}))
    assert opened["token_uri"] == f"{studio.url}/api/token" and opened["token_name"] == "ci"
    assert error(public.post("/api/token", json={"code": opened["device_code"]}), 400)["detail"] == "authorization_pending"
    error(public.post("/api/sandbox/device-login", json={"user_code": opened["user_code"]}), 401)  # anonymous cannot approve
    _, bob = studio.user("bob")
    studio.team_named("other")
    other = ok(public.post("/api/device-login", json={"client_name": "x", "team_names": ["other"]}))
    error(bob.post("/sandbox/device-login", json={"user_code": other["user_code"]}), 403)  # bob is not in other
    ok(bob.post("/sandbox/device-login", json={"user_code": opened["user_code"].lower()}))
    token = ok(public.post("/api/token", json={"code": opened["device_code"]}))["access_token"]
    assert error(public.post("/api/token", json={"code": opened["device_code"]}), 400)["detail"] != "authorization_pending"
    device = studio.client(token)
    assert ok(device.get(GROUPS)) == []
    error(device.get(GROUPS, params={"team_name": "other"}), 403)
    assert ok(device.post("/device-logout")) == {"ok": True}
    error(device.get(GROUPS), 401)


def test_pending_device_logins_are_capped(studio: Studio):
    from platforge.provider.studio.sandbox.device import MAX_PENDING

    public = httpx.Client(base_url=studio.url, trust_env=False)
    for _ in range(MAX_PENDING):
        ok(public.post("/api/device-login", json={"client_name": "flood"}))
    error(public.post("/api/device-login", json={"client_name": "flood"}), 429)


def test_files_are_owner_only(studio: Studio, admin: httpx.Client):
    ok(admin.post(GROUPS, json={"name": "g"}), 201)
    for suffix in ("", "-wal", "-shm"):
        path = Path(studio.db_path + suffix)
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_the_sandbox_is_registered():
    assert SANDBOXES["studio"] == "platforge.provider.studio.sandbox"
    sandbox = get_sandbox("studio")
    assert sandbox.name == "studio" and {f.name for f in sandbox.flags} == {"team", "token", "job_seconds"}


# ── the command line ─────────────────────────────────────────────────────────────────────────


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(tmp_path: Path, *extra: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "platforge", "sandbox", "studio", "--port", str(port), "--db", str(tmp_path / "cli.db"),
           "--team", "acme", *extra]
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


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.terminate()
    out, err = proc.communicate(timeout=15)
    return out, err


def _clusters(url: str, token: str) -> httpx.Response:
    return httpx.get(url + "/api/datachain/clusters/", params={"team_name": "acme"},
                     headers={"authorization": f"token {token}"}, trust_env=False)


def test_cli_generates_a_token_beside_the_db_and_never_prints_it(tmp_path: Path):
    proc, url = _run(tmp_path, "--access-log", str(tmp_path / "access.jsonl"))
    token_file = Path(str(tmp_path / "cli.db") + ".token")
    try:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert token.startswith("isat_") and _clusters(url, token).status_code == 200
        assert _clusters(url, token + "x").status_code == 401
        for suffix in ("", "-wal", "-shm"):
            path = Path(str(tmp_path / "cli.db") + suffix)
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        out, err = _stop(proc)
    assert token not in out + err and str(token_file) in err
    assert token not in (tmp_path / "access.jsonl").read_text()
    proc, url = _run(tmp_path)  # a restart keeps the same token
    try:
        assert _clusters(url, token).status_code == 200
    finally:
        _stop(proc)


def test_cli_takes_the_token_from_the_flag_or_the_environment(tmp_path: Path):
    proc, url = _run(tmp_path, env={"PLATFORGE_STUDIO_TOKEN": "isat_from-the-environment"})
    try:
        assert _clusters(url, "isat_from-the-environment").status_code == 200
    finally:
        out, err = _stop(proc)
    assert "isat_from-the-environment" not in out + err
    assert not Path(str(tmp_path / "cli.db") + ".token").exists()
    proc, url = _run(tmp_path, "--token", "isat_from-the-flag-0000")
    try:
        assert _clusters(url, "isat_from-the-flag-0000").status_code == 200
        assert _clusters(url, "isat_from-the-environment").status_code == 401  # the old one is revoked
    finally:
        _stop(proc)


def test_cli_refuses_bad_settings(tmp_path: Path):
    for extra in (("--token", "short"), ("--team", "no spaces"), ("--job-seconds", "-1")):
        result = subprocess.run([sys.executable, "-m", "platforge", "sandbox", "studio", "--port", "0", "--db",
                                 str(tmp_path / "x.db"), *extra], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert result.returncode == 1 and extra[0] in result.stderr, result.stderr
