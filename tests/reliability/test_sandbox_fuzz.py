"""Issue 11: at least 2,000 generated requests against the Datatailr sandbox, valid and broken
mixed, over a small pool of names so that they collide (renames onto existing names, deletes
of what another request just used, ACLs naming principals that come and go), give zero 5xx;
afterwards the database is consistent, at the SQL level and at the platform's own level.

The generator is a seeded `random.Random`, not hypothesis: this is a long stateful sequence
whose value is in its length, and a failure prints the request that caused it."""

from __future__ import annotations

import json
import os
import random
import sqlite3

import pytest
from platforge.provider._kit.client import PlatformError, RetryPolicy

pytestmark = pytest.mark.fuzz

REQUESTS = int(os.environ.get("PLATFORGE_SANDBOX_FUZZ_REQUESTS", "2400"))
USERS = [f"u{n}" for n in range(12)] + ["admin", "nobody", "u 1", "ü", ""]
GROUPS = [f"g{n}" for n in range(6)] + ["admin", "dtusers", "g 0", ""]
KEYS = [f"k{n}" for n in range(10)] + ["a/b", "k'0", "", "x" * 300]
ENVS = ["dev", "pre", "prod", "staging", None, "None"]
JUNK = [None, 0, -1, 2**70, 1.5, True, [], ["a"], {}, {"a": 1}, "None", "['a', 'b']", "\x00", "é" * 50]


def maybe(rng: random.Random, value):
    return value if rng.random() > 0.08 else rng.choice(JUNK)


def acl_spec(rng: random.Random, names: list[str]) -> str:
    parts = [f"{rng.choice(names)}:{rng.choice(['r', 'rw', 'rwx', 'w', 'q', ''])}" for _ in range(rng.randint(0, 3))]
    return ",".join(parts)


def operation(rng: random.Random) -> tuple[str, str, dict]:
    user, group, key = rng.choice(USERS), rng.choice(GROUPS), rng.choice(KEYS)
    env = rng.choice(ENVS)
    choices = [
        ("POST", "user/add", {"username": user, "first-name": "F", "email": f"{user}@example.com",
                              "groups": ",".join(rng.sample(GROUPS, rng.randint(0, 2))), "password": "pw-" + user}),
        ("PUT", "user/modify", {"username": user, "email": rng.choice([f"{user}@example.org", "bad"]),
                                **({"name": rng.choice(USERS)} if rng.random() < 0.2 else {})}),
        ("DELETE", "user/rm", {"username": user}),
        ("POST", "user/add-to-group", {"username": user, "group_name": group}),
        ("POST", "user/rm-from-group", {"username": user, "group_name": group}),
        ("POST", "user/disable", {"username": user}),
        ("POST", "user/enable", {"username": user}),
        ("POST", "group/add", {"group_name": group}),
        ("DELETE", "group/rm", {"group_name": group}),
        ("PUT", "group/rename", {"group_name": group, "new_group_name": rng.choice(GROUPS)}),
        ("POST", "group/add-users", {"group_name": group, "users": ",".join(rng.sample(USERS, 2))}),
        ("DELETE", "group/rm-users", {"group_name": group, "users": ",".join(rng.sample(USERS, 2))}),
        ("PUT", "kv/put", {"key": key, "value": rng.choice(["v", "", "x" * 1000]), "environment": env,
                           "secure": rng.random() < 0.3, "users": acl_spec(rng, USERS), "groups": acl_spec(rng, GROUPS)}),
        ("POST", "kv/set-acls", {"key": key, "environment": env, "users": acl_spec(rng, USERS),
                                 "groups": acl_spec(rng, GROUPS), "others": rng.choice(["", "r", "z"])}),
        ("POST", "kv/add-acls", {"key": key, "environment": env, "groups": acl_spec(rng, GROUPS)}),
        ("DELETE", "kv/rm", {"key": key, "environment": env, "secure": rng.random() < 0.3}),
        ("POST", "tag/set", {"tag": rng.choice(["t", "", "t t"]), "value": "v"}),
        ("DELETE", "tag/rm", {"tag": rng.choice(["t", "x"])}),
        ("GET", "user/get", {"username": user}),
        ("GET", "group/get", {"group_name": group}),
        ("GET", "kv/get", {"key": key, "environment": env}),
        ("GET", "kv/acls", {"key": key, "environment": env}),
        ("GET", "kv/ls", {"json": "True", "batch-size": rng.choice(["1", "7", "100", "0", "-1", "x"]),
                          "offset": rng.choice(["0", "3", "99999", "-5"]),
                          "filter": rng.choice(["", "key=k1", "key~k", "bogus==", "environment=dev"])}),
        ("GET", "user/ls", {"json": "True", "filter": rng.choice(["", "name=u1", "groups~g", "(("])}),
        ("GET", "group/ls", {"json": "True"}),
    ]
    # Creations weigh more, so that the pool fills up and later requests meet existing objects.
    method, command, args = rng.choice(choices + [choices[0], choices[7], choices[7], choices[12]])
    args = {k: maybe(rng, v) for k, v in args.items() if v is not None}
    return method, command, args


def test_thousands_of_generated_requests_give_no_5xx_and_leave_a_consistent_database(sandbox):
    from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin

    rng = random.Random(20261130)
    client = DatatailrClient(sandbox.url, PasswordLogin(sandbox.admin_user, sandbox.admin_password),
                             retry=RetryPolicy.never())
    client.login()
    statuses: dict[str, int] = {}
    for n in range(REQUESTS):
        method, command, args = operation(rng)
        try:
            # Raw, not through the client's wire encoder, which refuses much of the junk.
            if method == "GET":
                client.transport.request(method, f"/api/{command}", params={k: json.dumps(v) if not isinstance(v, str)
                                                                           else v for k, v in args.items()})
            else:
                client.transport.request(method, f"/api/{command}", json=args)
            status = "2xx"
        except PlatformError as exc:
            status = str(exc.status)
            assert exc.status is not None and exc.status < 500, f"request {n}: {method} {command} {args!r} -> {exc}"
        statuses[status] = statuses.get(status, 0) + 1
    sent = client.transport.stats.requests
    client.close()
    assert sent >= REQUESTS >= 2000
    assert statuses.get("2xx", 0) > REQUESTS // 8 and statuses.get("409", 0) > 20, statuses  # the sequence really changes the platform
    print(json.dumps({"requests": sent, "statuses": statuses}))

    db = sqlite3.connect(sandbox.db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        dangling = db.execute(
            "SELECT resource, principal FROM acl_entries a WHERE "
            "(principal > 0 AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = a.principal)) OR "
            "(principal < 0 AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.group_id = -a.principal))").fetchall()
        assert dangling == [], "ACL entries naming principals that no longer exist"
        orphan_memberships = db.execute(
            "SELECT group_id, user_id FROM memberships m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = m.user_id) "
            "OR NOT EXISTS (SELECT 1 FROM groups g WHERE g.group_id = m.group_id)").fetchall()
        assert orphan_memberships == []
        users = {row[0] for row in db.execute("SELECT name FROM users")}
        groups = {row[0] for row in db.execute("SELECT name FROM groups")}
        kv_rows = dict(db.execute("SELECT environment, COUNT(*) FROM kv_entries WHERE secure = 0 GROUP BY environment"))
    finally:
        db.close()

    check = DatatailrClient(sandbox.url, PasswordLogin(sandbox.admin_user, sandbox.admin_password))
    check.login()
    try:
        assert {u.name for u in check.users.ls()} == users, "the API and the database disagree on users"
        assert {g.name for g in check.groups.ls()} == groups, "the API and the database disagree on groups"
        listed = {env: check.call("GET", "kv/ls", {"json": "True", "environment": env})["total"]
                  for env in ("dev", "pre", "prod")}
        assert {env: n for env, n in listed.items() if n} == kv_rows, "the API and the database disagree on KV entries"
    finally:
        check.close()
