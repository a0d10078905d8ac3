"""Seeded random fuzzing of every Dataloop sandbox route: generated requests (valid documents bent
out of shape, wrong types for real keys, random JSON, junk bytes, forms, odd and unknown ids, odd
query strings) sent as the administrator, as an annotator, as an outsider and with forged tokens.
The sandbox must answer each with a 2xx or a 4xx in Dataloop's error body, never a 5xx and never
a dropped connection; afterwards the database must be whole (SQLite's integrity and foreign-key
checks, documents agreeing with their columns) and the API's listings must equal the database.

`PLATFORGE_DATALOOP_FUZZ_REQUESTS` sets the number of requests (default 2,000; the CI budget is
well under a minute) and `PLATFORGE_DATALOOP_FUZZ_SEED` the seed.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

pytestmark = pytest.mark.fuzz

REQUESTS = int(os.environ.get("PLATFORGE_DATALOOP_FUZZ_REQUESTS", "2000"))
SEED = int(os.environ.get("PLATFORGE_DATALOOP_FUZZ_SEED", "20261130"))

ROUTES = [
    ("GET", "/users/me"), ("GET", "/orgs"), ("GET", "/orgs/{org}"), ("PATCH", "/orgs/{org}"),
    ("GET", "/orgs/{org}/members"), ("POST", "/orgs/{org}/members"), ("PATCH", "/orgs/{org}/members"),
    ("DELETE", "/orgs/{org}/members/{email}"), ("GET", "/orgs/{org}/projects"), ("GET", "/orgs/{org}/groups"),
    ("POST", "/groups"), ("GET", "/groups/{group}"), ("PATCH", "/groups/{group}"), ("DELETE", "/groups/{group}"),
    ("GET", "/groups/{group}/members"), ("POST", "/groups/{group}/members"), ("DELETE", "/groups/{group}/members/{email}"),
    ("GET", "/projects"), ("POST", "/projects"), ("GET", "/projects/{name}/name"), ("GET", "/projects/{project}"),
    ("PATCH", "/projects/{project}"), ("DELETE", "/projects/{project}"), ("GET", "/projects/{project}/members"),
    ("POST", "/projects/{project}/members/{email}"), ("PATCH", "/projects/{project}/members/{email}"),
    ("DELETE", "/projects/{project}/members/{email}"), ("GET", "/projects/{project}/subgroups"),
    ("POST", "/projects/{project}/subgroups/{group}"), ("PATCH", "/projects/{project}/subgroups/{group}"),
    ("DELETE", "/projects/{project}/subgroups/{group}"), ("GET", "/projects/{project}/bots"),
    ("GET", "/orgs/{org}/integrations"), ("POST", "/orgs/{org}/integrations"), ("PATCH", "/orgs/{org}/integrations"),
    ("GET", "/orgs/{org}/integrations/{integration}"), ("DELETE", "/orgs/{org}/integrations/{integration}"),
    ("GET", "/integrations/{integration}"),
    ("POST", "/datasets"), ("POST", "/datasets/query"), ("GET", "/datasets"), ("GET", "/datasets/{dataset}"),
    ("PATCH", "/datasets/{dataset}"), ("DELETE", "/datasets/{dataset}"),
    ("POST", "/packages"), ("GET", "/packages/{package}"), ("PATCH", "/packages/{package}"),
    ("DELETE", "/packages/{package}"), ("GET", "/packages/{package}/revisions"),
    ("GET", "/piper-misc/naming/services/{name}"),
    ("POST", "/services"), ("GET", "/services/{service}"), ("PATCH", "/services/{service}"),
    ("DELETE", "/services/{service}"), ("POST", "/services/{service}/stop"), ("POST", "/services/{service}/resume"),
    ("GET", "/services/{service}/status"), ("POST", "/query/faas"),
    ("POST", "/triggers"), ("GET", "/triggers/{trigger}"), ("PATCH", "/triggers/{trigger}"),
    ("DELETE", "/triggers/{trigger}"),
    ("POST", "/pipelines"), ("POST", "/pipelines/query"), ("GET", "/pipelines/{pipeline}"),
    ("PATCH", "/pipelines/{pipeline}"), ("PATCH", "/pipelines/{pipeline}/variables"),
    ("PATCH", "/pipelines/{pipeline}/settings"), ("POST", "/pipelines/{pipeline}/install"),
    ("POST", "/pipelines/{pipeline}/uninstall"), ("DELETE", "/pipelines/{pipeline}"),
    ("POST", "/sandbox/users"), ("POST", "/sandbox/orgs"),
]
KEYS = ["name", "projectId", "projects", "orgId", "org", "role", "emails", "email", "user_id", "type", "options",
        "metadata", "integrationId", "credentials", "packageId", "packageRevision", "moduleName", "runtime", "secrets",
        "integrations", "active", "spec", "cron", "operation", "serviceId", "nodes", "connections", "startNodes",
        "variables", "settings", "filter", "sort", "page", "pageSize", "resource", "context", "version", "modules",
        "codebase", "password", "id", "$and", "$or", "$gt", "$in", "$exists", "$match", "concurrency", "autoscaler"]


def _scalar(rng: random.Random) -> Any:
    return rng.choice([None, True, False, 0, -1, 1, 2**63, 1.5, -0.0, 1e308, "", "x", "é✓", "a" * 300, "\u202e", "0" * 24,
                       "admin@sandbox.local", "Bob@Example.com", "regular-xs", "Cron", "Event", "0 2 * * *", "owner",
                       "annotator", "key_value", "services", "ascending", "{}", "../../etc"])


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.55:
        return _scalar(rng)
    if roll < 0.75:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


class World:
    """Ids the generator can aim at, refreshed from the database as objects come and go."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ids: dict[str, list[str]] = {}
        self.refresh()

    def refresh(self) -> None:
        with self.app.state.store.read() as db:
            for kind, table in (("org", "dl_orgs"), ("project", "dl_projects"), ("group", "dl_groups"),
                                ("integration", "dl_integrations"), ("dataset", "dl_datasets"), ("package", "dl_packages"),
                                ("service", "dl_services"), ("trigger", "dl_triggers"), ("pipeline", "dl_pipelines")):
                self.ids[kind] = [r[0] for r in db.all(f"SELECT id FROM {table}")]
            self.ids["email"] = [r[0] for r in db.all("SELECT email FROM dl_users")]
            self.ids["name"] = [r[0] for r in db.all("SELECT name FROM dl_projects")] + ["svc", "Bad Name"]

    def pick(self, rng: random.Random, kind: str) -> str:
        known = self.ids.get(kind) or []
        roll = rng.random()
        if known and roll < 0.88:
            return rng.choice(known)
        return rng.choice(["000000000000000000000000", secrets.token_hex(12), "x", "%", "a b", "é", "..", "0" * 200,
                           "ghost@example.com", "UPPER@EXAMPLE.COM"])

    def template(self, rng: random.Random, path: str) -> dict[str, Any]:
        p = lambda kind: self.pick(rng, kind)  # noqa: E731
        if path.endswith("/members") and "/orgs/" in path:
            return {"emails": [p("email")], "role": rng.choice(["member", "admin", "worker", "owner"]), "email": p("email")}
        if path.endswith("/integrations"):
            return {"type": "key_value", "name": "k", "options": {"key": "K", "value": "v"}, "integrationId": p("integration"),
                    "credentials": {"options": {"value": "w"}}}
        if path.startswith("/datasets"):
            return {"name": "ds", "projects": [p("project")], "metadata": {"user": 1}, "filter": {"name": "ds"},
                    "context": {"projects": [p("project")]}}
        if path.startswith("/packages"):
            return {"name": "pkg", "projectId": p("project"), "version": "1.0.1", "modules": [{"name": "default_module"}]}
        if path.startswith("/services"):
            return {"name": "svc", "projectId": p("project"), "packageId": p("package"), "runtime": {"concurrency": 3},
                    "secrets": [p("integration")], "active": rng.choice([True, False])}
        if path.startswith("/triggers"):
            return {"type": rng.choice(["Cron", "Event"]), "projectId": p("project"), "name": "t",
                    "spec": {"cron": "0 2 * * *", "operation": {"type": rng.choice(["function", "pipeline"]),
                                                                  "serviceId": p("service"), "id": p("pipeline")}}}
        if path.startswith("/pipelines"):
            return {"name": "pl", "projectId": p("project"), "nodes": [{"id": "a", "type": "code"}, {"id": "b"}],
                    "connections": [{"src": {"nodeId": "a"}, "tgt": {"nodeId": "b"}}],
                    "startNodes": [{"nodeId": "a"}], "variables": [{"name": "v", "value": 1}],
                    "settings": {"keepTriggersActive": "x"}}
        if path.startswith("/query"):
            return {"resource": rng.choice(["services", "triggers", "packages", "executions"]),
                    "filter": {"$and": [{"projectId": p("project")}]}, "page": 0, "pageSize": 5}
        if path.startswith("/groups"):
            return {"name": "g", "orgId": p("org"), "user_id": p("email")}
        if path.startswith("/sandbox"):
            return {"email": f"u{rng.randint(0, 50)}@example.com", "password": "fuzz-password", "name": "o"}
        return {"name": rng.choice(["p", "proj", "x"]), "role": rng.choice(["engineer", "annotator", "owner"])}


def _body(rng: random.Random, world: World, path: str) -> tuple[bytes | None, dict[str, str]]:
    json_type = {"content-type": "application/json"}
    roll = rng.random()
    if roll < 0.1:
        return None, {}
    if roll < 0.55:
        doc = world.template(rng, path)
        for _ in range(rng.randint(0, 3)):
            action = rng.choice(["set", "drop", "add"])
            if action == "drop" and doc:
                doc.pop(rng.choice(sorted(doc)))
            elif action == "set" and doc:
                doc[rng.choice(sorted(doc))] = _value(rng)
            else:
                doc[rng.choice(KEYS)] = _value(rng)
        return json.dumps(doc).encode(), json_type
    if roll < 0.75:
        return json.dumps(_value(rng)).encode(), json_type
    if roll < 0.85:
        return f"name={quote(str(_scalar(rng)))}&orgId={world.pick(rng, 'org')}".encode(), \
            {"content-type": "application/x-www-form-urlencoded"}
    if roll < 0.92:
        return rng.randbytes(rng.randint(1, 60)), json_type
    return rng.choice([b"[" * 200, b'{"a":' * 100, b"NaN", b'"\\ud800"', b'{"name": "\\u0000"}', b"1e999",
                       b'{"name": "x", "initParams": {"a": -1e999}}']), json_type


def _request(rng: random.Random, world: World) -> tuple[str, str, dict[str, str], bytes | None, dict[str, str]]:
    method, template = rng.choice(ROUTES)
    path = template
    while "{" in path:
        start = path.index("{")
        kind = path[start + 1:path.index("}")]
        path = path[:start] + quote(world.pick(rng, kind), safe="@") + path[path.index("}") + 1:]
    params = {}
    if rng.random() < 0.15:
        params = {rng.choice(["default", "excludeContributors", "force", "reloadServices", "projects", "name"]):
                  rng.choice(["true", "", "1", "x" * 50, "%00"])}
    body, headers = _body(rng, world, path) if method in ("POST", "PATCH", "PUT", "DELETE") else (None, {})
    return method, path, params, body, headers


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from platforge.provider._kit.sandbox.faults import FaultConfig
    from platforge.provider._kit.sandbox.serve import EmbeddedServer
    from platforge.provider.dataloop.sandbox import SandboxConfig, add_user, create_app, login

    db = tmp_path_factory.mktemp("dataloop-fuzz") / "sandbox.db"
    password = "fuzz-" + secrets.token_urlsafe(12)
    app = create_app(SandboxConfig(db_path=str(db), admin_password=password, faults=FaultConfig(max_body_bytes=64 * 1024)))
    server = EmbeddedServer(app).start()
    admin_token = login(server.url, "admin@sandbox.local", password)["id_token"]
    admin = httpx.Client(base_url=server.url + "/api/v1", headers={"authorization": f"Bearer {admin_token}"}, timeout=30,
                         trust_env=False)
    # Objects for the generated requests to find, and two other callers.
    org = admin.get("/orgs").json()[0]["id"]
    project = admin.post("/projects", data={"name": "proj"}).json()
    pkg = admin.post("/packages", json={"name": "pkg", "projectId": project["id"]}).json()
    svc = admin.post("/services", json={"name": "svc", "projectId": project["id"], "packageId": pkg["id"]}).json()
    admin.post("/triggers", json={"type": "Cron", "projectId": project["id"], "spec": {
        "cron": "* * * * *", "operation": {"type": "function", "serviceId": svc["id"]}}}).raise_for_status()
    admin.post("/pipelines", json={"name": "pl", "projectId": project["id"]}).raise_for_status()
    admin.post("/datasets", json={"name": "ds", "projects": [project["id"]]}).raise_for_status()
    admin.post(f"/orgs/{org}/integrations", json={"type": "key_value", "name": "k", "options": {}}).raise_for_status()
    group = admin.post("/groups", json={"name": "g", "orgId": org}).json()
    tokens = {"admin": admin_token}
    for email, role in (("annie@example.com", "annotator"), ("outsider@example.com", None)):
        add_user(app, email, password)
        if role:
            admin.post(f"/orgs/{org}/members", json={"emails": [email], "role": "member"}).raise_for_status()
            admin.post(f"/projects/{project['id']}/members/{email}", json={"role": role}).raise_for_status()
            admin.post(f"/groups/{group['id']}/members", json={"user_id": email}).raise_for_status()
        tokens[email] = login(server.url, email, password)["id_token"]
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    tokens["forged"] = jwt.encode(claims, None, algorithm="none")
    stats: Counter[str] = Counter()
    yield app, server, admin, tokens, stats
    print(f"\ndataloop fuzz summary: {json.dumps(dict(sorted(stats.items())))}")
    report = os.environ.get("PLATFORGE_FUZZ_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"dataloop": dict(stats)}) + "\n")
    admin.close()
    server.stop()


def test_no_server_errors(target: Any) -> None:
    app, server, admin, tokens, stats = target
    rng = random.Random(SEED)
    world = World(app)
    callers = [t for name, t in tokens.items() for _ in range(6 if name == "admin" else 1)]
    started = time.monotonic()
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30, trust_env=False) as client:
        for n in range(REQUESTS):
            method, path, params, body, headers = _request(rng, world)
            headers = {**headers, "authorization": f"Bearer {rng.choice(callers)}"}
            response = client.request(method, path, params=params, content=body, headers=headers)
            status = response.status_code
            stats["requests"] += 1
            stats[f"{status}"] += 1
            assert status < 500, f"{method} {path} {body[:200] if body else b''!r} answered {status}: {response.text[:300]}"
            if status >= 400:
                error = response.json()
                assert set(error) == {"name", "message", "status"} and error["status"] == status, response.text
            elif response.content:
                response.json()
            if n % 20 == 0:
                world.refresh()
    stats["seconds"] = round(time.monotonic() - started, 1)
    assert stats["requests"] >= REQUESTS
    assert sum(v for k, v in stats.items() if k.startswith("2")) > REQUESTS // 20, stats
    assert ok_after(admin)


def ok_after(admin: httpx.Client) -> bool:
    return admin.get("/users/me").status_code == 200


def test_the_database_is_whole_and_agrees_with_the_api(target: Any) -> None:
    app, server, admin, tokens, stats = target
    store = app.state.store
    with store.read() as db:
        assert db.scalar("PRAGMA integrity_check") == "ok"
        assert db.all("PRAGMA foreign_key_check") == []
        for table in ("dl_datasets", "dl_packages", "dl_services", "dl_triggers", "dl_pipelines"):
            for row in db.all(f"SELECT * FROM {table}"):
                doc = json.loads(row["doc"])
                assert (doc["id"], doc["name"], doc["projectId"]) == (row["id"], row["name"], row["project_id"]), table
        for row in db.all("SELECT * FROM dl_services"):
            doc = json.loads(row["doc"])
            assert doc["packageId"] == row["package_id"]
            used = {r[0] for r in db.all("SELECT integration_id FROM dl_service_secrets WHERE service_id = ?", (row["id"],))}
            assert used == set(doc["secrets"]) | {i["value"] for i in doc["integrations"]}
            assert db.scalar("SELECT 1 FROM dl_package_revisions WHERE package_id = ? AND version = ?",
                             (row["package_id"], doc["packageRevision"])) == 1
        for row in db.all("SELECT * FROM dl_triggers"):
            operation = json.loads(row["doc"])["spec"]["operation"]
            assert (row["service_id"], row["pipeline_id"]) == (operation.get("serviceId") if operation["type"] == "function"
                                                               else None, operation.get("id") if operation["type"] ==
                                                               "pipeline" else None)
        for row in db.all("SELECT * FROM dl_pipelines"):
            doc = json.loads(row["doc"])
            nodes = {n["id"] for n in doc["nodes"]}
            assert all(c["src"]["nodeId"] in nodes and c["tgt"]["nodeId"] in nodes for c in doc["connections"])
            assert all(isinstance(c["condition"], str) for c in doc["connections"])
            assert all("position" in n["metadata"] for n in doc["nodes"])
        admin_id = db.scalar("SELECT user_id FROM dl_users WHERE email = 'admin@sandbox.local'")
        visible = [r[0] for r in db.all(
            "SELECT id FROM dl_projects WHERE id IN (SELECT project_id FROM dl_project_members WHERE user_id = ? UNION "
            "SELECT pg.project_id FROM dl_project_groups pg JOIN dl_group_members gm ON gm.group_id = pg.group_id "
            "WHERE gm.user_id = ?) ORDER BY seq", (admin_id, admin_id))]
        expected = {kind: {pid: [r[0] for r in db.all(f"SELECT id FROM {table} WHERE project_id = ? ORDER BY seq", (pid,))]
                           for pid in visible}
                    for kind, table in (("datasets", "dl_datasets"), ("services", "dl_services"),
                                        ("triggers", "dl_triggers"), ("packages", "dl_packages"),
                                        ("pipelines", "dl_pipelines"))}
        orgs = {r[0]: sorted(x[0] for x in db.all("SELECT u.email FROM dl_org_members m JOIN dl_users u ON "
                                                    "u.user_id = m.user_id WHERE m.org_id = ?", (r[0],)))
                for r in db.all("SELECT org_id FROM dl_org_members WHERE user_id = ?", (admin_id,))}
    assert [p["id"] for p in admin.get("/projects").json()] == visible
    for pid in visible:
        def ids(path: str, body: dict[str, Any]) -> list[str]:
            page = admin.post(path, json={**body, "pageSize": 1000}).json()
            assert page["totalItemsCount"] == len(page["items"])
            return [item["id"] for item in page["items"]]

        assert ids("/datasets/query", {"context": {"projects": [pid]}}) == expected["datasets"][pid]
        assert ids("/pipelines/query", {"filter": {"projectId": pid}}) == expected["pipelines"][pid]
        for kind in ("services", "triggers", "packages"):
            assert ids("/query/faas", {"resource": kind, "filter": {"$and": [{"projectId": pid}]}}) == expected[kind][pid]
    for org_id, emails in orgs.items():
        assert sorted(m["email"] for m in admin.get(f"/orgs/{org_id}/members").json()) == emails
