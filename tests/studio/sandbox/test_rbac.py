"""Access groups, members and rules: the CRUD the provider's v1 kinds rest on (contract §1.1-1.3,
§4), with the statuses the seed documents (201 create, 204 delete) and the choices of §5."""

from __future__ import annotations

import httpx

from tests.studio.sandbox.conftest import TEAM, Studio, error, ok

GROUPS = "/datachain/rbac/access-groups/"
RULES = "/datachain/rbac/access-rules/"


def test_group_lifecycle_create_list_rename_delete(admin: httpx.Client):
    made = ok(admin.post(GROUPS, json={"name": "production-team", "description": ""}), 201)
    assert set(made) == {"id", "name", "description", "member_count", "created_at"}
    assert made["name"] == "production-team" and made["member_count"] == 0 and made["created_at"].endswith("Z")
    assert ok(admin.get(GROUPS)) == [made]
    renamed = ok(admin.patch(f"{GROUPS}{made['id']}/", json={"name": "prod", "description": "ops"}))
    assert renamed == {**made, "name": "prod", "description": "ops"}
    only_description = ok(admin.patch(f"{GROUPS}{made['id']}/", json={"description": "changed"}))
    assert only_description["name"] == "prod" and only_description["description"] == "changed"
    response = admin.delete(f"{GROUPS}{made['id']}/")
    assert response.status_code == 204 and response.content == b""
    assert ok(admin.get(GROUPS)) == []
    error(admin.delete(f"{GROUPS}{made['id']}/"), 404)
    error(admin.patch(f"{GROUPS}{made['id']}/", json={"name": "x"}), 404)


def test_group_names_are_unique_per_team(studio: Studio, admin: httpx.Client):
    first = ok(admin.post(GROUPS, json={"name": "a"}), 201)
    ok(admin.post(GROUPS, json={"name": "b"}), 201)
    assert "already exists" in error(admin.post(GROUPS, json={"name": "a"}), 409)["message"]
    error(admin.patch(f"{GROUPS}{first['id']}/", json={"name": "b"}), 409)
    ok(admin.patch(f"{GROUPS}{first['id']}/", json={"name": "a"}))  # its own name again is fine
    studio.team_named("other")
    ok(admin.post(GROUPS + "?team_name=other", json={"name": "a"}), 201)  # another team may reuse it


def test_group_input_is_checked(admin: httpx.Client):
    for body in ({}, {"name": ""}, {"name": " padded "}, {"name": 5}, {"name": "x" * 300}, {"name": "ok", "description": 3}):
        error(admin.post(GROUPS, json=body), 400)
    for raw in (b"[1,2]", b"not json", b'"text"', b'{"name": "\\ud800"}', b'{"name": "a\\u0000b"}'):
        error(admin.post(GROUPS, content=raw, headers={"content-type": "application/json"}), 400)
    assert ok(admin.get(GROUPS)) == []


def test_members_add_list_change_role_remove(studio: Studio, admin: httpx.Client):
    group = ok(admin.post(GROUPS, json={"name": "g"}), 201)
    alice, _ = studio.user("alice")
    base = f"{GROUPS}{group['id']}/members/"
    member = ok(admin.post(base, json={"user_id": alice, "role": "write"}), 201)
    assert member == {"user_id": alice, "username": "alice", "email": "alice@sandbox.local", "role": "write"}
    assert ok(admin.get(GROUPS))[0]["member_count"] == 1
    assert ok(admin.get(base)) == [member]
    assert ok(admin.patch(f"{base}{alice}/", json={"role": "admin"}))["role"] == "admin"
    error(admin.post(base, json={"user_id": alice, "role": "read"}), 409)
    error(admin.patch(f"{base}{alice}/", json={"role": "owner"}), 400)
    response = admin.delete(f"{base}{alice}/")
    assert response.status_code == 204
    assert ok(admin.get(base)) == [] and ok(admin.get(GROUPS))[0]["member_count"] == 0
    error(admin.delete(f"{base}{alice}/"), 404)


def test_a_member_must_belong_to_the_team(studio: Studio, admin: httpx.Client):
    group = ok(admin.post(GROUPS, json={"name": "g"}), 201)
    studio.team_named("other")
    outsider, _ = studio.user("outsider", teams=("other",))
    base = f"{GROUPS}{group['id']}/members/"
    assert "not a member of team" in error(admin.post(base, json={"user_id": outsider}), 400)["message"]
    for bad in ({"user_id": "1"}, {"user_id": -1}, {"user_id": 2**70}, {}, {"user_id": True}):
        error(admin.post(base, json=bad), 400)
    for path in (f"{base}abc/", f"{base}-1/", f"{base}{2**70}/"):
        error(admin.patch(path, json={"role": "read"}), 400)


def test_rule_for_a_group_and_for_a_user(studio: Studio, admin: httpx.Client):
    group = ok(admin.post(GROUPS, json={"name": "production-team"}), 201)
    bob, _ = studio.user("bob")
    for_group = ok(admin.post(RULES, json={"resource_type": "namespace", "resource_id": "dev", "permission": "write",
                                           "group_id": group["id"]}), 201)
    assert set(for_group) == {"id", "resource_type", "resource_uuid", "resource_id", "resource_name", "permission",
                              "user_id", "user_email", "group_id", "group_name"}
    assert isinstance(for_group["resource_id"], int) and for_group["resource_name"] == "dev"
    assert for_group["group_name"] == "production-team" and for_group["user_id"] is None
    # The same resource, named again by its integer id, its UUID or its name (contract §5 #4).
    carol, _ = studio.user("carol")
    by_id = ok(admin.post(RULES, json={"resource_type": "namespace", "resource_id": str(for_group["resource_id"]),
                                       "permission": "read", "user_id": bob}), 201)
    by_uuid = ok(admin.post(RULES, json={"resource_type": "namespace", "resource_id": for_group["resource_uuid"],
                                         "permission": "read", "user_id": carol}), 201)
    assert by_id["resource_id"] == by_uuid["resource_id"] == for_group["resource_id"]
    assert by_id["user_email"] == "bob@sandbox.local" and by_id["group_id"] is None
    error(admin.post(RULES, json={"resource_type": "namespace", "resource_id": "dev", "permission": "admin",
                                  "user_id": bob}), 409)
    other = ok(admin.post(RULES, json={"resource_type": "project", "resource_id": "dev", "permission": "read",
                                       "user_id": bob}), 201)
    assert other["resource_id"] != for_group["resource_id"]  # a project named dev is another resource
    changed = ok(admin.patch(f"{RULES}{for_group['id']}/", json={"permission": "admin", "resource_type": "dataset"}))
    assert changed == {**for_group, "permission": "admin"}  # only the permission changes in place
    assert [r["id"] for r in ok(admin.get(RULES))] == [for_group["id"], by_id["id"], by_uuid["id"], other["id"]]
    assert admin.delete(f"{RULES}{for_group['id']}/").status_code == 204
    assert [r["id"] for r in ok(admin.get(RULES))] == [by_id["id"], by_uuid["id"], other["id"]]


def test_rule_input_is_checked(studio: Studio, admin: httpx.Client):
    base = {"resource_type": "namespace", "resource_id": "dev", "permission": "write"}
    assert "user_id or group_id" in error(admin.post(RULES, json=base), 400)["message"]
    error(admin.post(RULES, json={**base, "group_id": "no-such-group"}), 400)
    error(admin.post(RULES, json={**base, "user_id": 999}), 400)
    error(admin.post(RULES, json={**base, "resource_type": "planet", "user_id": 1}), 400)
    error(admin.post(RULES, json={**base, "permission": "owner", "user_id": 1}), 400)
    error(admin.patch(f"{RULES}nope/", json={"permission": "read"}), 404)
    assert ok(admin.get(RULES)) == []


def test_deleting_a_group_deletes_its_rules(admin: httpx.Client):
    group = ok(admin.post(GROUPS, json={"name": "g"}), 201)
    ok(admin.post(RULES, json={"resource_type": "project", "resource_id": "p", "permission": "read",
                               "group_id": group["id"]}), 201)
    assert admin.delete(f"{GROUPS}{group['id']}/").status_code == 204
    assert ok(admin.get(RULES)) == []


def test_only_team_admins_change_access_but_members_read_it(studio: Studio, admin: httpx.Client):
    group = ok(admin.post(GROUPS, json={"name": "g"}), 201)
    _, member = studio.user("mallory")
    assert ok(member.get(GROUPS)) == [group]
    assert "Only admins" in error(member.post(GROUPS, json={"name": "mine"}), 403)["message"]
    error(member.patch(f"{GROUPS}{group['id']}/", json={"name": "x"}), 403)
    error(member.delete(f"{GROUPS}{group['id']}/"), 403)
    error(member.post(RULES, json={"resource_type": "namespace", "resource_id": "d", "permission": "admin",
                                   "group_id": group["id"]}), 403)
    _, team_admin = studio.user("ada", role="admin")
    ok(team_admin.post(GROUPS, json={"name": "ada's"}), 201)
    assert [g["name"] for g in ok(admin.get(GROUPS))] == ["g", "ada's"]


def test_rbac_without_team_name_uses_the_tokens_team_and_with_it_that_team(studio: Studio, admin: httpx.Client):
    studio.team_named("other")
    ok(admin.post(GROUPS, json={"name": "in-default"}), 201)
    ok(admin.post(GROUPS, json={"name": "in-other", "team_name": "other"}), 201)
    assert [g["name"] for g in ok(admin.get(GROUPS))] == ["in-default"]
    assert [g["name"] for g in ok(admin.get(GROUPS, params={"team_name": TEAM}))] == ["in-default"]
    assert [g["name"] for g in ok(admin.get(GROUPS, params={"team_name": "other"}))] == ["in-other"]
