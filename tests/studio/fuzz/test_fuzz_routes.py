"""Seeded random fuzzing of every Studio sandbox route: generated requests (the client's own
bodies bent out of shape, wrong types for real keys, random JSON, junk bytes, multipart and
form bodies, odd and unknown ids, odd query strings, foreign teams) sent as the team's admin, a
team member, a member of another team, with a wrong token and with none. The sandbox must answer
each with a 2xx or a 4xx in Studio's error body, never a 5xx and never a dropped connection;
afterwards the database must be whole (SQLite's integrity and foreign-key checks, documents
agreeing with their columns) and the API's listings must equal the database.

`PLATFORGE_STUDIO_FUZZ_REQUESTS` sets the number of requests (default 2,000; well under a
minute) and `PLATFORGE_STUDIO_FUZZ_SEED` the seed.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

pytestmark = pytest.mark.fuzz

REQUESTS = int(os.environ.get("PLATFORGE_STUDIO_FUZZ_REQUESTS", "2000"))
SEED = int(os.environ.get("PLATFORGE_STUDIO_FUZZ_SEED", "20261130"))
TEAM = "acme"

G = "/datachain/rbac/access-groups"
P = "/datachain/pipeline"
ROUTES = [
    ("GET", G + "/"), ("POST", G + "/"), ("PATCH", G + "/{group}/"), ("DELETE", G + "/{group}/"),
    ("GET", G + "/{group}/members/"), ("POST", G + "/{group}/members/"), ("PATCH", G + "/{group}/members/{user}/"),
    ("DELETE", G + "/{group}/members/{user}/"),
    ("GET", "/datachain/rbac/access-rules/"), ("POST", "/datachain/rbac/access-rules/"),
    ("PATCH", "/datachain/rbac/access-rules/{rule}/"), ("DELETE", "/datachain/rbac/access-rules/{rule}/"),
    ("POST", P + "/create-schedule"), ("POST", P + "/update-schedule"), ("POST", P + "/delete-schedule"),
    ("GET", P + "/schedule"), ("GET", P + "/schedules"),
    ("POST", P + "/trigger"), ("POST", P + "/run"), ("POST", P + "/settings"), ("GET", P + "/status"),
    ("POST", P + "/pause"), ("POST", P + "/resume"), ("POST", P + "/duplicate"), ("POST", P + "/remove-job"),
    ("GET", P + "/list"),
    ("GET", "/datachain/jobs/"), ("POST", "/datachain/jobs/"), ("GET", "/datachain/jobs/{job}/logs"),
    ("POST", "/datachain/jobs/{job}/cancel"), ("POST", "/datachain/jobs/files"), ("GET", "/datachain/clusters/"),
    ("GET", "/datachain/datasets/dataset_job_versions"), ("POST", "/device-logout"),
    ("POST", "/sandbox/teams"), ("POST", "/sandbox/users"), ("POST", "/sandbox/tokens"),
    ("POST", "/sandbox/device-login"), ("POST", "/sandbox/jobs/{job}/finish"),
]
PUBLIC = [("POST", "/api/device-login"), ("POST", "/api/token")]
KEYS = ["name", "description", "user_id", "role", "resource_type", "resource_id", "permission", "group_id", "schedule_name",
        "team_name", "pipeline_id", "pipeline_name", "start_after", "cron_expression", "schedule_id", "pause_pipeline",
        "datasets", "review", "definition_id", "job_id", "query", "query_type", "environment", "workers", "files",
        "priority", "compute_cluster_name", "compute_cluster_id", "rerun_from_job_id", "status", "exit_code", "username",
        "teams", "team_names", "user_code", "code", "limit", "search"]


def _scalar(rng: random.Random) -> Any:
    return rng.choice([None, True, False, 0, -1, 1, 2**63, 2**64, 1.5, -0.0, 1e308, "", "x", "é✓", "a" * 300, "\u202e",
                       TEAM, "other", "write", "read", "admin", "namespace", "PYTHON", "0 0 * * *", "@daily", "61 * * * *",
                       "2019-08-24T14:15:22Z", "A=1\nB=2", "PAUSED", "COMPLETE", "default", "1", "../../etc", "%00"])


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
        self.ids: dict[str, list[Any]] = {}
        self.refresh()

    def refresh(self) -> None:
        with self.app.state.store.read() as db:
            for kind, sql in (("group", "SELECT id FROM st_groups"), ("rule", "SELECT id FROM st_rules"),
                              ("user", "SELECT user_id FROM st_users"), ("job", "SELECT id FROM st_jobs"),
                              ("pipeline", "SELECT id FROM st_pipelines"), ("pname", "SELECT name FROM st_pipelines"),
                              ("schedule", "SELECT id FROM st_schedules"), ("file", "SELECT id FROM st_files")):
                self.ids[kind] = [r[0] for r in db.all(sql)]

    def pick(self, rng: random.Random, kind: str) -> Any:
        known = self.ids.get(kind) or []
        if known and rng.random() < 0.85:
            return rng.choice(known)
        return rng.choice(["00000000-0000-0000-0000-000000000000", secrets.token_hex(8), "x", "%", "a b", "é", "..",
                           "0" * 200, "-1", str(2**70), 0, 999])

    def template(self, rng: random.Random, path: str) -> dict[str, Any]:
        p = lambda kind: self.pick(rng, kind)  # noqa: E731
        team = rng.choice([TEAM, TEAM, TEAM, "other", "nope"])
        if "/members/" in path:
            return {"user_id": p("user"), "role": rng.choice(["read", "write", "admin", "owner"]), "team_name": team}
        if "access-groups" in path:
            return {"name": rng.choice(["g", "prod", "g2", ""]), "description": rng.choice(["", "d", None]), "team_name": team}
        if "access-rules" in path:
            return {"resource_type": rng.choice(["namespace", "project", "dataset", "x"]),
                    "resource_id": rng.choice(["dev", "1", "prod"]), "permission": rng.choice(["read", "write", "admin"]),
                    "user_id": rng.choice([p("user"), None]), "group_id": rng.choice([p("group"), None]), "team_name": team}
        if "schedule" in path:
            return {"schedule_name": rng.choice(["nightly", "hourly", "s"]), "pipeline_id": p("pipeline"),
                    "pipeline_name": p("pname"), "schedule_id": p("schedule"), "team_name": team,
                    "cron_expression": rng.choice(["0 0 * * *", "*/5 * * * mon-fri", "@hourly", "0 0 31 2 *", "bad"]),
                    "start_after": rng.choice([None, "2019-08-24T14:15:22Z", "2999-01-01T00:00:00+02:00", "soon"]),
                    "pause_pipeline": rng.choice([True, False, None])}
        if path.startswith(P):
            return {"datasets": rng.choice([["@a.p.d"], ["d1", "d2"], []]), "review": rng.choice([True, False]),
                    "name": p("pname"), "pipeline_id": p("pipeline"), "pipeline_name": p("pname"), "definition_id": p("pipeline"),
                    "job_id": rng.choice(["x", "00000000-0000-0000-0000-000000000000"]), "workers": rng.choice([1, 4, 0]),
                    "environment": rng.choice(["A=1", "bad", None]), "files": ["1"], "team_name": team}
        if "/jobs" in path:
            return {"query": "print(1)", "query_type": rng.choice(["PYTHON", "SHELL", "X"]), "environment": "A=1",
                    "workers": rng.choice([1, 2, None]), "files": [str(p("file"))], "priority": rng.choice([0, 5, None]),
                    "compute_cluster_name": rng.choice(["default", None, "gpu"]), "rerun_from_job_id": rng.choice([None, p("job")]),
                    "start_after": rng.choice([None, "2999-01-01T00:00:00Z"]), "cron_expression": rng.choice([None, "@daily"]),
                    "status": rng.choice(["COMPLETE", "FAILED", "RUNNING"]), "team_name": team}
        if "/sandbox/" in path:
            return {"name": rng.choice(["t1", "t2", "bad name"]), "username": f"u{rng.randint(0, 30)}", "teams": [team],
                    "team_names": [team], "user_code": "ABCD-EFGH", "user_id": p("user"), "role": "member"}
        return {"client_name": "DataChain", "token_name": "t", "team_names": [team], "code": "nope", "expires_in_days": 1}


def _body(rng: random.Random, world: World, path: str) -> tuple[bytes | None, dict[str, str]]:
    json_type = {"content-type": "application/json"}
    roll = rng.random()
    if roll < 0.08:
        return None, {}
    if roll < 0.6:
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
    if roll < 0.83:
        boundary = "b" + secrets.token_hex(4)
        name = rng.choice(["file", "other", 'fi"le', "file\r\nX: y"])
        filename = rng.choice(["a.txt", "", "../x", "é.txt", "a" * 400, "\\\\x"])
        content = rng.choice([b"abc", b"", rng.randbytes(20)])
        raw = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\r\n".encode()
               + content + f"\r\n--{boundary}--\r\n".encode())
        if rng.random() < 0.3:
            raw = raw[: rng.randint(0, len(raw))]
        return raw, {"content-type": rng.choice([f"multipart/form-data; boundary={boundary}", "multipart/form-data",
                                                 "multipart/form-data; boundary=", "text/plain"])}
    if roll < 0.92:
        return rng.randbytes(rng.randint(1, 60)), json_type
    return rng.choice([b"[" * 200, b'{"a":' * 100, b"NaN", b'"\\ud800"', b'{"name": "\\u0000"}', b"1e999",
                       b'{"name": "x", "workers": -1e999}', b'{"user_id": 99999999999999999999999}']), json_type


def _request(rng: random.Random, world: World) -> tuple[str, str, dict[str, Any], bytes | None, dict[str, str], bool]:
    public = rng.random() < 0.05
    method, template = rng.choice(PUBLIC if public else ROUTES)
    path = template
    while "{" in path:
        start = path.index("{")
        kind = path[start + 1:path.index("}")]
        path = path[:start] + quote(str(world.pick(rng, kind)), safe="") + path[path.index("}") + 1:]
    params: dict[str, Any] = {}
    if method == "GET" or "files" in path or rng.random() < 0.3:
        params["team_name"] = rng.choice([TEAM, TEAM, TEAM, "other", "nope", "", "é"])
    if rng.random() < 0.5:
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(["limit", "status", "job_id", "include_steps", "name", "pipeline_id", "schedule_id", "search",
                              "team_name"])
            params[key] = rng.choice(["1", "0", "20", "-1", "x", str(2**70), "PAUSED", "complete", "True", "", "%00",
                                      str(world.pick(rng, "job")), str(world.pick(rng, "schedule")),
                                      str(world.pick(rng, "pname")), "\u202e"])
    body, headers = (_body(rng, world, path) if method in ("POST", "PATCH", "DELETE") else (None, {}))
    return method, path, params, body, headers, public


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from platforge.provider._kit.sandbox.faults import FaultConfig
    from platforge.provider._kit.sandbox.serve import EmbeddedServer
    from platforge.provider.studio.sandbox import SandboxConfig, add_team, add_user, create_app

    db = tmp_path_factory.mktemp("studio-fuzz") / "sandbox.db"
    token = "isat_" + secrets.token_urlsafe(24)
    app = create_app(SandboxConfig(db_path=str(db), token=token, team=TEAM, job_seconds=0.5,
                                   faults=FaultConfig(max_body_bytes=64 * 1024)))
    server = EmbeddedServer(app).start()
    admin = httpx.Client(base_url=server.url + "/api", headers={"authorization": f"token {token}"}, timeout=30,
                         trust_env=False)
    add_team(app, "other")
    member = add_user(app, "member")
    outsider = add_user(app, "outsider", teams=("other",))
    group = admin.post("/datachain/rbac/access-groups/", json={"name": "seeded"}).json()
    admin.post(f"/datachain/rbac/access-groups/{group['id']}/members/", json={"user_id": member["user_id"]}).raise_for_status()
    admin.post("/datachain/rbac/access-rules/", json={"resource_type": "namespace", "resource_id": "dev",
                                                      "permission": "read", "group_id": group["id"]}).raise_for_status()
    definition = admin.post("/datachain/pipeline/trigger", json={"datasets": ["@a.p.d"], "review": True}).json()["pipeline"]
    admin.post("/datachain/pipeline/create-schedule", json={"schedule_name": "seeded", "pipeline_id": definition["pipeline_id"],
                                                            "cron_expression": "@daily"}).raise_for_status()
    admin.post("/datachain/jobs/files", files={"file": ("a.txt", b"a")}).raise_for_status()
    admin.post("/datachain/jobs/", json={"query": "print(1)"}).raise_for_status()
    tokens = {"admin": token, "member": member["token"], "outsider": outsider["token"], "wrong": "isat_" + "x" * 30, "none": ""}
    stats: Counter[str] = Counter()
    yield app, server, admin, tokens, stats
    print(f"\nstudio fuzz summary: {json.dumps(dict(sorted(stats.items())))}")
    report = os.environ.get("PLATFORGE_FUZZ_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"studio": dict(stats)}) + "\n")
    admin.close()
    server.stop()


def test_no_server_errors(target: Any) -> None:
    from platforge.provider.studio.sandbox import add_user

    app, server, admin, tokens, stats = target
    rng = random.Random(SEED)
    world = World(app)
    callers = [name for name in tokens for _ in range(6 if name == "admin" else 1)]
    started = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        for n in range(REQUESTS):
            method, path, params, body, headers, public = _request(rng, world)
            caller = rng.choice(callers)
            if path == "/device-logout" and caller == "admin":
                caller = "member"  # the administrator's token stays, so most requests go past the auth
            if tokens[caller] and caller != "admin" or tokens[caller] and rng.random() < 0.97:
                headers = {**headers, "authorization": f"{rng.choice(['token', 'Bearer'])} {tokens[caller]}"}
            url = path if public else "/api" + path
            response = client.request(method, url, params=params, content=body, headers=headers)
            status = response.status_code
            stats["requests"] += 1
            stats[f"{status}"] += 1
            assert status < 500, f"{method} {url} {params} {body[:200] if body else b''!r} answered {status}: {response.text[:300]}"
            if status >= 400:
                error = response.json()
                assert set(error) == {"message", "detail"} and error["message"], response.text
            elif response.content:
                response.json()
            if path == "/device-logout" and status == 200:  # that token is gone: the user gets a new one
                tokens[caller] = add_user(app, caller, teams=(TEAM,) if caller == "member" else ("other",))["token"]
            if n % 20 == 0:
                world.refresh()
    stats["seconds"] = round(time.monotonic() - started, 1)
    assert stats["requests"] >= REQUESTS
    assert sum(v for k, v in stats.items() if k.startswith("2")) > REQUESTS // 20, stats
    assert admin.get("/datachain/clusters/").status_code == 200


def test_the_database_is_whole_and_agrees_with_the_api(target: Any) -> None:
    app, server, admin, tokens, stats = target
    store = app.state.store
    with store.read() as db:
        assert db.scalar("PRAGMA integrity_check") == "ok"
        assert db.all("PRAGMA foreign_key_check") == []
        teams = {r["name"]: r["team_id"] for r in db.all("SELECT team_id, name FROM st_teams")}
        for row in db.all("SELECT * FROM st_pipelines"):
            doc = json.loads(row["doc"])
            ids = {r["job_id"] for r in doc["job_runs"]}
            assert all(p in ids for r in doc["job_runs"] for p in r["parent_job_ids"]), row["name"]
            assert row["definition_id"] is None or db.scalar("SELECT is_definition FROM st_pipelines WHERE id = ?",
                                                             (row["definition_id"],)) == 1
        for row in db.all("SELECT * FROM st_schedules"):
            assert db.scalar("SELECT team_id FROM st_pipelines WHERE id = ?", (row["pipeline_id"],)) == row["team_id"]
        for row in db.all("SELECT * FROM st_jobs"):
            doc = json.loads(row["doc"])
            files = {str(r[0]) for r in db.all("SELECT file_id FROM st_job_files WHERE job_id = ?", (row["id"],))}
            assert files == set(doc["files"])
            assert all(db.scalar("SELECT team_id FROM st_files WHERE id = ?", (int(f),)) == row["team_id"] for f in files)
        for row in db.all("SELECT * FROM st_rules"):
            assert db.scalar("SELECT team_id FROM st_resources WHERE id = ?", (row["resource_id"],)) == row["team_id"]
            if row["group_id"] is not None:
                assert db.scalar("SELECT team_id FROM st_groups WHERE id = ?", (row["group_id"],)) == row["team_id"]
        expected: dict[str, dict[str, Any]] = {}
        for name, team_id in teams.items():
            expected[name] = {
                "groups": [r[0] for r in db.all("SELECT id FROM st_groups WHERE team_id = ? ORDER BY seq", (team_id,))],
                "rules": [r[0] for r in db.all("SELECT id FROM st_rules WHERE team_id = ? ORDER BY seq", (team_id,))],
                "schedules": [r[0] for r in db.all("SELECT id FROM st_schedules WHERE team_id = ? ORDER BY seq", (team_id,))],
                "pipelines": [r[0] for r in db.all("SELECT id FROM st_pipelines WHERE team_id = ? ORDER BY seq DESC",
                                                   (team_id,))],
                "jobs": [r[0] for r in db.all("SELECT id FROM st_jobs WHERE team_id = ? ORDER BY seq DESC", (team_id,))],
                "members": {g: [r[0] for r in db.all("SELECT user_id FROM st_group_members WHERE group_id = ? ORDER BY seq",
                                                     (g,))]
                            for g in [r[0] for r in db.all("SELECT id FROM st_groups WHERE team_id = ?", (team_id,))]},
            }
    from platforge.provider.studio.sandbox import add_user

    checker = httpx.Client(base_url=server.url + "/api", timeout=30, trust_env=False,
                           headers={"authorization": "token " + add_user(app, "checker", teams=tuple(teams))["token"]})
    with checker:
        for name, want in expected.items():
            q = {"team_name": name}
            assert [g["id"] for g in checker.get("/datachain/rbac/access-groups/", params=q).json()] == want["groups"]
            assert [r["id"] for r in checker.get("/datachain/rbac/access-rules/", params=q).json()] == want["rules"]
            assert [s["id"] for s in checker.get("/datachain/pipeline/schedules", params=q).json()] == want["schedules"]
            assert [p["pipeline_id"] for p in checker.get("/datachain/pipeline/list",
                                                          params={**q, "limit": 10_000}).json()] == want["pipelines"]
            assert [j["id"] for j in checker.get("/datachain/jobs/", params={**q, "limit": 10_000}).json()] == want["jobs"]
            for group_id, users in want["members"].items():
                listed = checker.get(f"/datachain/rbac/access-groups/{group_id}/members/", params=q).json()
                assert [m["user_id"] for m in listed] == users
            groups = {g["id"]: g["member_count"] for g in checker.get("/datachain/rbac/access-groups/", params=q).json()}
            assert groups == {g: len(u) for g, u in want["members"].items()}
