"""KV entries and secrets over raw HTTP (contract §2.4), including ACL enforcement."""

from __future__ import annotations

import httpx
import pytest

from tests.datatailr.sandbox.conftest import UserFactory, result

ALL = ("read", "write", "operate", "access", "promote")


def put(client: httpx.Client, key: str, value: str, status: int = 200, **extra):
    return result(client.put("/api/kv/put", json={"key": key, "value": value, **extra}), status)


def get(client: httpx.Client, key: str, status: int = 200, **params):
    return result(client.get("/api/kv/get", params={"key": key, "json": "True", **params}), status)


def ls(client: httpx.Client, **params) -> dict:
    return result(client.get("/api/kv/ls", params={"json": "True", **params}))


def acls(client: httpx.Client, key: str, **params) -> dict:
    return result(client.get("/api/kv/acls", params={"key": key, "json": "True", **params}))


def test_put_get_upsert_rm(admin: httpx.Client) -> None:
    assert put(admin, "db_url", "postgres://h/db") == "Stored key 'db_url' in dev"
    assert get(admin, "db_url") == "postgres://h/db"
    put(admin, "db_url", "postgres://h/db2")
    assert get(admin, "db_url") == "postgres://h/db2"
    # SDK-quoted values are stored raw; SDK-quoted keys name the same key as the raw spelling.
    put(admin, '"my key"', '"hello world"')
    assert get(admin, "my key") == '"hello world"'
    assert [i["key"] for i in ls(admin)["items"]] == ["db_url", "my key"]
    assert result(admin.request("DELETE", "/api/kv/rm", json={"key": "db_url"})) == "Removed key 'db_url' in dev"
    assert "not found" in get(admin, "db_url", 404)
    assert "not found" in result(admin.request("DELETE", "/api/kv/rm", json={"key": "db_url"}), 404)
    assert "not found" in result(admin.get("/api/kv/acls", params={"key": "db_url"}), 404)
    assert "not found" in result(admin.post("/api/kv/set-acls", json={"key": "db_url", "users": "admin:r"}), 404)


def test_json_enrichened_put(admin: httpx.Client) -> None:
    out = put(admin, "k", "v", **{"json-enrichened": True, "environment": "pre"})
    assert out == {"key": "k", "environment": "pre", "secure": False, "acl": {p: [1000] for p in ALL}}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"key": "n", "value": 123}, "value"),
        ({"key": "n", "value": {"a": 1}}, "value"),
        ({"key": "n"}, "value"),
        ({"value": "v"}, "key"),
        ({"key": "", "value": "v"}, "key must not be empty"),
        ({"key": "a\nb", "value": "v"}, "control characters"),
        ({"key": "n", "value": "v", "environment": "qa"}, "Unknown environment"),
        ({"key": "n", "value": "v", "users": "ghost:r"}, "Unknown user 'ghost'"),
        ({"key": "n", "value": "v", "groups": "ghosts:r"}, "Unknown group 'ghosts'"),
        ({"key": "n", "value": "v", "users": "admin:x"}, "Invalid permission letter"),
        ({"key": "n", "value": "v", "users": "admin"}, "expected 'name:letters'"),
        ({"key": "n", "value": "v", "others": "z"}, "Invalid permission letter"),
    ],
)
def test_put_rejects_bad_input_and_stores_nothing(admin: httpx.Client, body: dict, fragment: str) -> None:
    assert fragment in result(admin.put("/api/kv/put", json=body), 400)
    assert ls(admin, environment="dev,pre,prod") == {"items": [], "total": 0}


def test_environments_are_separate(admin: httpx.Client) -> None:
    put(admin, "k", "dev-value")
    put(admin, "k", "prod-value", environment="prod")
    assert get(admin, "k") == "dev-value"
    assert get(admin, "k", environment="prod") == "prod-value"
    assert "not found in pre" in get(admin, "k", 404, environment="pre")
    items = ls(admin, environment="dev,pre,prod", **{"include-values": "True"})["items"]
    assert items == [{"key": "k", "environment": "dev", "value": "dev-value"},
                     {"key": "k", "environment": "prod", "value": "prod-value"}]
    assert [i["environment"] for i in ls(admin)["items"]] == ["dev"]
    assert "Unknown environment" in result(admin.get("/api/kv/ls", params={"environment": "dev,qa"}), 400)


def test_secrets_are_a_separate_namespace_and_never_listed_with_values(admin: httpx.Client) -> None:
    put(admin, "db_password", "s3cr3t", secure=True)
    put(admin, "db_password", "plain")
    assert get(admin, "db_password", secure="True") == "s3cr3t"
    assert get(admin, "db_password") == "plain"
    secrets = ls(admin, secure="True", acls="True", **{"include-values": "True"})
    assert secrets == {"items": [{"key": "db_password", "environment": "dev",
                                  "acl": {p: [1000] for p in ALL}}], "total": 1}
    assert ls(admin, **{"include-values": "true"})["items"] == [
        {"key": "db_password", "environment": "dev", "value": "plain"}]
    result(admin.request("DELETE", "/api/kv/rm", json={"key": "db_password", "secure": True}))
    assert "Secret 'db_password' not found" in get(admin, "db_password", 404, secure="True")
    assert get(admin, "db_password") == "plain"


def test_listing_prefix_filter_sort_page(admin: httpx.Client) -> None:
    for i in range(105):
        put(admin, f"app/{i:03d}", str(i))
    put(admin, "other/x", "x")
    first = ls(admin)
    assert first["total"] == 106 and len(first["items"]) == 100  # default batch size
    assert first["items"][0] == {"key": "app/000", "environment": "dev"}
    assert [i["key"] for i in ls(admin, offset="100")["items"]] == [
        "app/100", "app/101", "app/102", "app/103", "app/104", "other/x"]
    assert ls(admin, key_prefix="other")["items"] == [{"key": "other/x", "environment": "dev"}]
    page = ls(admin, filter="key starts_with app/01", sort="-key", offset="2", **{"batch-size": "3"})
    assert ([i["key"] for i in page["items"]], page["total"]) == (["app/017", "app/016", "app/015"], 10)
    assert ls(admin, filter="key contains nothing-like-this") == {"items": [], "total": 0}
    assert "unknown field" in result(admin.get("/api/kv/ls", params={"filter": "value = 1"}), 400)
    assert "offset" in result(admin.get("/api/kv/ls", params={"offset": "-1"}), 400)


def test_acl_on_create_put_set_and_add(admin: httpx.Client, make_user: UserFactory) -> None:
    make_user("alice")
    result(admin.post("/api/group/add", json={"group_name": "analysts"}))
    alice = result(admin.get("/api/user/get", params={"username": "alice"}))["user_id"]
    analysts = -result(admin.get("/api/group/get", params={"group_name": "analysts"}))["group_id"]
    # New key: the creator's default ACL plus what was given (the SDK's split form).
    put(admin, "greeting", '"hello world"', users="alice:r,alice:w", groups="analysts:r")
    assert acls(admin, "greeting") == {"read": sorted([analysts, 1000, alice]), "write": [1000, alice],
                                       "operate": [1000], "access": [1000], "promote": [1000]}
    # Existing key: ACL options add to the ACL.
    put(admin, "greeting", "hi", users="alice:o")
    assert acls(admin, "greeting")["operate"] == [1000, alice]
    # set-acls replaces (merged letters accepted), add-acls merges.
    result(admin.post("/api/kv/set-acls", json={"key": "greeting", "users": "alice:rw", "groups": "analysts:r"}))
    assert acls(admin, "greeting") == {"read": sorted([analysts, alice]), "write": [alice]}
    result(admin.post("/api/kv/add-acls", json={"key": "greeting", "groups": "analysts:w"}))
    assert acls(admin, "greeting") == {"read": sorted([analysts, alice]), "write": sorted([analysts, alice])}
    result(admin.post("/api/kv/set-acls", json={"key": "greeting"}))
    assert acls(admin, "greeting") == {}
    assert get(admin, "greeting") == "hi"  # administrators bypass ACLs
    listed = ls(admin, acls="True")["items"]
    assert listed == [{"key": "greeting", "environment": "dev", "acl": {}}]


def test_non_admin_without_write_changes_nothing(admin: httpx.Client, make_user: UserFactory) -> None:
    bob = make_user("bob")
    put(admin, "shared/conf", "v1", users="bob:r")
    put(admin, "private", "p1")
    before = (acls(admin, "shared/conf"), acls(admin, "private"))
    assert get(bob, "shared/conf") == "v1"
    assert acls(bob, "shared/conf") == before[0]
    denied = [
        bob.put("/api/kv/put", json={"key": "shared/conf", "value": "hacked"}),
        bob.put("/api/kv/put", json={"key": "shared/conf", "value": "hacked", "users": "bob:w"}),
        bob.post("/api/kv/set-acls", json={"key": "shared/conf", "users": "bob:rw"}),
        bob.post("/api/kv/add-acls", json={"key": "shared/conf", "users": "bob:w"}),
        bob.request("DELETE", "/api/kv/rm", json={"key": "shared/conf"}),
        bob.get("/api/kv/get", params={"key": "private"}),
        bob.get("/api/kv/acls", params={"key": "private"}),
        bob.request("DELETE", "/api/kv/rm", json={"key": "private"}),
    ]
    for response in denied:
        assert "Permission denied: bob has no" in result(response, 403)
    assert get(admin, "shared/conf") == "v1" and get(admin, "private") == "p1"
    assert (acls(admin, "shared/conf"), acls(admin, "private")) == before
    assert [i["key"] for i in ls(bob)["items"]] == ["shared/conf"]
    assert ls(bob)["total"] == 1


def test_write_through_group_and_others(admin: httpx.Client, make_user: UserFactory) -> None:
    bob = make_user("bob")
    carol = make_user("carol")
    result(admin.post("/api/group/add", json={"group_name": "editors"}))
    put(admin, "doc", "v1", groups="editors:rw")
    assert "Permission denied" in put(bob, "doc", "v2", 403)
    result(admin.post("/api/group/add-users", json={"group_name": "editors", "username": "bob"}))
    put(bob, "doc", "v2")
    assert get(admin, "doc") == "v2"
    # "others" grants everybody, without an id in the JSON ACL.
    assert "Permission denied" in get(carol, "doc", 403)
    result(admin.post("/api/kv/add-acls", json={"key": "doc", "others": "r"}))
    assert get(carol, "doc") == "v2"
    assert all(ids for ids in acls(admin, "doc").values())
    assert "Permission denied" in put(carol, "doc", "v3", 403)
    # A user's own new key is theirs alone.
    put(carol, "carol/note", "mine")
    assert "Permission denied" in get(bob, "carol/note", 403)
    carol_id = result(admin.get("/api/user/get", params={"username": "carol"}))["user_id"]
    assert acls(carol, "carol/note") == {p: [carol_id] for p in ALL}
