"""The vendor SDK (`datatailr==0.2.3`) against the sandbox: users, groups, KV, secrets, blobs.

Each test batches several SDK calls into one snippet (every SDK call is a `dt` subprocess) and
checks every result, plus the server state through the raw API where the SDK cannot see it.
"""

from __future__ import annotations

import pytest

from tests.datatailr.sdk.harness import SdkEnv

pytestmark = pytest.mark.sdk


def test_users_add_ls_get_exists_remove(sdk_env: SdkEnv) -> None:
    with sdk_env.api() as api:
        assert api.post("/api/group/add", json={"group_name": "analysts"}).status_code == 200
    out = sdk_env.run(
        """
        from datatailr import User

        def d(u):
            return {"name": u.name, "id": u.user_id, "first": u.first_name, "last": u.last_name,
                    "email": u.email, "groups": sorted(u.groups), "system": u.is_system_user}

        carol = User.add("carol", "Carol", "Cole", "carol@x.io", "pw-carol-1")
        svc = User.add("svc", "Svc", "Bot", "svc@x.io", None, groups=["dtusers", "analysts"], is_system_user=True)
        listed = {u.name: d(u) for u in User.ls()}
        by_id = User.get(carol.user_id)
        try:
            User("zed")
            missing = None
        except RuntimeError as exc:
            missing = str(exc)
        exists_before = [User.exists("carol"), User.exists("zed")]
        User.remove("carol")
        emit({"carol": d(carol), "svc": d(svc), "listed": listed, "by_id": d(by_id),
              "get": d(User.get("svc")), "missing": missing, "exists_before": exists_before,
              "exists_after": User.exists("carol")})
        """
    )
    carol = out["carol"]
    assert carol == {"name": "carol", "id": carol["id"], "first": "Carol", "last": "Cole",
                     "email": "carol@x.io", "groups": ["dtusers"], "system": False}
    assert carol["id"] >= 1001
    assert out["svc"]["groups"] == ["analysts", "dtusers"]
    assert out["svc"]["system"] is True
    assert out["listed"]["carol"] == carol
    assert out["listed"][sdk_env.username]["groups"] == ["admin", "dtusers"]
    assert out["by_id"] == carol
    assert out["get"] == out["svc"]
    assert "not found" in out["missing"]
    assert out["exists_before"] == [True, False]
    assert out["exists_after"] is False
    # `User.ls()` is cached per process by the SDK, so the after-state is read from the API.
    with sdk_env.api() as api:
        names = [u["name"] for u in api.get("/api/user/ls").json()["result"]]
    assert "carol" not in names and "svc" in names


def test_groups_add_members_ls_get_remove(sdk_env: SdkEnv) -> None:
    sdk_env.add_user("alice", "pw-alice-1")
    sdk_env.add_user("bob", "pw-bob-1")
    out = sdk_env.run(
        """
        from datatailr import Group, User

        g = Group.add("teamx")
        created = {"name": g.name, "id": g.group_id, "members": g.members}
        g.add_users(["alice", "bob"])
        after_add = sorted(g.members)
        g.remove_users(["bob"])
        after_rm = sorted(g.members)
        ids = {"alice": User.get("alice").user_id, "bob": User.get("bob").user_id}
        listed = {x.name: {"id": x.group_id, "members": sorted(x.members)} for x in Group.ls()}
        by_id = Group.get(g.group_id)
        fetched = Group.get("teamx")
        member = [fetched.is_member(User.get("alice")), fetched.is_member(User.get("bob"))]
        exists_before = Group.exists("teamx")
        Group.remove("teamx")
        emit({"created": created, "after_add": after_add, "after_rm": after_rm, "ids": ids,
              "listed": listed, "by_id": [by_id.name, sorted(by_id.members)], "member": member,
              "exists": [exists_before, Group.exists("teamx")]})
        """
    )
    alice, bob = out["ids"]["alice"], out["ids"]["bob"]
    assert out["created"]["name"] == "teamx" and out["created"]["members"] == []
    assert out["created"]["id"] >= 100
    assert out["after_add"] == sorted([alice, bob])
    assert out["after_rm"] == [alice]
    assert out["listed"]["teamx"] == {"id": out["created"]["id"], "members": [alice]}
    assert {"dtusers", "admin", "node_admin"} <= set(out["listed"])
    assert out["by_id"] == ["teamx", [alice]]
    assert out["member"] == [True, False]
    assert out["exists"] == [True, False]
    with sdk_env.api() as api:  # `Group.ls()` is cached per process by the SDK
        names = [g["name"] for g in api.get("/api/group/ls").json()["result"]]
    assert "teamx" not in names


def test_kv_put_get_ls_acls_set_acls_delete(sdk_env: SdkEnv) -> None:
    sdk_env.add_user("alice", "pw-alice-1")
    with sdk_env.api() as api:
        assert api.post("/api/group/add", json={"group_name": "analysts"}).status_code == 200
    out = sdk_env.run(
        """
        from datatailr import ACL, KV, Group, Permission, User

        kv = KV()
        alice, analysts, me = User.get("alice"), Group.get("analysts"), User.signed_user()
        kv.put("db_url", "postgres://h/db")
        kv.put("greeting", "hello world", ACL({Permission.READ: [alice, analysts], Permission.WRITE: [alice]}))
        kv.put("count", "123")
        values = [kv.get("db_url"), kv.get("greeting"), kv.get("count")]
        listed = {r["key"]: r["acl"].to_dict() for r in kv.ls()}
        before = kv.acls("db_url").to_dict()
        kv.set_acls("db_url", ACL({Permission.READ: [analysts], Permission.WRITE: [alice]}))
        after_set = kv.acls("db_url").to_dict()
        kv.add_acl("db_url", ACL({Permission.READ: [alice]}))
        after_add = kv.acls("db_url").to_dict()
        kv.put("db_url", "postgres://h/db2")
        updated = kv.get("db_url")
        kv.delete("db_url")
        try:
            kv.get("db_url")
            gone = None
        except RuntimeError as exc:
            gone = str(exc)
        emit({"values": values, "listed": listed, "before": before, "after_set": after_set,
              "after_add": after_add, "updated": updated, "gone": gone,
              "keys": sorted(r["key"] for r in kv.ls()),
              "ids": {"alice": alice.user_id, "analysts": analysts.group_id, "me": me.user_id}})
        """
    )
    alice, analysts, me = out["ids"]["alice"], out["ids"]["analysts"], out["ids"]["me"]
    # The SDK json-decodes what `kv get` prints: "123" comes back as an int (contract §7.2.3).
    assert out["values"] == ["postgres://h/db", "hello world", 123]
    everything = {p: [me] for p in ("read", "write", "operate", "access", "promote")}
    assert out["listed"]["db_url"] == everything
    assert out["listed"]["greeting"] == {**everything, "read": sorted([-analysts, me, alice]),
                                         "write": sorted([me, alice])}
    assert out["before"] == everything
    assert out["after_set"] == {"read": [-analysts], "write": [alice]}
    assert out["after_add"] == {"read": sorted([-analysts, alice]), "write": [alice]}
    assert out["updated"] == "postgres://h/db2"
    assert "not" in out["gone"].lower() and "db_url" in out["gone"]
    assert out["keys"] == ["count", "greeting"]
    with sdk_env.api() as api:
        raw = api.get("/api/kv/get", params={"key": "greeting"}).json()["result"]
    assert raw == '"hello world"'  # stored exactly as the SDK sent it, quotes included


def test_secrets_ls_and_get(sdk_env: SdkEnv) -> None:
    with sdk_env.api() as api:
        for body in (
            {"key": "db_password", "value": "s3cr3t", "secure": True},
            {"key": "build/token", "value": "tok-42", "secure": True},
            {"key": "db_password", "value": "not-the-secret"},
        ):
            assert api.put("/api/kv/put", json=body).status_code == 200
    out = sdk_env.run(
        """
        from datatailr import KV, Secrets

        s = Secrets()
        items = s.ls()
        emit({"get": [s.get("db_password"), s.get("build/token")],
              "items": [{k: v for k, v in r.items() if k != "acl"} for r in items],
              "acl_users": [sorted(u.name for u in r["acl"].permissions[next(iter(r["acl"].permissions))]) for r in items],
              "plain": KV().get("db_password"),
              "plain_keys": [r["key"] for r in KV().ls()]})
        """
    )
    assert out["get"] == ["s3cr3t", "tok-42"]
    assert [i["key"] for i in out["items"]] == ["build/token", "db_password"]
    assert all("value" not in item for item in out["items"])
    assert out["acl_users"] == [[sdk_env.username], [sdk_env.username]]
    assert out["plain"] == "not-the-secret"
    assert out["plain_keys"] == ["db_password"]


def test_blob_put_get_ls_acls_delete(sdk_env: SdkEnv) -> None:
    sdk_env.add_user("alice", "pw-alice-1")
    out = sdk_env.run(
        """
        import base64
        from datatailr import ACL, Blob, Permission, User

        b = Blob()
        b.put("mybucket/hello.bin", b"hello world")
        b.put("mybucket/sub/deep.txt", "deep text")
        b.put("other/x.txt", "x")
        content = b.get("mybucket/hello.bin")
        listed = b.ls("mybucket/")
        recursive = b.ls("mybucket/", recursive=True)
        b.set_acls("mybucket/hello.bin", ACL({Permission.READ: [User.get("alice")]}))
        acl = b.acls("mybucket/hello.bin").to_dict()
        exists = [b.exists("mybucket/hello.bin"), b.exists("mybucket/nope.bin")]
        b.delete("mybucket/hello.bin")
        emit({"content": base64.b64encode(content).decode(), "listed": listed, "recursive": recursive,
              "acl": acl, "alice": User.get("alice").user_id, "exists": exists,
              "exists_after": b.exists("mybucket/hello.bin"),
              "after": [e["name"] for e in b.ls("mybucket/", recursive=True)]})
        """
    )
    assert out["content"] == "aGVsbG8gd29ybGQ="  # b"hello world"
    assert [(e["name"], e["size"], e["is_file"]) for e in out["listed"]] == [
        ("mybucket/hello.bin", 11, True), ("mybucket/sub/", 0, False),
    ]
    assert all(isinstance(e["last_modified"], int) and e["last_modified"] > 0 for e in out["listed"])
    assert [(e["name"], e["size"]) for e in out["recursive"]] == [
        ("mybucket/hello.bin", 11), ("mybucket/sub/deep.txt", 9),
    ]
    assert out["acl"] == {"read": [out["alice"]]}  # set-acl replaced the creator's default ACL
    assert out["exists"] == [True, False]
    assert out["exists_after"] is False
    assert out["after"] == ["mybucket/sub/deep.txt"]


def test_non_admin_is_held_to_kv_acls(sdk_env: SdkEnv) -> None:
    sdk_env.add_user("bob", "pw-bob-1")
    sdk_env.run('from datatailr import KV\nKV().put("shared/conf", "v1")\nemit(True)')
    bob = sdk_env.as_user("bob", "pw-bob-1")
    denied = bob.run(
        """
        from datatailr import KV
        kv, errors = KV(), []
        for call in (lambda: kv.get("shared/conf"), lambda: kv.put("shared/conf", "hacked"),
                     lambda: kv.delete("shared/conf")):
            try:
                call()
                errors.append(None)
            except RuntimeError as exc:
                errors.append(str(exc))
        kv.put("bob/own", "mine")
        emit({"errors": errors, "keys": [r["key"] for r in kv.ls()], "own": kv.get("bob/own")})
        """
    )
    assert all(e is not None and "Permission denied" in e for e in denied["errors"])
    assert denied["keys"] == ["bob/own"]
    assert denied["own"] == "mine"
    sdk_env.run(
        """
        from datatailr import ACL, KV, Permission, User
        KV().add_acl("shared/conf", ACL({Permission.READ: [User.get("bob")]}))
        emit(KV().get("shared/conf"))
        """
    )
    assert bob.run('from datatailr import KV\nemit(KV().get("shared/conf"))') == "v1"
