"""Users, groups and memberships over raw HTTP (contract §2.1, §2.2)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import RunningSandbox
from tests.datatailr.sandbox.conftest import UserFactory, login, result


def _user(admin: httpx.Client, name: str) -> dict:
    return result(admin.get("/api/user/get", params={"username": name, "json": "True"}))


def _group(admin: httpx.Client, name: str) -> dict:
    return result(admin.get("/api/group/get", params={"group_name": name, "json": "True"}))


def test_seeded_identities(admin: httpx.Client, sandbox: RunningSandbox) -> None:
    users = {u["name"]: u for u in result(admin.get("/api/user/ls", params={"filter": "", "json": "True"}))}
    assert users["root"] == {"name": "root", "user_id": 0, "first_name": "Super User", "last_name": "",
                             "email": "", "groups": "", "is_system": True, "disabled": False}
    me = users[sandbox.admin_user]
    assert (me["user_id"], me["groups"], me["is_system"]) == (1000, "admin,dtusers", False)
    groups = result(admin.get("/api/group/ls"))
    assert [(g["group_id"], g["name"], g["members"]) for g in groups] == [
        (100, "dtusers", [1000]), (101, "admin", [1000]), (102, "node_admin", []),
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/user/ls"), ("GET", "/api/user/get"), ("POST", "/api/user/add"), ("DELETE", "/api/user/rm"),
     ("GET", "/api/group/ls"), ("POST", "/api/group/add-users"), ("GET", "/api/user/signed-user"),
     ("PUT", "/api/kv/put"), ("GET", "/api/kv/ls"), ("POST", "/api/blob/put"), ("GET", "/api/blob/ls"),
     ("GET", "/api/tag/get"), ("GET", "/api/tag/ls")],
)
def test_every_route_needs_a_session(sandbox: RunningSandbox, method: str, path: str) -> None:
    with httpx.Client(base_url=sandbox.url) as anonymous:
        assert "log in" in result(anonymous.request(method, path, json={"username": "x"}), 401)
        anonymous.cookies.set("X-Datatailr-Oidc-Data", "not-a-jwt")
        assert result(anonymous.request(method, path), 401) == "Invalid session token"


def test_user_add_defaults_and_sdk_quirks(admin: httpx.Client) -> None:
    result(admin.post("/api/group/add", json={"group_name": "analysts"}))
    carol = result(admin.post("/api/user/add", json={
        "first-name": "Carol", "last-name": "C", "email": "carol@x.io", "password": "pw1", "groups": "None",
        "json-enrichened": True, "username": "carol"}))
    assert carol == {"name": "carol", "user_id": 1001, "first_name": "Carol", "last_name": "C",
                     "email": "carol@x.io", "groups": "dtusers", "is_system": False, "disabled": False}
    svc = result(admin.post("/api/user/add", json={
        "first-name": "Svc", "last-name": "Bot", "email": "svc@x.io", "groups": "['dtusers', 'analysts']",
        "system": True, "json-enrichened": True, "username": "svc"}))
    assert (svc["user_id"], svc["groups"], svc["is_system"]) == (1002, "analysts,dtusers", True)
    plain = result(admin.post("/api/user/add", json={"username": "dave", "groups": "analysts"}))
    assert plain == "User dave added"
    assert _user(admin, "dave")["groups"] == "analysts"  # explicit groups replace the default
    assert result(admin.get("/api/user/exists", params={"username": "dave"})) is True
    assert result(admin.get("/api/user/exists", params={"username": "nobody"})) is False


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"username": "admin"}, 409, "already exists"),
        ({"username": "erin", "groups": "dtusers,nosuchgroup"}, 400, "nosuchgroup"),
        ({"username": "has space"}, 400, "Invalid username"),
        ({"username": "a:b"}, 400, "Invalid username"),
        ({"username": "svc2", "system": True, "password": "x"}, 400, "no password"),
        ({"username": "erin", "email": "not-an-email"}, 400, "email"),
        ({"username": "erin", "users-can-mimic": "ghost"}, 404, "ghost"),
        ({"first-name": "NoName"}, 400, "username"),
        ({"username": 7}, 400, "username"),
        (b'{"username": "x\\ud800"}', 400, "UTF-8"),  # a lone surrogate: valid JSON, unstorable
    ],
)
def test_user_add_rejects_bad_input(admin: httpx.Client, body: dict | bytes, status: int, fragment: str) -> None:
    before = result(admin.get("/api/user/ls"))
    if isinstance(body, bytes):
        response = admin.post("/api/user/add", content=body, headers={"content-type": "application/json"})
    else:
        response = admin.post("/api/user/add", json=body)
    assert fragment in result(response, status)
    assert result(admin.get("/api/user/ls")) == before


def test_only_admins_change_identities(admin: httpx.Client, make_user: UserFactory) -> None:
    bob = make_user("bob")
    result(admin.post("/api/group/add", json={"group_name": "ops"}))
    attempts = [
        ("POST", "/api/user/add", {"username": "mallory"}),
        ("PUT", "/api/user/modify", {"username": "bob", "groups": "admin"}),
        ("POST", "/api/user/disable", {"username": "admin"}),
        ("POST", "/api/user/add-to-group", {"username": "bob", "group_name": "admin"}),
        ("DELETE", "/api/user/rm", {"username": "admin"}),
        ("POST", "/api/group/add", {"group_name": "rogue"}),
        ("POST", "/api/group/add-users", {"group_name": "admin", "username": "bob"}),
        ("PUT", "/api/group/rename", {"group_name": "ops", "new_group_name": "ops2"}),
        ("DELETE", "/api/group/rm", {"group_name": "ops"}),
    ]
    users, groups = result(admin.get("/api/user/ls")), result(admin.get("/api/group/ls"))
    for method, path, body in attempts:
        assert "Permission denied" in result(bob.request(method, path, json=body), 403), path
    assert result(admin.get("/api/user/ls")) == users
    assert result(admin.get("/api/group/ls")) == groups
    # ... but reading is open to everyone signed in.
    assert _user(bob, "admin")["groups"] == "admin,dtusers"


def test_get_and_lookups_of_missing_things(admin: httpx.Client) -> None:
    assert "not found" in result(admin.get("/api/user/get", params={"username": "ghost"}), 404)
    assert "not found" in result(admin.get("/api/group/get", params={"group_name": "ghosts"}), 404)
    assert "username" in result(admin.get("/api/user/get"), 400)
    for method, path, body in [
        ("PUT", "/api/user/modify", {"username": "ghost", "first-name": "G"}),
        ("POST", "/api/user/enable", {"username": "ghost"}),
        ("POST", "/api/user/add-to-group", {"username": "ghost", "group_name": "dtusers"}),
        ("POST", "/api/user/add-to-group", {"username": "admin", "group_name": "ghosts"}),
        ("DELETE", "/api/user/rm", {"username": "ghost"}),
        ("POST", "/api/group/add-users", {"group_name": "dtusers", "username": "ghost"}),
        ("PUT", "/api/group/rename", {"group_name": "ghosts", "new_group_name": "g2"}),
        ("DELETE", "/api/group/rm", {"group_name": "ghosts"}),
    ]:
        assert "not found" in result(admin.request(method, path, json=body), 404), path


def test_signed_user(admin: httpx.Client, make_user: UserFactory) -> None:
    bob = make_user("bob")
    mine = result(bob.get("/api/user/signed-user"))
    assert mine["name"] == "bob" and mine["expiry"] and len(mine["signature"]) == 64
    assert result(admin.get("/api/user/signed-user", params={"username": "bob"}))["name"] == "bob"
    assert "Permission denied" in result(bob.get("/api/user/signed-user", params={"username": "admin"}), 403)
    assert "not found" in result(admin.get("/api/user/signed-user", params={"username": "ghost"}), 404)


def test_modify_user(admin: httpx.Client, make_user: UserFactory, sandbox: RunningSandbox) -> None:
    make_user("bob")
    result(admin.post("/api/group/add", json={"group_name": "analysts"}))
    assert result(admin.put("/api/user/modify", json={
        "username": "bob", "first-name": "Robert", "email": "rob@x.io", "groups": "analysts,dtusers",
        "password": "new-pass-2"})) == "User bob modified"
    bob = _user(admin, "bob")
    assert (bob["first_name"], bob["last_name"], bob["email"], bob["groups"]) == (
        "Robert", "Test", "rob@x.io", "analysts,dtusers")
    login(sandbox.url, "bob", "new-pass-2").close()
    with httpx.Client(base_url=sandbox.url) as c:
        assert c.post("/login", auth=("bob", "pw-bob-1")).status_code == 401
    assert "system users" in result(admin.put("/api/user/modify", json={"username": "bob", "name": "rob"}), 400)
    assert "nope" in result(admin.put("/api/user/modify", json={"username": "bob", "groups": "nope"}), 400)
    assert _user(admin, "bob")["groups"] == "analysts,dtusers"
    # System users may be renamed; their id stays.
    svc = result(admin.post("/api/user/add", json={"username": "svc", "system": True, "json-enrichened": True}))
    result(admin.put("/api/user/modify", json={"username": "svc", "name": "svc-renamed"}))
    assert _user(admin, "svc-renamed")["user_id"] == svc["user_id"]
    assert "regular users" in result(admin.put("/api/user/modify", json={"username": "svc-renamed", "email": "a@b.c"}), 400)
    assert "already exists" in result(admin.put("/api/user/modify", json={"username": "svc-renamed", "name": "bob"}), 409)
    # The sandbox administrator keeps its powers.
    assert "administrator" in result(admin.put("/api/user/modify", json={"username": "admin", "groups": "dtusers"}), 409)
    assert "built-in" in result(admin.put("/api/user/modify", json={"username": "root", "first-name": "R"}), 409)


def test_disable_enable(admin: httpx.Client, make_user: UserFactory, sandbox: RunningSandbox) -> None:
    bob = make_user("bob")
    assert result(admin.post("/api/user/disable", json={"username": "bob"})) == "User bob disabled"
    assert _user(admin, "bob")["disabled"] is True
    assert "disabled" in result(bob.get("/api/user/ls"), 401)  # the live session dies too
    with httpx.Client(base_url=sandbox.url) as c:
        assert c.post("/login", auth=("bob", "pw-bob-1")).status_code == 401
    result(admin.post("/api/user/enable", json={"username": "bob"}))
    assert _user(admin, "bob")["disabled"] is False
    assert result(bob.get("/api/user/exists", params={"username": "bob"})) is True
    assert "built-in" in result(admin.post("/api/user/disable", json={"username": sandbox.admin_user}), 409)


def test_membership_from_both_sides(admin: httpx.Client, make_user: UserFactory) -> None:
    make_user("alice")
    make_user("bob")
    team = result(admin.post("/api/group/add", json={"group_name": "teamx", "json-enrichened": True}))
    assert team == {"group_id": 103, "name": "teamx", "members": []}
    alice, bob = _user(admin, "alice")["user_id"], _user(admin, "bob")["user_id"]
    result(admin.post("/api/group/add-users", json={"group_name": "teamx", "username": "alice,bob"}))
    result(admin.post("/api/group/add-users", json={"group_name": "teamx", "username": "alice"}))  # idempotent
    assert _group(admin, "teamx")["members"] == [alice, bob]
    assert _user(admin, "bob")["groups"] == "dtusers,teamx"
    result(admin.request("DELETE", "/api/group/rm-users", json={"group_name": "teamx", "username": "bob"}))
    assert _group(admin, "teamx")["members"] == [alice]
    result(admin.post("/api/user/add-to-group", json={"username": "bob", "group_name": "teamx"}))
    result(admin.post("/api/user/rm-from-group", json={"username": "alice", "group_name": "teamx"}))
    assert _group(admin, "teamx")["members"] == [bob]
    assert _user(admin, "alice")["groups"] == "dtusers"
    # An unknown name anywhere in the list fails the whole call.
    assert "ghost" in result(admin.post("/api/group/add-users", json={"group_name": "teamx", "username": "alice,ghost"}), 404)
    assert _group(admin, "teamx")["members"] == [bob]
    assert "No usernames" in result(admin.post("/api/group/add-users", json={"group_name": "teamx", "username": ""}), 400)
    assert "administrator" in result(
        admin.request("DELETE", "/api/group/rm-users", json={"group_name": "admin", "username": "admin"}), 409)
    assert "administrator" in result(admin.post("/api/user/rm-from-group", json={"username": "admin", "group_name": "admin"}), 409)


def test_group_rename_and_remove(admin: httpx.Client, make_user: UserFactory) -> None:
    make_user("alice", groups="dtusers")
    team = result(admin.post("/api/group/add", json={"group_name": "teamx", "json-enrichened": True}))
    result(admin.post("/api/group/add", json={"group_name": "other"}))
    assert "already exists" in result(admin.post("/api/group/add", json={"group_name": "teamx"}), 409)
    assert "Invalid group name" in result(admin.post("/api/group/add", json={"group_name": "a,b"}), 400)
    result(admin.post("/api/group/add-users", json={"group_name": "teamx", "username": "alice"}))
    assert result(admin.put("/api/group/rename", json={"group_name": "teamx", "new_group_name": "teamy"})) \
        == "Group teamx renamed to teamy"
    renamed = _group(admin, "teamy")
    assert (renamed["group_id"], len(renamed["members"])) == (team["group_id"], 1)
    assert result(admin.get("/api/group/exists", params={"group_name": "teamx"})) is False
    assert "already exists" in result(admin.put("/api/group/rename", json={"group_name": "teamy", "new_group_name": "other"}), 409)
    for builtin in ("dtusers", "admin", "node_admin"):
        assert "built-in" in result(admin.put("/api/group/rename", json={"group_name": builtin, "new_group_name": "z"}), 409)
        assert "built-in" in result(admin.request("DELETE", "/api/group/rm", json={"group_name": builtin}), 409)
    # Removing a group takes its memberships and its ACL entries with it.
    result(admin.put("/api/kv/put", json={"key": "k", "value": "v", "groups": "teamy:r"}))
    assert -team["group_id"] in result(admin.get("/api/kv/acls", params={"key": "k"}))["read"]
    result(admin.request("DELETE", "/api/group/rm", json={"group_name": "teamy"}))
    assert result(admin.get("/api/group/exists", params={"group_name": "teamy"})) is False
    assert _user(admin, "alice")["groups"] == "dtusers"
    assert -team["group_id"] not in result(admin.get("/api/kv/acls", params={"key": "k"}))["read"]


def test_user_rm_cleans_up_and_ids_are_never_reused(admin: httpx.Client, make_user: UserFactory) -> None:
    make_user("bob")
    bob_id = _user(admin, "bob")["user_id"]
    result(admin.post("/api/group/add", json={"group_name": "teamx"}))
    result(admin.post("/api/group/add-users", json={"group_name": "teamx", "username": "bob"}))
    result(admin.put("/api/kv/put", json={"key": "k", "value": "v", "users": "bob:rw"}))
    assert result(admin.request("DELETE", "/api/user/rm", json={"username": "bob"})) == "User bob removed"
    assert result(admin.get("/api/user/exists", params={"username": "bob"})) is False
    assert _group(admin, "teamx")["members"] == []
    acl = result(admin.get("/api/kv/acls", params={"key": "k"}))
    assert all(bob_id not in ids for ids in acl.values())
    again = result(admin.post("/api/user/add", json={"username": "bob", "json-enrichened": True}))
    assert again["user_id"] > bob_id
    result(admin.request("DELETE", "/api/group/rm", json={"group_name": "teamx"}))
    new_group = result(admin.post("/api/group/add", json={"group_name": "teamx", "json-enrichened": True}))
    assert new_group["group_id"] == 104
    for name in ("admin", "root"):
        assert "built-in" in result(admin.request("DELETE", "/api/user/rm", json={"username": name}), 409)


def test_change_password_is_self_service(make_user: UserFactory, sandbox: RunningSandbox) -> None:
    bob = make_user("bob")
    wrong = {"current_password": "nope", "new_password": "x2"}
    assert "wrong" in result(bob.put("/api/user/change-password", json=wrong), 400)
    result(bob.put("/api/user/change-password", json={"current_password": "pw-bob-1", "new_password": "pw-bob-2"}))
    login(sandbox.url, "bob", "pw-bob-2").close()


def test_user_and_group_listing_filter_sort_page(admin: httpx.Client) -> None:
    for i in range(5):
        result(admin.post("/api/user/add", json={"username": f"u{i}", "email": f"u{i}@corp.io", "system": i == 4}))
    ls = lambda **p: result(admin.get("/api/user/ls", params={"json": "True", **p}))  # noqa: E731
    assert [u["user_id"] for u in ls(filter="user_id = [1001, 1003]")] == [1001, 1003]
    assert [u["name"] for u in ls(filter="user_id = 1002")] == ["u1"]
    assert [u["name"] for u in ls(filter="is_system = false and name starts_with u")] == ["u0", "u1", "u2", "u3"]
    assert [u["name"] for u in ls(filter="email ends_with @corp.io or name = root", sort="-user_id")] == [
        "u4", "u3", "u2", "u1", "u0", "root"]
    assert [u["name"] for u in ls(sort="-user_id", offset="1", **{"batch-size": "2"})] == ["u3", "u2"]
    assert [u["name"] for u in ls(filter="not (name starts_with u)")] == ["root", "admin"]
    assert "unknown field" in result(admin.get("/api/user/ls", params={"filter": "password = x"}), 400)
    assert "Invalid filter" in result(admin.get("/api/user/ls", params={"filter": "name = ("}), 400)
    assert "Invalid sort" in result(admin.get("/api/user/ls", params={"sort": "-password"}), 400)
    deep = "(" * 500 + "name = root" + ")" * 500
    assert "nested more than" in result(admin.get("/api/user/ls", params={"filter": deep}), 400)
    assert "batch-size" in result(admin.get("/api/user/ls", params={"batch-size": "lots"}), 400)
    groups = result(admin.get("/api/group/ls", params={"filter": "group_id = [100, 102]", "sort": "-name"}))
    assert [g["name"] for g in groups] == ["node_admin", "dtusers"]
