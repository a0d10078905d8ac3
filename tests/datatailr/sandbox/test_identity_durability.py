"""Users, groups, KV and blobs survive a restart, and concurrent writers leave a consistent DB."""

from __future__ import annotations

import base64
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import RunningSandbox, SandboxFactory
from tests.datatailr.sandbox.conftest import login, result, signed_in


def _restart(factory: SandboxFactory, box: RunningSandbox, password: str) -> RunningSandbox:
    box.stop()
    box.server.app.state.store.close()
    return factory(db_path=box.db_path, admin_password=password)


def test_everything_survives_a_restart(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(admin_password="first-pw")
    admin = login(box.url, box.admin_user, "first-pw")
    result(admin.post("/api/group/add", json={"group_name": "analysts"}))
    bob = result(admin.post("/api/user/add", json={
        "username": "bob", "password": "bob-pw", "groups": "dtusers,analysts", "json-enrichened": True}))
    result(admin.put("/api/kv/put", json={"key": "db_url", "value": "postgres://h/db", "users": "bob:r"}))
    result(admin.put("/api/kv/put", json={"key": "token", "value": "s3cr3t", "secure": True, "environment": "prod"}))
    result(admin.post("/api/blob/put", json={"destination_file": "blob://sandbox-user-data/a/b.bin",
                                              "content_b64": base64.b64encode(b"payload").decode()}))
    before = {
        "users": result(admin.get("/api/user/ls")),
        "groups": result(admin.get("/api/group/ls")),
        "kv": result(admin.get("/api/kv/ls", params={"acls": "True", "include-values": "True"})),
        "acl": result(admin.get("/api/kv/acls", params={"key": "db_url"})),
        "blobs": result(admin.get("/api/blob/ls", params={"bucket_name": "blob://sandbox-user-data/", "recursive": "True"})),
    }
    old_cookie = admin.cookies.get("X-Datatailr-Oidc-Data")
    admin.close()

    # The restarted sandbox resets the administrator's password to the configured one.
    again = _restart(sandbox_factory, box, "second-pw")
    with httpx.Client(base_url=again.url) as c:
        assert c.post("/login", auth=(again.admin_user, "first-pw")).status_code == 401
    admin = login(again.url, again.admin_user, "second-pw")
    try:
        assert result(admin.get("/api/user/ls")) == before["users"]
        assert result(admin.get("/api/group/ls")) == before["groups"]
        assert result(admin.get("/api/kv/ls", params={"acls": "True", "include-values": "True"})) == before["kv"]
        assert result(admin.get("/api/kv/acls", params={"key": "db_url"})) == before["acl"]
        assert result(admin.get("/api/kv/get", params={"key": "token", "secure": "True", "environment": "prod"})) == "s3cr3t"
        blob = result(admin.get("/api/blob/get", params={"bucket_name": "blob://sandbox-user-data/a/b.bin"}))
        assert base64.b64decode(blob) == b"payload"
        assert result(admin.get("/api/blob/ls", params={
            "bucket_name": "blob://sandbox-user-data/", "recursive": "True"})) == before["blobs"]
        # Sessions are signed with a key kept beside the database (`<db>.signing-key`), so they survive too.
        with httpx.Client(base_url=again.url, cookies={"X-Datatailr-Oidc-Data": old_cookie}) as old:
            assert result(old.get("/api/user/exists", params={"username": "bob"})) is True
        # Ordinary users log in with their own passwords, and ids keep counting up.
        with signed_in(again.url, "bob", "bob-pw") as bob_client:
            assert result(bob_client.get("/api/kv/get", params={"key": "db_url"})) == "postgres://h/db"
        carol = result(admin.post("/api/user/add", json={"username": "carol", "json-enrichened": True}))
        assert carol["user_id"] == bob["user_id"] + 1
    finally:
        admin.close()


def test_concurrent_kv_writers(sandbox: RunningSandbox, admin: httpx.Client) -> None:
    threads, per_thread = 8, 50

    def writer(t: int) -> list[int]:
        statuses = []
        with signed_in(sandbox.url, sandbox.admin_user, sandbox.admin_password) as client:
            for i in range(per_thread):
                statuses.append(client.put("/api/kv/put", json={"key": f"t{t}/k{i:02d}", "value": f"{t}-{i}"}).status_code)
                statuses.append(client.put("/api/kv/put", json={"key": "shared", "value": f"{t}-{i}"}).status_code)
        return statuses

    with ThreadPoolExecutor(threads) as pool:
        statuses = [s for batch in pool.map(writer, range(threads)) for s in batch]
    assert statuses == [200] * (threads * per_thread * 2)
    listing = result(admin.get("/api/kv/ls", params={"batch-size": "1000", "include-values": "True"}))
    assert listing["total"] == threads * per_thread + 1
    values = {item["key"]: item["value"] for item in listing["items"]}
    assert all(values[f"t{t}/k{i:02d}"] == f"{t}-{i}" for t in range(threads) for i in range(per_thread))
    assert values["shared"].endswith(f"-{per_thread - 1}")
    with sqlite3.connect(sandbox.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT COUNT(*) FROM kv_entries").fetchone() == (threads * per_thread + 1,)
        # One ACL row per permission per entry: no entry lost or doubled its ACL.
        assert db.execute(
            "SELECT COUNT(*) FROM acl_entries WHERE resource LIKE 'kv/%'").fetchone() == ((threads * per_thread + 1) * 5,)


def test_concurrent_user_and_membership_writers(sandbox: RunningSandbox, admin: httpx.Client) -> None:
    threads, per_thread = 8, 6
    result(admin.post("/api/group/add", json={"group_name": "crowd"}))

    def worker(t: int) -> list[int]:
        with signed_in(sandbox.url, sandbox.admin_user, sandbox.admin_password) as client:
            ids = []
            for i in range(per_thread):
                created = client.post("/api/user/add", json={"username": f"w{t}u{i}", "json-enrichened": True})
                ids.append(result(created)["user_id"])
                result(client.post("/api/group/add-users", json={"group_name": "crowd", "username": f"w{t}u{i},admin"}))
            return ids

    with ThreadPoolExecutor(threads) as pool:
        ids = [i for batch in pool.map(worker, range(threads)) for i in batch]
    assert len(set(ids)) == threads * per_thread
    members = result(admin.get("/api/group/get", params={"group_name": "crowd"}))["members"]
    assert members == sorted(ids + [1000])
    assert sorted(ids) == list(range(1001, 1001 + threads * per_thread))
