"""Per-object reads cost the same however many objects there are, and listing pages cost the page.

Nothing here is timed (timing is `bench/sandbox_scaling.py`'s). The store's `watch` records every
statement a request runs and the SQLite virtual-machine instructions each spends: exact,
repeatable counts. So the tests check that a per-object read does not do more work once a
thousand more objects of every kind exist, that its statements search indexes and never scan a
table, and that a listing page's queries read the page and not the table. Then that the pages
served in SQL are byte for byte the pages the Python listing serves, for an administrator and
for a user who may read only some objects, across filters, sorts and page boundaries.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from platforge.provider._kit.sandbox.listing import sql_prefix
from platforge.provider._kit.sandbox.store import Store, Watch
from platforge.provider.datatailr.sandbox import kv as kv_module
from platforge.provider.datatailr.sandbox import users as users_module
from platforge.provider.datatailr.sandbox.jobs import routes as job_routes
from platforge.provider.datatailr.sandbox.jobs import versions as job_versions
from platforge.provider.datatailr.sandbox.jobs.definition import job_id, normalize_name

from tests.conftest import RunningSandbox
from tests.datatailr.sandbox.conftest import result, signed_in

PERMS = ("read", "write", "operate", "access", "promote")
IMAGE = {"python_version": "3.12", "python_requirements": "flask", "path_to_repo": "/src/p", "path_to_module": "m"}
FILLER_USER, FILLER_GROUP = 50_000, 50_000  # ids far above the API's, so filler never collides


# ── a mixed dataset, made through the API ────────────────────────────────────────────────────


def service(display: str, **over: Any) -> dict:
    return {"environment": "dev", "image": dict(IMAGE), "type": "service", "display_name": display,
            "run_as": "admin", "memory": "256m", "num_cpus": 0.5, "app_section": "", "entrypoint": "m.svc:main",
            "env": [], **over}


def workflow(display: str, **over: Any) -> dict:
    tasks = [{"display_name": f"t{n}", "name": f"t{n}", "child_number": n, "entrypoint": "m.t:run",
              "memory": "100m", "num_cpus": 1, "depends_on": [n - 1] if n else [], "env": []} for n in range(3)]
    return {"environment": "dev", "image": dict(IMAGE), "type": "batch", "display_name": display,
            "run_as": "admin", "memory": "100m", "num_cpus": 1, "app_section": "", "jobs": tasks, **over}


# Keys whose order tells code-point order (Python) from any other: case, accents, CJK, a
# character outside the BMP, digits as text, spaces and punctuation.
KEYS = ["a", "B", "b", "é", "Z", "a b", "_x", "10", "9", "ä", "日本", "\U0001d518", "\uff21", "config/db",
        "config/url", "config/zz", "config", "conf"]


@pytest.fixture
def world(sandbox: RunningSandbox, admin: httpx.Client) -> Iterator[dict[str, Any]]:
    """Users, groups, KV entries, secrets and jobs with every kind of ACL; `carol` (in `analysts`)
    may read only some of them."""
    groups = ["analysts", "devs", "ops"]
    for name in groups:
        result(admin.post("/api/group/add", json={"group_name": name}))
    people = [  # name, first, last, email, groups
        ("alice", "Ada", "Same", "alice@x.io", "dtusers,devs"),
        ("Bob", "ada", "Same", "", "devs"),
        ("carol", "Zoé", "Test", "carol@x.io", "analysts,dtusers"),
        ("_dave", "Élodie", "Same", "dave@x.io", "ops"),
        ("eve.x", "日本", "Other", "eve@x.io", "analysts,ops,devs"),
        ("zed", "\U0001d518ser", "Test", "", "dtusers"),
        ("9lives", "Nine", "Other", "nine@x.io", "analysts"),
        ("mallory@corp", "M", "Same", "m@x.io", "dtusers"),
    ]
    for name, first, last, email, member_of in people:
        body = {"username": name, "first-name": first, "last-name": last, "groups": member_of,
                "password": f"pw-{name}-1"}
        if email:
            body["email"] = email
        result(admin.post("/api/user/add", json=body))
    result(admin.post("/api/user/add", json={"username": "svc-bot", "system": True, "groups": "ops"}))
    result(admin.put("/api/user/modify", json={"username": "zed", "groups": ""}))  # in no group at all

    for i, key in enumerate(KEYS):
        for env in ("dev", "pre", "prod")[: 1 + i % 3]:
            for secure in (False, True) if i % 2 == 0 else (False,):
                acl: dict[str, str] = [{}, {"users": "carol:r"}, {"groups": "analysts:r"}, {"others": "r"},
                                       {"others": "w"}, {"users": "carol:w"}][i % 6]
                body = {"key": key, "value": f"{key}@{env}", "environment": env, "secure": secure, **acl}
                result(admin.put("/api/kv/put", json=body))

    carol_id = result(admin.get("/api/user/get", params={"username": "carol"}))["user_id"]
    analysts = result(admin.get("/api/group/get", params={"group_name": "analysts"}))["group_id"]
    jobs = [service("Price Server"), workflow("My Flow", acl={"read": [carol_id]}), service("Alpha"),
            service("beta svc", acl={"read": [-analysts], "write": [carol_id]}), service("Zulu"),
            workflow("Gone"), service("Omega", acl={"write": [carol_id]})]
    for data in jobs:
        result(admin.post("/api/job/save", json={"json": True, "data": data}))
    result(admin.post("/api/job/save", json={"json": True, "data": service("Alpha", memory="512m")}))
    result(admin.post("/api/job/save", json={"json": True, "data": service("Alpha", memory="1g")}))
    result(admin.request("DELETE", "/api/job/rm", json={"job_name": "alpha", "version": 3}))
    result(admin.request("DELETE", "/api/job/rm", json={"job_name": "gone", "all": True}))
    result(admin.put("/api/job/modify", json={"job_name": "zulu", "others": "r"}))
    result(admin.put("/api/job/modify", json={"job_name": "zulu", "display-name": "Alpha"}))  # two "Alpha"s
    for name in ("my-flow", "price-server"):
        result(admin.post("/api/job/promote", json={"job_name": name, "version": 1, "environment": "dev"}))
    with signed_in(sandbox.url, "carol", "pw-carol-1") as carol:
        yield {"admin": admin, "carol": carol, "store": store_of(sandbox)}


def store_of(sandbox: RunningSandbox) -> Store:
    return sandbox.server.app.state.store


def fill(store: Store, n: int) -> None:
    """`n` more users (each in `dtusers` and one of n/10 groups), KV entries, secrets and jobs with
    owner ACLs, written straight into the tables in the shape the API writes them."""
    groups = max(1, n // 10)
    start = FILLER_USER + (store_count(store, "users") or 0)
    with store.tx() as db:
        template = db.one("SELECT * FROM job_versions WHERE type = 'batch' LIMIT 1")
        gid0 = FILLER_GROUP + (db.scalar("SELECT COUNT(*) FROM groups") or 0)
        db.executemany("INSERT INTO groups(group_id, name) VALUES (?, ?)",
                       [(gid0 + g, f"filler-group-{gid0 + g}") for g in range(groups)])
        db.executemany("INSERT INTO users(user_id, name, email) VALUES (?, ?, ?)",
                       [(start + i, f"filler{start + i}", f"f{i}@x.io") for i in range(n)])
        db.executemany("INSERT INTO memberships(group_id, user_id) VALUES (?, ?)",
                       [(100, start + i) for i in range(n)] + [(gid0 + i % groups, start + i) for i in range(n)])
        acl = []
        for i in range(n):
            for env, secure in (("dev", 0), ("pre", 1)):
                key = f"filler/{start + i}"
                db.execute("INSERT INTO kv_entries VALUES (?, ?, ?, ?, 0)", (env, secure, key, "v"))
                acl += [(f"kv/{env}/{secure}/{key}", perm, start + i) for perm in PERMS]
            name = f"filler-{start + i}"
            db.execute("INSERT INTO job_versions VALUES ('dev', ?, 1, ?, 'batch', ?, 'ready', 0, ?, ?)",
                       (name, job_id(name, "dev"), name, template["create_time"], template["definition"]))
            acl += [(f"job/dev/{name}/1", perm, start + i) for perm in PERMS]
        db.executemany("INSERT INTO acl_entries VALUES (?, ?, ?)", acl)


def store_count(store: Store, table: str) -> int:
    with store.read() as db:
        return int(db.scalar(f"SELECT COUNT(*) FROM {table}"))


def watched(store: Store, client: httpx.Client, path: str, params: dict[str, Any]) -> tuple[Any, Watch]:
    with store.watch() as watch:
        reply = client.get(path, params=params)
    return result(reply), watch


def plans(store: Store, watch: Watch) -> list[tuple[str, list[str]]]:
    """Each statement the request ran (not BEGIN/ROLLBACK) with SQLite's plan for it."""
    out = []
    with store.read() as db:
        for sql in watch.statements:
            if sql.split()[0].upper() in ("BEGIN", "ROLLBACK", "COMMIT"):
                continue
            out.append((sql, [row[3] for row in db.all("EXPLAIN QUERY PLAN " + sql)]))
    return out


# ── per-object reads ─────────────────────────────────────────────────────────────────────────


def per_object_reads(world: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    with world["store"].read() as db:
        flow_id = db.scalar("SELECT id FROM job_versions WHERE name = 'my-flow' AND environment = 'dev'")
    return {
        "user/get": ("admin", "/api/user/get", {"username": "carol"}),
        "user/exists": ("carol", "/api/user/exists", {"username": "alice"}),
        "user/exists (no such user)": ("carol", "/api/user/exists", {"username": "nobody"}),
        "group/get": ("admin", "/api/group/get", {"group_name": "analysts"}),
        "kv/get": ("admin", "/api/kv/get", {"key": "a"}),
        "kv/get secure": ("admin", "/api/kv/get", {"key": "a", "secure": "true"}),
        "kv/get through others": ("carol", "/api/kv/get", {"key": "é", "environment": "dev"}),
        "kv/get through a group": ("carol", "/api/kv/get", {"key": "b", "environment": "dev"}),
        "kv/acls": ("carol", "/api/kv/acls", {"key": "B", "environment": "dev"}),
        "job/get": ("admin", "/api/job/get", {"job_name": "price-server"}),
        "job/get by id": ("admin", "/api/job/get", {"job_name": flow_id}),
        "job/get by display name": ("admin", "/api/job/get", {"job_name": "Price Server"}),
        "job/get by display name in pre": ("carol", "/api/job/get", {"job_name": "My Flow", "environment": "pre"}),
        "job/get a task": ("carol", "/api/job/get", {"job_name": "my-flow-1"}),
        "job/versions": ("admin", "/api/job/versions", {"job_name": "alpha"}),
    }


def test_per_object_reads_do_not_grow_with_the_data(world: dict[str, Any]) -> None:
    """Each read's SQLite work, counted instruction by instruction, is the same before and after a
    thousand more users, groups' members, KV entries, secrets and jobs exist (before the indexes,
    `user get` read every membership, `job get` every job of the environment, and every request
    scanned the memberships to find the caller's groups)."""
    store, reads = world["store"], per_object_reads(world)

    def measure() -> dict[str, tuple[int, Any]]:
        out = {}
        for name, (who, path, params) in reads.items():
            body, watch = watched(store, world[who], path, params)
            out[name] = (watch.steps, body)
        return out

    fill(store, 20)
    before = measure()
    fill(store, 1000)
    after = measure()
    for name in reads:
        assert after[name][1] == before[name][1], name  # the same answer: the filler is elsewhere
    assert all(steps > 0 for steps, _ in before.values())
    grown = {name: f"{before[name][0]} -> {after[name][0]} SQLite steps" for name in reads
             if after[name][0] > before[name][0] * 1.05 + 20}
    assert grown == {}


def test_per_object_reads_search_and_never_scan(world: dict[str, Any]) -> None:
    """SQLite's own plan for every statement of a per-object read (the session check and the
    caller's groups included) is a search of an index or a primary key, never a table scan."""
    store = world["store"]
    fill(store, 100)
    seen, scans = 0, []
    for name, (who, path, params) in per_object_reads(world).items():
        _, watch = watched(store, world[who], path, params)
        for sql, plan in plans(store, watch):
            seen += 1
            scans += [f"{name}: {line} in {sql}" for line in plan if line.startswith("SCAN")]
    assert seen > 50
    assert scans == []


def test_the_callers_groups_come_from_an_index(world: dict[str, Any]) -> None:
    """The principal of every request reads the caller's memberships through `memberships_by_user`."""
    store = world["store"]
    _, watch = watched(store, world["carol"], "/api/user/exists", {"username": "alice"})
    principal = [(sql, plan) for sql, plan in plans(store, watch) if "FROM memberships m" in sql]
    assert principal and all(any("memberships_by_user" in line for line in plan) for _, plan in principal)


# ── listing pages ────────────────────────────────────────────────────────────────────────────


LISTINGS = {
    "user/ls": ("admin", "/api/user/ls", {"batch-size": 5, "offset": 3}),
    "user/ls sorted": ("admin", "/api/user/ls", {"batch-size": 5, "sort": "-user_id"}),
    "group/ls": ("admin", "/api/group/ls", {"batch-size": 2, "offset": 3}),  # past dtusers, which grows
    "kv/ls": ("admin", "/api/kv/ls", {"batch-size": 5, "offset": 2, "include-values": "true", "acls": "true"}),
    "kv/ls two environments": ("admin", "/api/kv/ls", {"batch-size": 5, "environment": "dev,pre", "sort": "-key"}),
    "kv/ls by prefix": ("carol", "/api/kv/ls", {"key_prefix": "config/", "batch-size": 5}),
    "job/ls": ("admin", "/api/job/ls", {"batch-size": 3, "offset": 1}),
}


def test_listing_pages_read_the_page_not_the_table(world: dict[str, Any]) -> None:
    """A page's queries do the same work after a thousand more objects of every kind, except the
    count of `kv ls`, which reads a covering index (a few instructions an entry; the whole table
    went through Python before). The page served is the same, and so is the total."""
    store = world["store"]

    def measure() -> dict[str, tuple[Any, list[tuple[str, int]]]]:
        out = {}
        for name, (who, path, params) in LISTINGS.items():
            body, watch = watched(store, world[who], path, params)
            out[name] = (body, list(zip(watch.statements, watch.steps_by_statement, strict=True)))
        return out

    fill(store, 20)
    before = measure()
    fill(store, 1000)
    after = measure()
    grown = []
    for name in LISTINGS:
        if name.startswith("kv/ls"):  # the total counts the filler too
            assert after[name][0]["items"] == before[name][0]["items"], name
        elif name != "user/ls sorted":  # its first page is the newest users
            assert after[name][0] == before[name][0], name
        if len(after[name][1]) != len(before[name][1]):  # a statement per row (a permission check each)
            grown.append(f"{name}: {len(before[name][1])} -> {len(after[name][1])} statements")
            continue
        steps = [(sql, a, b) for (sql, a), (_, b) in zip(before[name][1], after[name][1], strict=True)]
        counts = [(sql, a, b) for sql, a, b in steps if sql.startswith("SELECT COUNT(*)")]
        grown += [f"{name}: {a} -> {b} SQLite steps for {sql}" for sql, a, b in steps
                  if b > a * 1.05 + 20 and not sql.startswith("SELECT COUNT(*)")]
        grown += [f"{name}: the count grew {b - a} steps for 2,000 more entries" for sql, a, b in counts
                  if b - a > 4 * 1000 * 2]
        grown += [f"{name}: no COUNT statement" for _ in range(name.startswith("kv/ls") and not counts)]
    assert grown == []
    with store.read() as db:
        for name in ("kv/ls", "kv/ls two environments"):
            count = next(sql for sql, _ in after[name][1] if sql.startswith("SELECT COUNT(*)"))
            plan = [row[3] for row in db.all("EXPLAIN QUERY PLAN " + count)]
            assert any("COVERING INDEX" in line for line in plan), plan


# ── the same pages as the Python listing ─────────────────────────────────────────────────────


def in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every listing served by the Python path (what every listing did before the push-down)."""
    for module in (users_module, kv_module, job_routes):
        monkeypatch.setattr(module, "sql_listing", lambda **_: None)


def both_ways(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
              requests: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[bool, int, bytes]]:
    """Each request served in SQL, then in Python: the replies must be the same bytes. Returns,
    per request, whether SQL paged it (a `LIMIT` in its statements), the status and the body."""
    store = world["store"]
    first = []
    for who, path, params in requests:
        with store.watch() as watch:
            reply = world[who].get(path, params=params)
        first.append((any(" OFFSET " in sql for sql in watch.statements), reply.status_code, reply.content))
    with monkeypatch.context() as patch:
        in_python(patch)
        for (who, path, params), (_, status, body) in zip(requests, first, strict=True):
            reply = world[who].get(path, params=params)
            assert (reply.status_code, reply.content) == (status, body), f"{path} {params}"
    return first


PAGES = [{}, {"batch-size": 3}, {"batch-size": 3, "offset": 2}, {"batch-size": 1, "offset": 9},
         {"batch-size": 0}, {"batch-size": -1, "offset": 4}, {"offset": 1000}, {"batch-size": 2, "offset": 1000}]


def test_user_and_group_pages_are_the_python_pages(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    user_filters = [None, "None", "name = carol", "name = 'Bob'", "name = [alice, zed, nobody]", "user_id = 1002",
                    "user_id = [1001, 1003]", "name starts_with a", "email starts_with ''", "last_name != Same",
                    "last_name = Same and first_name starts_with A", "name != [alice, Bob]", "first_name = 'Zoé'"]
    user_sorts = [None, "None", "name", "-name", "last_name", "-last_name first_name", "-is_system name",
                  "email -user_id", "first_name"]
    requests = [("admin", "/api/user/ls", {"filter": f, "sort": s}) for f in user_filters for s in user_sorts]
    requests += [("carol", "/api/user/ls", {"sort": "last_name -name", **page}) for page in PAGES]
    requests += [("admin", "/api/group/ls", {"filter": f, "sort": s, **page})
                 for f in (None, "name starts_with d", "group_id = [100, 101]", "name != ops")
                 for s in (None, "-name", "group_id") for page in PAGES[:4]]
    served = both_ways(world, monkeypatch, [(w, p, {k: v for k, v in q.items() if v is not None})
                                            for w, p, q in requests])
    assert all(pushed and status == 200 for pushed, status, _ in served)
    assert len({body for *_, body in served}) > 40  # the requests really differ


def test_kv_pages_are_the_python_pages(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """For the administrator and for carol, who reads through her user, her group and "others",
    but not where she may only write: same items, order, values, ACLs and total."""
    requests = []
    for who in ("admin", "carol"):
        for env in (None, "dev,pre", "prod,dev,pre", "['pre', 'prod']"):
            for secure in ("false", "true"):
                for f, s in [(None, None), ("key = a", "-environment"), ("environment = pre", "-key"),
                             ("key starts_with 'config'", "environment -key"), ("environment != dev", None),
                             ("key = [b, B, 'a b', 日本]", "key"), ("key starts_with ''", "-key -environment")]:
                    q = {"environment": env, "secure": secure, "filter": f, "sort": s, "include-values": "true",
                         "acls": "true"}
                    requests.append((who, "/api/kv/ls", q))
        for prefix in ("config", "config/", "a", "\U0001d518", "nothing"):
            requests.append((who, "/api/kv/ls", {"key_prefix": prefix, "environment": "dev,pre,prod"}))
        for page in PAGES:
            requests.append((who, "/api/kv/ls", {"environment": "dev,pre,prod", **page}))
    served = both_ways(world, monkeypatch, [(w, p, {k: v for k, v in q.items() if v is not None})
                                            for w, p, q in requests])
    assert all(pushed and status == 200 for pushed, status, _ in served)
    per_caller = len(requests) // 2  # each caller's last requests are the pages, the first one all of it
    admin_all = json.loads(served[per_caller - len(PAGES)][2])["result"]
    carol_all = json.loads(served[-len(PAGES)][2])["result"]
    assert 0 < carol_all["total"] < admin_all["total"]  # carol's listing really is filtered


def test_job_pages_are_the_python_pages(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    requests = []
    for who in ("admin", "carol"):
        for flags in ({}, {"all": "true"}, {"show-children": "true"}):
            for f, s in [(None, None), ("type = batch", "-version"), ("name starts_with a", "-create_time"),
                         ("environment = pre", "display_name"), ("version = [1, 3]", "type -name"),
                         ("display_name = Alpha", "-id"), ("id != x", "-environment -name")]:
                requests.append((who, "/api/job/ls", {"filter": f, "sort": s, **flags}))
        for page in PAGES:
            requests.append((who, "/api/job/ls", {"all": "true", **page}))
    served = both_ways(world, monkeypatch, [(w, p, {k: v for k, v in q.items() if v is not None})
                                            for w, p, q in requests])
    assert all(pushed and status == 200 for pushed, status, _ in served)
    per_caller = len(requests) // 2
    admin_all, carol_all = (json.loads(served[i][2])["result"] for i in (per_caller - len(PAGES), -len(PAGES)))
    assert {j["name"] for j in admin_all} > {j["name"] for j in carol_all} > set()
    assert "gone" in {j["name"] for j in admin_all}  # `all` shows a job whose every version is removed


def test_what_sql_cannot_say_is_listed_in_python(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Filters whose meaning `_compare` bends (numbers against text, bools, `or`, `not`, ranges,
    derived job fields) and every error go the Python way, with the Python answer."""
    requests = [
        ("admin", "/api/user/ls", {"filter": "is_system = true"}),
        ("admin", "/api/user/ls", {"filter": "user_id = '1003'"}),
        ("admin", "/api/user/ls", {"filter": "name = 100"}),  # a number against text
        ("admin", "/api/user/ls", {"filter": "name = alice or name = zed"}),
        ("admin", "/api/user/ls", {"filter": "not name = alice"}),
        ("admin", "/api/user/ls", {"filter": "user_id > 1003"}),
        ("admin", "/api/user/ls", {"filter": "name = []"}),
        ("carol", "/api/kv/ls", {"filter": "key contains a"}),
        ("carol", "/api/kv/ls", {"filter": "key = 10"}),
        ("carol", "/api/job/ls", {"filter": "state = ready", "sort": "-memory"}),
        ("admin", "/api/job/ls", {"sort": "run_as -cpu"}),
    ]
    errors = [
        ("admin", "/api/kv/ls", {"filter": "key < [a]"}),  # raised while rows are filtered
        ("admin", "/api/user/ls", {"filter": "nope = 1"}),
        ("admin", "/api/user/ls", {"sort": "name nope other"}),
        ("admin", "/api/group/ls", {"filter": "name = (", "sort": "nope"}),
        ("carol", "/api/kv/ls", {"sort": "value"}),
        ("admin", "/api/job/ls", {"filter": "name starts_with", "sort": "-"}),
    ]
    served = both_ways(world, monkeypatch, requests + errors)
    assert [pushed for pushed, *_ in served[: len(requests)]] == [False] * len(requests)
    assert [status for _, status, _ in served] == [200] * len(requests) + [400] * len(errors)


# ── resolving a job name ─────────────────────────────────────────────────────────────────────


def reference_resolve(db: Any, job_name: str, env: str) -> list[job_versions.Target]:
    """`resolve` as it was before the indexes: every version of the environment read and searched
    in Python. The indexed one must agree with it on every input."""
    text = job_name.strip()
    rows = db.all("SELECT name, version, id, type, display_name, removed, definition FROM job_versions "
                  "WHERE environment = ? ORDER BY name, version", (env,))
    names = {r["name"] for r in rows}
    if text in names:
        return [job_versions.Target(text)]
    try:
        wanted = str(uuid.UUID(text))
    except ValueError:
        wanted = None
    if wanted is not None:
        for row in rows:
            if row["id"] == wanted:
                return [job_versions.Target(row["name"])]
        for row in rows:
            if row["type"] == "batch":
                for task in json.loads(row["definition"])["tasks"]:
                    if job_id(f"{row['name']}-{task['child_number']}", env) == wanted:
                        return [job_versions.Target(row["name"], task["child_number"])]
    match = re.match(r"^(.+)-(\d+)$", text)
    if match and match.group(1) in names:
        parent, number = match.group(1), int(match.group(2))
        for row in rows:
            if row["name"] == parent and row["type"] == "batch" and any(
                    t["child_number"] == number for t in json.loads(row["definition"])["tasks"]):
                return [job_versions.Target(parent, number)]
    latest: dict[str, Any] = {}
    for row in rows:
        if not row["removed"] or row["name"] not in latest or latest[row["name"]]["removed"]:
            latest[row["name"]] = row
    by_display = [job_versions.Target(n) for n, r in sorted(latest.items()) if r["display_name"] == text]
    if by_display:
        return by_display
    normalised = normalize_name(text)
    return [job_versions.Target(normalised)] if normalised in names else []


def test_resolve_agrees_with_the_full_search(world: dict[str, Any]) -> None:
    store = world["store"]
    fill(store, 30)
    with store.read() as db:
        rows = db.all("SELECT DISTINCT environment, name, id, display_name FROM job_versions")
        inputs = {"Alpha", "alpha", "ALPHA", "  price-server ", "Price Server", "my-flow-1", "my-flow-7", "zulu-0",
                  "beta svc", "Beta Svc", "gone", "Gone", "nothing", "filler-50010-2", str(uuid.uuid4()),
                  job_id("my-flow-2", "dev"), job_id("my-flow-2", "pre"), job_id("filler-50003-1", "dev")}
        for row in rows:
            inputs |= {row["name"], row["id"], row["display_name"], row["id"].upper(), f"{row['name']}-0"}
        answers = []
        for env in ("dev", "pre", "prod"):
            for text in sorted(inputs):
                expected = reference_resolve(db, text, env)
                assert job_versions.resolve(db, text, env) == expected, (text, env)
                answers.append(len(expected))
    assert 0 in answers and 1 in answers and 2 in answers  # misses, hits and an ambiguous display name


def test_a_prefix_range_is_startswith() -> None:
    """`sql_prefix` (an index range plus the exact test) selects exactly what `str.startswith`
    does, around the characters where a successor is awkward: below the surrogates, after them,
    the last code point, outside the BMP."""
    alphabet = ["a", "b", "\ud7ff", "\ue000", "\U0010ffff", "\U0001d518", "é", "/", " ", "Z"]
    rnd = random.Random(7)
    words = {"".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 4))) for _ in range(2000)}
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k TEXT NOT NULL)")
    conn.execute("CREATE INDEX t_k ON t (k)")
    conn.executemany("INSERT INTO t VALUES (?)", [(w,) for w in words])
    checked = 0
    for _ in range(300):
        prefix = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 3)))
        sql, params = sql_prefix("k", prefix)
        assert {row[0] for row in conn.execute(f"SELECT k FROM t WHERE {sql}", params)} == {
            w for w in words if w.startswith(prefix)}, prefix
        checked += bool(prefix)
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT k FROM t WHERE " + sql_prefix("k", "ab")[0], ("ab", "ac", 2, "ab"))
    assert "k>? AND k<?" in str(plan.fetchall())  # the range is what the index serves
    assert checked > 200


# ── schema ───────────────────────────────────────────────────────────────────────────────────


NEW_INDEXES = {"memberships_by_user", "kv_entries_by_key", "job_versions_by_name", "job_versions_by_display",
               "job_versions_by_env_id"}


def test_an_older_database_gains_the_indexes(sandbox_factory: Any, tmp_path: Any) -> None:
    """A database written before the indexes opens, gets them, and keeps its data."""
    db_path = str(tmp_path / "old.db")
    box = sandbox_factory(db_path=db_path)
    with signed_in(box.url, box.admin_user, box.admin_password) as admin:
        result(admin.put("/api/kv/put", json={"key": "kept", "value": "v"}))
    box.stop()
    box.server.app.state.store.close()
    conn = sqlite3.connect(db_path)
    for name in NEW_INDEXES:
        conn.execute(f"DROP INDEX {name}")
    conn.commit()
    left = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert not NEW_INDEXES & left
    again = sandbox_factory(db_path=db_path, admin_password=box.admin_password)
    with again.server.app.state.store.read() as db:
        indexes = {row[0] for row in db.all("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert NEW_INDEXES <= indexes
    with signed_in(again.url, again.admin_user, again.admin_password) as admin:
        assert result(admin.get("/api/kv/get", params={"key": "kept"})) == "v"


def test_watch_counts_the_work_of_each_statement(world: dict[str, Any]) -> None:
    """The hook the tests above rely on: statements in order, each with its own count, and a
    bigger read counting more."""
    store = world["store"]
    fill(store, 200)
    with store.watch() as small, store.read() as db:
        db.all("SELECT * FROM users WHERE user_id = 1001")
    with store.watch() as big, store.read() as db:
        db.all("SELECT * FROM users")
    assert small.statements[0] == "BEGIN" and small.statements[1].endswith("user_id = 1001")
    assert len(small.steps_by_statement) == len(small.statements)
    assert big.steps > 10 * small.steps > 0
    seen = (list(small.statements), small.steps)
    with store.read() as db:
        db.all("SELECT * FROM users")
    assert (small.statements, small.steps) == seen  # nothing is recorded once the block has ended

