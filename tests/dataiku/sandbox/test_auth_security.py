"""Who may call what, secrets shown once, and the sandbox's own safety: owner-only files, no
secrets at rest or in the access log, the body limit, whole (unpaged) lists, per-object reads
whose cost does not grow with the data, and the `platforge sandbox dataiku` command."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from platforge.provider.sandbox import SANDBOXES, get_sandbox

from tests.dataiku.sandbox.conftest import DSS, error, ok, send


def make_key(admin: httpx.Client, **body) -> dict:
    created = ok(send(admin, "POST", "/admin/global-api-keys/", {"label": "k", "description": "d", **body}))
    assert created["key"].startswith("dkuaps-") and created["id"]
    return created


# ── authentication ───────────────────────────────────────────────────────────────────────────


def test_401_without_a_key_with_a_bad_key_and_with_malformed_credentials(dss: DSS):
    raw = httpx.Client(base_url=dss.url + "/public/api", trust_env=False)
    error(raw.get("/auth/info"), 401, "com.dataiku.dip.exceptions.UnauthorizedException")
    error(raw.get("/auth/info", auth=("not-a-key", "")), 401)
    error(raw.get("/auth/info", headers={"Authorization": "Basic !!!"}), 401)
    error(raw.get("/auth/info", headers={"Authorization": "Bearer " + dss.admin_key}), 401)  # keys go as Basic only
    error(raw.get("/admin/users/", auth=("", "")), 401)
    encoded = base64.b64encode(f"{dss.admin_key}:".encode()).decode()
    assert ok(raw.get("/auth/info", headers={"Authorization": "Basic " + encoded}))["authIdentifier"] == "admin"
    assert ok(raw.get(dss.url + "/healthz")) == {"status": "ok"}  # the probe needs no key
    raw.close()


def test_403_for_non_admin_keys_on_admin_routes(dss: DSS, admin: httpx.Client):
    ok(send(admin, "POST", "/admin/groups/", {"name": "team"}))
    ok(send(admin, "POST", "/admin/users/", {"login": "bob", "password": "pw", "groups": ["team"]}))
    group_key = dss.client(make_key(admin, groups=["team"])["key"])
    personal = ok(send(admin, "POST", "/admin/personal-api-keys/", {"user": "bob", "label": "bob"}))
    bob = dss.client(personal["key"])
    assert ok(bob.get("/auth/info"))["authIdentifier"] == "bob"
    for client in (group_key, bob):
        for method, path in (("GET", "/admin/users/"), ("POST", "/admin/users/"), ("GET", "/admin/groups/team"),
                             ("GET", "/admin/connections/"), ("PUT", "/admin/variables/"), ("GET", "/admin/global-api-keys/"),
                             ("POST", "/admin/code-envs/PYTHON/x"), ("POST", "/projects/"),
                             ("GET", "/admin/personal-api-keys/")):
            error(send(client, method, path, {"login": "z", "name": "z", "projectKey": "Z", "owner": "bob",
                                              "deploymentMode": "DESIGN_MANAGED"}), 403)
    error(bob.get("/auth/info", headers={"X-DKU-ProxyUser": "admin"}), 403)
    error(group_key.get("/personal-api-keys/"), 403)  # a global key has no user
    # An admin acts as bob with X-DKU-ProxyUser; an unknown user is refused.
    assert ok(admin.get("/auth/info", headers={"X-DKU-ProxyUser": "bob"}))["authIdentifier"] == "bob"
    error(admin.get("/auth/info", headers={"X-DKU-ProxyUser": "ghost"}), 401)
    # A global key with admin permission is an administrator.
    assert ok(dss.client(make_key(admin, globalPermissions={"admin": True})["key"]).get("/admin/users/"))
    # A disabled user's keys stop working; enabled again, they work again.
    doc = ok(admin.get("/admin/users/bob"))
    ok(send(admin, "PUT", "/admin/users/bob", {**doc, "enabled": False}))
    error(bob.get("/auth/info"), 401)
    ok(send(admin, "PUT", "/admin/users/bob", {**doc, "enabled": True}))
    assert ok(bob.get("/auth/info"))["authIdentifier"] == "bob"


def test_project_rights_follow_the_permissions_document(dss: DSS, admin: httpx.Client):
    for name in ("readers", "writers"):
        ok(send(admin, "POST", "/admin/groups/", {"name": name}))
    reader = dss.client(make_key(admin, groups=["readers"])["key"])
    writer = dss.client(make_key(admin, groups=["writers"])["key"])
    ok(send(admin, "POST", "/projects/", {"projectKey": "P", "name": "P", "owner": "admin",
                                          "permissions": [{"group": "readers", "readProjectContent": True},
                                                          {"group": "writers", "writeProjectContent": True}]}))
    ok(send(admin, "POST", "/projects/", {"projectKey": "HIDDEN", "name": "H", "owner": "admin"}))
    for client in (reader, writer):
        assert [p["projectKey"] for p in ok(client.get("/projects/"))] == ["P"]
        assert ok(client.get("/projects/P/variables/")) == {"standard": {}, "local": {}}
        error(client.get("/projects/HIDDEN/metadata"), 403)
        error(send(client, "PUT", "/projects/P/permissions", {"owner": "admin", "permissions": []}), 403)
        error(client.delete("/projects/P"), 403)
    error(send(reader, "PUT", "/projects/P/variables/", {"standard": {"a": 1}, "local": {}}), 403)
    error(send(reader, "POST", "/projects/P/scenarios/", {"type": "step_based", "name": "s"}), 403)
    ok(send(writer, "PUT", "/projects/P/variables/", {"standard": {"a": 1}, "local": {}}))
    created = ok(send(writer, "POST", "/projects/P/scenarios/", {"type": "step_based", "name": "s"}))
    error(send(writer, "PUT", f"/projects/P/scenarios/{created['id']}", {**created, "runAsUser": "admin"}), 403)
    assert ok(send(admin, "PUT", f"/projects/P/scenarios/{created['id']}", {**created, "runAsUser": "admin"}))["runAsUser"] == "admin"
    error(admin.get("/projects/NOPE"), 404)


# ── API key secrets ──────────────────────────────────────────────────────────────────────────


def test_api_key_secret_is_shown_once_and_never_stored(dss: DSS, admin: httpx.Client):
    created = make_key(admin, globalPermissions={"admin": False})
    secret, key_id = created["key"], created["id"]
    answers = [admin.get("/admin/global-api-keys/").text, admin.get(f"/admin/global-api-keys/{key_id}").text]
    definition = ok(admin.get(f"/admin/global-api-keys/{key_id}"))
    assert "key" not in definition and definition["createdBy"] == "admin" and definition["expiresOn"] == 0
    answers.append(send(admin, "PUT", f"/admin/global-api-keys/{key_id}", {**definition, "label": "new", "key": secret}).text)
    answers.append(admin.get(f"/admin/global-api-keys/{key_id}").text)
    assert all(secret not in text for text in answers)
    error(send(admin, "PUT", f"/admin/global-api-keys/{key_id}", {**definition, "key": "dkuaps-other"}), 400)
    error(send(admin, "PUT", f"/admin/global-api-keys/{key_id}", {**definition, "id": "OTHER"}), 400)
    changed = ok(send(admin, "PUT", f"/admin/global-api-keys/{key_id}", {**definition, "createdBy": "mallory", "expiry": 2}))
    assert changed["createdBy"] == "admin" and changed["expiresOn"] == definition["createdOn"] + 2 * 86_400_000
    ok(dss.client(secret).get("/auth/info"))
    personal = ok(send(admin, "POST", "/personal-api-keys/", {"label": "mine"}))
    assert "key" not in ok(admin.get(f"/personal-api-keys/{personal['id']}"))
    assert [k["id"] for k in ok(admin.get("/personal-api-keys/"))] == [personal["id"]]
    assert [k["id"] for k in ok(admin.get("/admin/personal-api-keys/"))] == [personal["id"]]
    ok(send(admin, "PUT", f"/personal-api-keys/{personal['id']}", {"label": "renamed"}))
    assert ok(admin.get(f"/personal-api-keys/{personal['id']}"))["label"] == "renamed"
    dss.server.app.state.store.checkpoint()
    at_rest = b"".join(Path(dss.db_path + suffix).read_bytes() for suffix in ("", "-wal") if Path(dss.db_path + suffix).exists())
    for plain in (secret, personal["key"], dss.admin_key):
        assert plain.encode() not in at_rest
    ok(admin.delete(f"/personal-api-keys/{personal['id']}"), 204)
    error(dss.client(personal["key"]).get("/auth/info"), 401)
    ok(admin.delete(f"/admin/global-api-keys/{key_id}"), 204)
    error(dss.client(secret).get("/auth/info"), 401)
    error(admin.get(f"/admin/global-api-keys/{key_id}"), 404)


def test_bootstrap_key_follows_the_configuration(dss_factory, tmp_path: Path):
    db = str(tmp_path / "same.db")
    first = dss_factory(db_path=db)
    ok(send(first.client(), "POST", "/admin/groups/", {"name": "kept"}))
    first.stop()
    second = dss_factory(db_path=db, admin_api_key="another-" + secrets.token_hex(12))
    assert ok(second.client().get("/admin/groups/kept"))["name"] == "kept"
    error(second.client(first.admin_key).get("/auth/info"), 401)


# ── files, logs, limits ──────────────────────────────────────────────────────────────────────


def test_database_files_are_owner_only_and_the_access_log_has_no_secrets(dss_factory):
    box = dss_factory(access_log=True)
    admin = box.client()
    created = make_key(admin)
    ok(send(admin, "POST", "/admin/connections/", {"name": "c", "type": "PostgreSQL", "params": {"password": "hunter2"}}))
    ok(send(admin, "POST", "/admin/users/", {"login": "u", "password": "pw-hunter3"}))
    for suffix in ("", "-wal", "-shm"):
        path = Path(box.db_path + suffix)
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    log = Path(box.access_log).read_text()
    assert log.count("\n") >= 3
    for secret in (box.admin_key, created["key"], "hunter2", "pw-hunter3"):
        assert secret not in log
    assert json.loads(log.splitlines()[0])["path"].startswith("/dip/publicapi/")


def test_body_limit(dss_factory):
    admin = dss_factory(max_body_bytes=1024).client()
    error(send(admin, "PUT", "/admin/variables/", {"big": "x" * 2000}), 413)
    ok(send(admin, "PUT", "/admin/variables/", {"small": "x"}), 204)


def test_lists_are_whole_and_sorted(admin: httpx.Client):
    names = [f"g{n:03d}" for n in range(150)]
    for name in reversed(names):
        ok(send(admin, "POST", "/admin/groups/", {"name": name}))
    listed = [g["name"] for g in ok(admin.get("/admin/groups/", params={"offset": 10, "limit": 5}))]
    assert listed == ["administrators", *names]  # DSS lists are not paged (contract §2.7)


def test_a_per_object_read_does_not_grow_with_the_data(dss: DSS, admin: httpx.Client):
    store = dss.app.state.store

    def cost(path: str) -> int:
        admin.get(path)  # warm
        with store.watch(step=10) as watch:
            ok(admin.get(path))
        return watch.steps

    def fill(start: int, count: int) -> None:
        for n in range(start, start + count):
            ok(send(admin, "POST", "/admin/groups/", {"name": f"g{n}"}))
            ok(send(admin, "POST", "/admin/users/", {"login": f"u{n}", "groups": [f"g{n}"]}))
            ok(send(admin, "POST", "/projects/", {"projectKey": f"P{n}", "name": "p", "owner": "admin"}))
            ok(send(admin, "POST", f"/projects/P{n}/scenarios/", {"type": "step_based", "name": "s"}))

    fill(0, 5)
    paths = ["/admin/users/u1", "/admin/groups/g1", "/projects/P1/metadata", "/projects/P1/scenarios/S", "/auth/info"]
    small = {p: cost(p) for p in paths}
    fill(5, 200)
    large = {p: cost(p) for p in paths}
    for path in paths:
        assert large[path] <= small[path] * 1.2 + 50, (path, small[path], large[path])
    with store.read() as db:
        for sql, args in (("SELECT doc FROM dss_users WHERE login = ?", ("u1",)),
                          ("SELECT group_name FROM dss_memberships WHERE login = ?", ("u1",)),
                          ("SELECT doc FROM dss_api_keys WHERE key_hash = ?", ("x",)),
                          ("SELECT doc FROM dss_scenarios WHERE project_key = ? AND scenario_id = ?", ("P1", "S"))):
            plan = " ".join(str(tuple(r)) for r in db.all("EXPLAIN QUERY PLAN " + sql, args))
            assert "SEARCH" in plan and "SCAN" not in plan, (sql, plan)


# ── the command line ─────────────────────────────────────────────────────────────────────────


def test_registered_with_its_own_flags():
    assert SANDBOXES["dataiku"] == "platforge.provider.dataiku.sandbox"
    sandbox = get_sandbox("dataiku")
    assert sandbox.name == "dataiku" and {f.name for f in sandbox.flags} == {"admin_api_key", "build_seconds"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(tmp_path: Path, *extra: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "platforge", "sandbox", "dataiku", "--port", str(port), "--db", str(tmp_path / "cli.db"), *extra]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORGE_")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**clean, **(env or {})},
                            cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
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


def test_cli_generates_a_key_beside_the_db_and_never_prints_it(tmp_path: Path):
    proc, url = _run(tmp_path)
    key_file = Path(str(tmp_path / "cli.db") + ".admin-api-key")
    key = key_file.read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert httpx.get(url + "/public/api/auth/info", auth=(key, ""), trust_env=False).json()["authIdentifier"] == "admin"
    err = _stop(proc)
    assert str(key_file) in err and key not in err
    assert not Path(str(tmp_path / "cli.db") + ".admin-password").exists(), "DSS callers bring keys, not passwords"
    # A restart reuses the same key.
    proc, url = _run(tmp_path)
    assert httpx.get(url + "/dip/publicapi/auth/info", auth=(key, ""), trust_env=False).status_code == 200
    _stop(proc)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_cli_takes_the_key_from_the_flag_or_the_environment(tmp_path: Path, how: str):
    key = "given-admin-key-0123456789"
    extra, env = (("--admin-api-key", key), None) if how == "flag" else ((), {"PLATFORGE_DATAIKU_ADMIN_API_KEY": key})
    proc, url = _run(tmp_path, *extra, env=env)
    assert httpx.get(url + "/public/api/auth/info", auth=(key, ""), trust_env=False).status_code == 200
    _stop(proc)
    assert not Path(str(tmp_path / "cli.db") + ".admin-api-key").exists()


def test_cli_refuses_a_short_key(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "platforge", "sandbox", "dataiku", "--port", "0", "--db",
                             str(tmp_path / "x.db"), "--admin-api-key", "short"],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1 and "--admin-api-key" in result.stderr
