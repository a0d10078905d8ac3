"""Blob storage over raw HTTP (contract §2.5): identity, listing and ACLs."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import SandboxFactory
from tests.datatailr.sandbox.conftest import UserFactory, result, signed_in

BUCKET = "blob://sandbox-user-data"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def put(client: httpx.Client, name: str, data: bytes, status: int = 200, **extra):
    return result(client.post("/api/blob/put", json={"destination_file": name, "content_b64": b64(data), **extra}), status)


def get(client: httpx.Client, name: str, status: int = 200, **params):
    out = result(client.get("/api/blob/get", params={"bucket_name": name, **params}), status)
    return base64.b64decode(out) if status == 200 else out


def ls(client: httpx.Client, name: str | None = None, **params) -> list[dict]:
    query = {"filter": "", "batch-size": "-1", "offset": "0", "json": "True", **params}
    if name is not None:
        query["bucket_name"] = name
    return result(client.get("/api/blob/ls", params=query))


def test_put_get_exists_rm_roundtrip(admin: httpx.Client) -> None:
    data = bytes(range(256)) * 3
    assert put(admin, f"{BUCKET}/mybucket/hello.bin", data) == f"Stored {BUCKET}/mybucket/hello.bin"
    assert get(admin, f"{BUCKET}/mybucket/hello.bin") == data
    exists = lambda n: result(admin.get("/api/blob/exists", params={"bucket_name": n}))  # noqa: E731
    assert exists(f"{BUCKET}/mybucket/hello.bin") is True
    assert exists(f"{BUCKET}/mybucket/other.bin") is False
    assert exists(f"{BUCKET}/mybucket/") is False  # a directory is not a blob
    put(admin, f"{BUCKET}/mybucket/hello.bin", b"replaced")
    assert get(admin, f"{BUCKET}/mybucket/hello.bin") == b"replaced"
    put(admin, f"{BUCKET}/empty", b"")
    assert result(admin.get("/api/blob/get", params={"bucket_name": f"{BUCKET}/empty"})) == ""
    assert result(admin.request("DELETE", "/api/blob/rm", json={"bucket_name": f"{BUCKET}/mybucket/hello.bin"})) \
        == f"Removed {BUCKET}/mybucket/hello.bin"
    assert exists(f"{BUCKET}/mybucket/hello.bin") is False
    assert "not found" in get(admin, f"{BUCKET}/mybucket/hello.bin", 404)
    assert "not found" in result(admin.request("DELETE", "/api/blob/rm", json={"bucket_name": f"{BUCKET}/mybucket/hello.bin"}), 404)


def test_every_spelling_names_the_same_blob(admin: httpx.Client) -> None:
    put(admin, f"{BUCKET}/mybucket/data.txt", b"same")
    for spelling in ("mybucket/data.txt", "/mybucket/data.txt", "sandbox-user-data/mybucket/data.txt",
                     f"{BUCKET}/mybucket/data.txt"):
        assert get(admin, spelling) == b"same", spelling
        assert result(admin.get("/api/blob/get-acl", params={"path": spelling}))["read"] == [1000]
    # `dt blob get <bucket> <file>` sends the file as a second positional.
    assert get(admin, "sandbox-user-data", file_name="mybucket/data.txt") == b"same"
    assert get(admin, f"{BUCKET}/mybucket", file_name="data.txt") == b"same"
    # The SDK quotes paths with spaces; the quotes are not part of the name.
    put(admin, f'"{BUCKET}/my dir/a file.txt"', b"spaced")
    assert get(admin, "my dir/a file.txt") == b"spaced"
    # Other buckets are separate namespaces.
    put(admin, "blob://elsewhere/mybucket/data.txt", b"other bucket")
    assert get(admin, "mybucket/data.txt") == b"same"
    assert get(admin, "blob://elsewhere/mybucket/data.txt") == b"other bucket"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"destination_file": f"{BUCKET}/x.bin", "content_b64": "not base64!"}, "not valid base64"),
        ({"destination_file": f"{BUCKET}/x.bin", "content_b64": "QUJ"}, "not valid base64"),
        ({"destination_file": f"{BUCKET}/dir/", "content_b64": "QUJD"}, "names a directory"),
        ({"destination_file": f"{BUCKET}", "content_b64": "QUJD"}, "names a directory"),
        ({"destination_file": f"{BUCKET}/a/../b", "content_b64": "QUJD"}, "'..' segment"),
        ({"destination_file": f"{BUCKET}/a//b", "content_b64": "QUJD"}, "empty"),
        ({"destination_file": "blob://bad bucket/x", "content_b64": "QUJD"}, "Invalid bucket"),
        ({"destination_file": f"{BUCKET}/x.bin"}, "content_b64"),
        ({"destination_file": f"{BUCKET}/x.bin", "content_b64": "QUJD", "users": "ghost:r"}, "Unknown user"),
    ],
)
def test_put_rejects_bad_input(admin: httpx.Client, body: dict, fragment: str) -> None:
    assert fragment in result(admin.post("/api/blob/put", json=body), 400)
    assert ls(admin, f"{BUCKET}/", recursive="True") == []


def test_cp_upload_and_download(admin: httpx.Client) -> None:
    up = {"source_file_b64": b64(b"file body"), "source_file_name": "data.txt",
          "destination_bucket": f"{BUCKET}/mybucket/data.txt"}
    assert result(admin.post("/api/blob/cp", json=up)) == f"Copied data.txt to {BUCKET}/mybucket/data.txt"
    # Into a directory (or a bare bucket), the local file name is kept.
    result(admin.post("/api/blob/cp", json={**up, "destination_bucket": f"{BUCKET}/inbox/"}))
    result(admin.post("/api/blob/cp", json={**up, "destination_bucket": "blob://archive"}))
    assert get(admin, "inbox/data.txt") == b"file body"
    assert get(admin, "blob://archive/data.txt") == b"file body"
    down = {"source_file": f"{BUCKET}/mybucket/data.txt", "destination_bucket": "/tmp/local", "download": True}
    assert base64.b64decode(result(admin.post("/api/blob/cp", json=down))) == b"file body"
    assert "not found" in result(admin.post("/api/blob/cp", json={**down, "source_file": f"{BUCKET}/nope"}), 404)
    assert "required" in result(admin.post("/api/blob/cp", json={"destination_bucket": f"{BUCKET}/x"}), 400)
    assert "not valid base64" in result(admin.post("/api/blob/cp", json={**up, "source_file_b64": "%%%"}), 400)


def test_ls_prefix_recursive_filter_sort_page(admin: httpx.Client) -> None:
    for name, size in [("mybucket/a.txt", 3), ("mybucket/b.json", 10), ("mybucket/sub/c.txt", 5),
                       ("mybucket/sub/deeper/d.txt", 1), ("mydata.csv", 7), ("zeta/z.txt", 2)]:
        put(admin, f"{BUCKET}/{name}", b"x" * size)
    put(admin, "blob://elsewhere/e.txt", b"e")
    shallow = ls(admin, f"{BUCKET}/mybucket/")
    assert [(e["name"], e["size"], e["is_file"]) for e in shallow] == [
        ("mybucket/a.txt", 3, True), ("mybucket/b.json", 10, True), ("mybucket/sub/", 0, False)]
    sub = shallow[2]
    files = {e["name"]: e for e in ls(admin, f"{BUCKET}/mybucket/", recursive="True")}
    assert list(files) == ["mybucket/a.txt", "mybucket/b.json", "mybucket/sub/c.txt", "mybucket/sub/deeper/d.txt"]
    assert sub["last_modified"] == max(files["mybucket/sub/c.txt"]["last_modified"],
                                       files["mybucket/sub/deeper/d.txt"]["last_modified"])
    # A prefix is a string prefix, S3-style: "my" matches the directory and the file.
    assert [e["name"] for e in ls(admin, f"{BUCKET}/my")] == ["mybucket/", "mydata.csv"]
    assert [e["name"] for e in ls(admin, f"{BUCKET}/")] == ["mybucket/", "mydata.csv", "zeta/"]
    assert [e["name"] for e in ls(admin, "mybucket/sub/")] == ["mybucket/sub/c.txt", "mybucket/sub/deeper/"]
    txt = ls(admin, f"{BUCKET}/", recursive="True", filter="name ends_with .txt and size > 1", sort="-size")
    assert [e["name"] for e in txt] == ["mybucket/sub/c.txt", "mybucket/a.txt", "zeta/z.txt"]
    page = ls(admin, f"{BUCKET}/", recursive="True", sort="name", offset="1", **{"batch-size": "2"})
    assert [e["name"] for e in page] == ["mybucket/b.json", "mybucket/sub/c.txt"]
    assert ls(admin, f"{BUCKET}/nothing/") == []
    buckets = ls(admin)
    assert [(b["name"], b["is_file"]) for b in buckets] == [("elsewhere", False), ("sandbox-user-data", False)]
    assert buckets[1]["size"] == 28
    assert "unknown field" in result(admin.get("/api/blob/ls", params={"bucket_name": BUCKET, "filter": "owner = x"}), 400)


def test_acls_are_enforced(admin: httpx.Client, make_user: UserFactory) -> None:
    bob = make_user("bob")
    bob_id = result(admin.get("/api/user/get", params={"username": "bob"}))["user_id"]
    put(admin, f"{BUCKET}/reports/q1.csv", b"secret numbers")
    put(admin, f"{BUCKET}/reports/q2.csv", b"more numbers", users="bob:r")
    assert "Permission denied" in get(bob, "reports/q1.csv", 403)
    assert get(bob, "reports/q2.csv") == b"more numbers"
    assert [e["name"] for e in ls(bob, f"{BUCKET}/reports/")] == ["reports/q2.csv"]
    for response in (
        bob.post("/api/blob/put", json={"destination_file": f"{BUCKET}/reports/q2.csv", "content_b64": b64(b"x")}),
        bob.request("DELETE", "/api/blob/rm", json={"bucket_name": f"{BUCKET}/reports/q2.csv"}),
        bob.post("/api/blob/set-acl", json={"path": "reports/q2.csv", "users": "bob:rw"}),
        bob.get("/api/blob/get-acl", params={"path": "reports/q1.csv"}),
        bob.post("/api/blob/cp", json={"source_file": f"{BUCKET}/reports/q1.csv", "destination_bucket": ".", "download": True}),
    ):
        assert "Permission denied" in result(response, 403)
    assert get(admin, "reports/q2.csv") == b"more numbers"
    assert result(admin.get("/api/blob/get-acl", params={"path": "reports/q2.csv"}))["read"] == [1000, bob_id]
    # set-acl replaces; the raw path the SDK sends and the URI name the same blob.
    result(admin.post("/api/blob/set-acl", json={"path": "reports/q1.csv", "users": "bob:rw"}))
    assert result(admin.get("/api/blob/get-acl", params={"path": f"{BUCKET}/reports/q1.csv"})) == {
        "read": [bob_id], "write": [bob_id]}
    put(bob, f"{BUCKET}/reports/q1.csv", b"bob was here")
    assert get(admin, "reports/q1.csv") == b"bob was here"
    # A user's own blob is theirs alone.
    put(bob, f"{BUCKET}/bob/notes.txt", b"mine")
    assert result(bob.get("/api/blob/get-acl", params={"path": "bob/notes.txt"}))["write"] == [bob_id]


def test_directory_acls_are_inherited(admin: httpx.Client, make_user: UserFactory) -> None:
    bob = make_user("bob")
    carol = make_user("carol")
    result(admin.post("/api/group/add", json={"group_name": "analysts"}))
    result(admin.post("/api/group/add-users", json={"group_name": "analysts", "username": "bob"}))
    put(admin, f"{BUCKET}/team/data/x.csv", b"x")
    assert "No blob or directory" in result(admin.post("/api/blob/set-acl", json={"path": "nowhere", "users": "bob:r"}), 404)
    assert "Permission denied" in result(bob.post("/api/blob/set-acl", json={"path": "team", "groups": "analysts:rw"}), 403)
    result(admin.post("/api/blob/set-acl", json={"path": "team", "groups": "analysts:rw"}))
    gid = result(admin.get("/api/group/get", params={"group_name": "analysts"}))["group_id"]
    assert result(admin.get("/api/blob/get-acl", params={"path": f"{BUCKET}/team/"})) == {"read": [-gid], "write": [-gid]}
    assert get(bob, "team/data/x.csv") == b"x"  # inherited read
    put(bob, f"{BUCKET}/team/data/y.csv", b"y")  # inherited write, including creation
    assert "Permission denied" in get(carol, "team/data/x.csv", 403)
    assert "may not create" in put(carol, f"{BUCKET}/team/new.csv", b"z", 403)
    assert ls(carol, f"{BUCKET}/team/", recursive="True") == []
    assert [e["name"] for e in ls(bob, f"{BUCKET}/team/", recursive="True")] == ["team/data/x.csv", "team/data/y.csv"]
    # Outside a governed directory anyone may create; the owner of everything in a directory
    # may set its ACL.
    put(carol, f"{BUCKET}/carol/a.txt", b"a")
    result(carol.post("/api/blob/set-acl", json={"path": "carol/", "users": "bob:r"}))
    assert get(bob, "carol/a.txt") == b"a"


def test_user_bucket_follows_the_configured_prefix(sandbox_factory: SandboxFactory) -> None:
    box = sandbox_factory(blob_storage_prefix="acme-")
    with signed_in(box.url, box.admin_user, box.admin_password) as admin:
        assert result(admin.get("/api/tag/get", params={"tag": "blob_storage_prefix"})) == "acme-"
        put(admin, "mybucket/hello.bin", b"hi")
        assert [e["name"] for e in ls(admin)] == ["acme-user-data"]
        assert get(admin, "blob://acme-user-data/mybucket/hello.bin") == b"hi"
        assert get(admin, "acme-user-data/mybucket/hello.bin") == b"hi"
