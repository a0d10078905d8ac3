"""A fake DataChain Studio for `httpx.MockTransport`, following the contract: `token` or
`Bearer` tokens (§3.1), `team_name` from the query or the body with RBAC calls falling back to
the token's default team (§5.2), Studio's error body (§2.2), bare-array listings (§2.3), the RBAC
routes with their 201/204 answers, the schedule RPCs with their `{"ok", "schedule"}` answers
and list items without a pipeline (§1.4, as the seed shows them), and `pipeline/list` honouring
`limit` newest first. Every request is recorded; `writes()` counts what changed the platform."""

from __future__ import annotations

import json
import re
import secrets
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from platforge.provider.studio import RetryPolicy, StudioClient
from platforge.provider.studio.platform import PLATFORM

from platforge.core.engine import Engine, make_backend
from platforge.core.stack import load_stack
from tests.kit.client.fakes import FakeTime, TopOfRange

BASE_URL = "http://studio.test"
TOKEN = "isat_" + secrets.token_hex(12)  # generated per run: no credential in the repository
TEAM = "acme"
OTHER_TEAM = "other"


def error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message, "detail": message})


class FakeStudio:
    """An in-memory Studio. `override` lets a test answer one request its own way."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None
        #: token -> (its teams, its default team)
        self.tokens: dict[str, tuple[set[str], str]] = {TOKEN: ({TEAM, OTHER_TEAM}, OTHER_TEAM)}
        self.users: dict[int, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[int, dict[str, Any]]] = {}
        self.rules: dict[str, dict[str, Any]] = {}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.schedules: dict[int, dict[str, Any]] = {}
        #: What `update-schedule` was last told for each schedule (never echoed).
        self.paused: dict[int, bool] = {}
        self.pipelines: list[dict[str, Any]] = []
        self.clusters: list[dict[str, Any]] = []
        self._seq = 0
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., httpx.Response]]] = []
        r = self._route
        r("GET", r"/datachain/clusters/", lambda team, q, b: self._json([c for c in self.clusters if c["team"] == team]))
        r("GET", r"/datachain/pipeline/list", self._list_pipelines)
        r("GET", r"/datachain/pipeline/schedules", self._list_schedules)
        r("GET", r"/datachain/pipeline/schedule", self._get_schedule)
        r("POST", r"/datachain/pipeline/create-schedule", self._create_schedule)
        r("POST", r"/datachain/pipeline/update-schedule", self._update_schedule)
        r("POST", r"/datachain/pipeline/delete-schedule", self._delete_schedule)
        r("GET", r"/datachain/rbac/access-groups/", self._list_groups)
        r("POST", r"/datachain/rbac/access-groups/", self._create_group)
        r("PATCH", r"/datachain/rbac/access-groups/(?P<gid>[^/]+)/", self._patch_group)
        r("DELETE", r"/datachain/rbac/access-groups/(?P<gid>[^/]+)/", self._delete_group)
        r("GET", r"/datachain/rbac/access-groups/(?P<gid>[^/]+)/members/", self._list_members)
        r("POST", r"/datachain/rbac/access-groups/(?P<gid>[^/]+)/members/", self._add_member)
        r("PATCH", r"/datachain/rbac/access-groups/(?P<gid>[^/]+)/members/(?P<uid>\d+)/", self._patch_member)
        r("DELETE", r"/datachain/rbac/access-groups/(?P<gid>[^/]+)/members/(?P<uid>\d+)/", self._delete_member)
        r("GET", r"/datachain/rbac/access-rules/", self._list_rules)
        r("POST", r"/datachain/rbac/access-rules/", self._create_rule)
        r("PATCH", r"/datachain/rbac/access-rules/(?P<rid>[^/]+)/", self._patch_rule)
        r("DELETE", r"/datachain/rbac/access-rules/(?P<rid>[^/]+)/", self._delete_rule)

    # ---- plumbing ----------------------------------------------------------------------

    def _route(self, method: str, pattern: str, handler: Callable[..., httpx.Response]) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    @staticmethod
    def _json(data: Any, status: int = 200) -> httpx.Response:
        return httpx.Response(status, json=data)

    def seq(self) -> int:
        self._seq += 1
        return self._seq

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.override is not None:
            answer = self.override(request)
            if answer is not None:
                return answer
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in self.tokens:
            return error(401, "Invalid token")
        path = request.url.path
        if not path.startswith("/api/"):
            return error(404, "Not found")
        path = path[len("/api"):]
        query = dict(request.url.params)
        body = json.loads(request.content) if request.content else None
        teams, default = self.tokens[token]
        team = query.get("team_name") or (body or {}).get("team_name") or default
        if team not in teams:
            return error(403, f"Not authorized for the team {team}")
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if method == request.method and match:
                return handler(team, query, body, **match.groupdict())
        return error(404, "Not found")

    def writes(self, since: int = 0) -> list[httpx.Request]:
        """Requests that change something: every non-GET (Studio reads nothing with a POST
        that this provider sends)."""
        return [r for r in self.requests[since:] if r.method != "GET"]

    def write_lines(self, since: int = 0) -> list[str]:
        return [f"{r.method} {r.url.path.removeprefix('/api')}" for r in self.writes(since)]

    def mark(self) -> int:
        return len(self.requests)

    # ---- seeding -----------------------------------------------------------------------

    def add_user(self, email: str) -> int:
        uid = 40 + len(self.users) + 1
        self.users[uid] = {"user_id": uid, "username": email.split("@")[0], "email": email}
        return uid

    def add_group(self, name: str, team: str = TEAM, description: str | None = "") -> str:
        gid = str(uuid.uuid4())
        self.groups[gid] = {"id": gid, "name": name, "description": description, "member_count": 0,
                            "created_at": "2026-11-23T14:15:22.000000Z", "team": team, "seq": self.seq()}
        self.members[gid] = {}
        return gid

    def add_member(self, gid: str, uid: int, role: str = "write") -> None:
        self.members[gid][uid] = {"user_id": uid, "username": self.users[uid]["username"],
                                  "email": self.users[uid]["email"], "role": role}

    def add_pipeline(self, name: str, *, definition: bool = True, team: str = TEAM) -> str:
        pid = str(uuid.uuid4())
        self.pipelines.insert(0, {"pipeline_id": pid, "name": name, "status": "PAUSED", "is_definition": definition,
                                  "team": team, "created_at": "2026-11-23T14:15:22Z", "job_runs": [],
                                  "schedule_name": None})
        return pid

    # ---- RBAC --------------------------------------------------------------------------

    def _group_json(self, g: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in g.items() if k not in ("team", "seq")} | {"member_count": len(self.members[g["id"]])}

    def _list_groups(self, team: str, q: dict, b: Any) -> httpx.Response:
        return self._json([self._group_json(g) for g in self.groups.values() if g["team"] == team])

    def _create_group(self, team: str, q: dict, b: Any) -> httpx.Response:
        if any(g["name"] == b["name"] and g["team"] == team for g in self.groups.values()):
            return error(409, f"An access group named {b['name']!r} already exists")
        gid = self.add_group(b["name"], team, b.get("description", ""))
        return self._json(self._group_json(self.groups[gid]), 201)

    def _group(self, team: str, gid: str) -> dict[str, Any] | None:
        g = self.groups.get(gid)
        return g if g is not None and g["team"] == team else None

    def _patch_group(self, team: str, q: dict, b: Any, gid: str) -> httpx.Response:
        g = self._group(team, gid)
        if g is None:
            return error(404, "Access group not found")
        g.update({k: v for k, v in b.items() if k in ("name", "description")})
        return self._json(self._group_json(g))

    def _delete_group(self, team: str, q: dict, b: Any, gid: str) -> httpx.Response:
        if self._group(team, gid) is None:
            return error(404, "Access group not found")
        del self.groups[gid], self.members[gid]
        self.rules = {k: r for k, r in self.rules.items() if r["group_id"] != gid}
        return httpx.Response(204)

    def _list_members(self, team: str, q: dict, b: Any, gid: str) -> httpx.Response:
        if self._group(team, gid) is None:
            return error(404, "Access group not found")
        return self._json(list(self.members[gid].values()))

    def _add_member(self, team: str, q: dict, b: Any, gid: str) -> httpx.Response:
        if self._group(team, gid) is None:
            return error(404, "Access group not found")
        if b["user_id"] not in self.users:
            return error(400, f"user {b['user_id']} is not a member of the team")
        self.add_member(gid, b["user_id"], b.get("role", "read"))
        return self._json(self.members[gid][b["user_id"]], 201)

    def _patch_member(self, team: str, q: dict, b: Any, gid: str, uid: str) -> httpx.Response:
        if self._group(team, gid) is None or int(uid) not in self.members[gid]:
            return error(404, "Member not found")
        self.members[gid][int(uid)]["role"] = b["role"]
        return self._json(self.members[gid][int(uid)])

    def _delete_member(self, team: str, q: dict, b: Any, gid: str, uid: str) -> httpx.Response:
        if self._group(team, gid) is None or self.members[gid].pop(int(uid), None) is None:
            return error(404, "Member not found")
        return httpx.Response(204)

    def _rule_json(self, r: dict[str, Any]) -> dict[str, Any]:
        res = r["resource"]
        user = self.users.get(r["user_id"]) if r["user_id"] is not None else None
        group = self.groups.get(r["group_id"]) if r["group_id"] else None
        return {"id": r["id"], "resource_type": res["type"], "resource_uuid": res["uuid"], "resource_id": res["id"],
                "resource_name": res["name"], "permission": r["permission"], "user_id": r["user_id"],
                "user_email": user["email"] if user else None, "group_id": r["group_id"],
                "group_name": group["name"] if group else None}

    def _list_rules(self, team: str, q: dict, b: Any) -> httpx.Response:
        return self._json([self._rule_json(r) for r in self.rules.values() if r["team"] == team])

    def _create_rule(self, team: str, q: dict, b: Any) -> httpx.Response:
        assert isinstance(b["resource_id"], str), "resource_id goes in as a string (§5.4)"
        key = (b["resource_type"], b["resource_id"])
        res = next((x for x in self.resources.values() if x["type"] == b["resource_type"]
                    and b["resource_id"] in (str(x["id"]), x["uuid"], x["name"])), None)
        if res is None:
            res = {"type": b["resource_type"], "id": len(self.resources) + 7, "uuid": str(uuid.uuid4()),
                   "name": b["resource_id"]}
            self.resources[key] = res
        rid = str(uuid.uuid4())
        self.rules[rid] = {"id": rid, "team": team, "resource": res, "permission": b["permission"],
                           "user_id": b.get("user_id"), "group_id": b.get("group_id")}
        return self._json(self._rule_json(self.rules[rid]), 201)

    def _patch_rule(self, team: str, q: dict, b: Any, rid: str) -> httpx.Response:
        rule = self.rules.get(rid)
        if rule is None or rule["team"] != team:
            return error(404, "Access rule not found")
        rule["permission"] = b["permission"]
        return self._json(self._rule_json(rule))

    def _delete_rule(self, team: str, q: dict, b: Any, rid: str) -> httpx.Response:
        rule = self.rules.get(rid)
        if rule is None or rule["team"] != team:
            return error(404, "Access rule not found")
        del self.rules[rid]
        return httpx.Response(204)

    # ---- pipelines, schedules and clusters ---------------------------------------------

    def _pipeline_json(self, p: dict[str, Any]) -> dict[str, Any]:
        """`schedule_name`: the newest schedule targeting the pipeline (as the sandbox reads it)."""
        newest = [s["schedule_name"] for s in sorted(self.schedules.values(), key=lambda s: s["id"])
                  if s["pipeline_id"] == p["pipeline_id"]]
        return {k: v for k, v in p.items() if k != "team"} | {"schedule_name": newest[-1] if newest else None}

    def _list_pipelines(self, team: str, q: dict, b: Any) -> httpx.Response:
        mine = [self._pipeline_json(p) for p in self.pipelines if p["team"] == team]
        return self._json(mine[: int(q.get("limit", 20))])

    def _schedule_json(self, s: dict[str, Any], *, full: bool) -> dict[str, Any]:
        out = {k: v for k, v in s.items() if k not in ("team", "pipeline_id")}
        if full:
            pipeline = next(p for p in self.pipelines if p["pipeline_id"] == s["pipeline_id"])
            out["pipeline"] = self._pipeline_json(pipeline)
            out["latest_run"] = None
        return out

    def _list_schedules(self, team: str, q: dict, b: Any) -> httpx.Response:
        return self._json([self._schedule_json(s, full=False) for s in self.schedules.values() if s["team"] == team])

    def _get_schedule(self, team: str, q: dict, b: Any) -> httpx.Response:
        s = self.schedules.get(int(q.get("schedule_id", -1)))
        if s is None or s["team"] != team:
            return error(404, "Schedule not found")
        return self._json(self._schedule_json(s, full=True))

    def _create_schedule(self, team: str, q: dict, b: Any) -> httpx.Response:
        assert b.get("team_name") == team, "the schedule RPCs carry team_name in the body"
        pipeline = next((p for p in self.pipelines if p["pipeline_id"] == b.get("pipeline_id")), None)
        if pipeline is None:
            return error(404, "Pipeline not found")
        if any(s["schedule_name"] == b["schedule_name"] and s["team"] == team for s in self.schedules.values()):
            return error(409, "A schedule with this name already exists")
        sid = max(self.schedules, default=0) + 1
        self.schedules[sid] = {"id": sid, "team": team, "pipeline_id": pipeline["pipeline_id"],
                               "schedule_name": b["schedule_name"], "created_at": "2026-11-23T14:15:22.000000Z",
                               "updated_at": "2026-11-23T14:15:22.000000Z",
                               "start_after": b.get("start_after") or "2026-11-23T14:15:22.000000Z",
                               "cron_expression": b.get("cron_expression") or "0 0 * * *",
                               "next_run": "2026-11-24T00:00:00.000000Z",
                               "created_by": {"username": "admin", "first_name": "", "last_name": ""}}
        return self._json({"ok": True, "schedule": self._schedule_json(self.schedules[sid], full=True)})

    def _update_schedule(self, team: str, q: dict, b: Any) -> httpx.Response:
        s = self.schedules.get(b.get("schedule_id"))
        if s is None or s["team"] != team:
            return error(404, "Schedule not found")
        for name in ("schedule_name", "start_after", "cron_expression"):
            if b.get(name) is not None:
                s[name] = b[name]
        if b.get("pause_pipeline") is not None:
            self.paused[s["id"]] = b["pause_pipeline"]
        return self._json({"ok": True, "schedule": self._schedule_json(s, full=True)})

    def _delete_schedule(self, team: str, q: dict, b: Any) -> httpx.Response:
        s = self.schedules.get(b.get("schedule_id"))
        if s is None or s["team"] != team:
            return error(404, "Schedule not found")
        del self.schedules[s["id"]]
        return self._json({"ok": True})


@pytest.fixture
def studio() -> FakeStudio:
    return FakeStudio()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(studio: FakeStudio, fake_time: FakeTime | None = None, **kwargs: Any) -> StudioClient:
    clock = fake_time or FakeTime()
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3))
    kwargs.setdefault("token", TOKEN)
    kwargs.setdefault("team", TEAM)
    return StudioClient(BASE_URL, http_transport=httpx.MockTransport(studio), sleep=clock.sleep, rng=TopOfRange(),
                        wall_clock=clock.clock, monotonic=clock.clock, **kwargs)


@pytest.fixture
def client(studio: FakeStudio, fake_time: FakeTime) -> StudioClient:
    return make_client(studio, fake_time)


class StackHarness:
    """A stack directory over the fake Studio, with a local state, run through the core's Engine
    exactly as the CLI does (without the process around it)."""

    def __init__(self, root: Path, studio: FakeStudio, fake_time: FakeTime) -> None:
        self.root = root
        self.studio = studio
        self.fake_time = fake_time
        self.dir = root / "stack"
        self.dir.mkdir()
        self.client_options: dict[str, Any] = {}

    def write(self, body: str, platform: str = "") -> Path:
        header = f'[platform]\ntype = "studio"\nendpoint = "{BASE_URL}"\nteam = "{TEAM}"\n{platform}\n'
        path = self.dir / "main.toml"
        path.write_text(header + textwrap.dedent(body), encoding="utf-8")
        return path

    def engine(self) -> Engine:
        stack, platform = load_stack(self.dir, lambda t: PLATFORM)
        client = make_client(self.studio, self.fake_time, **self.client_options)
        return Engine(stack, platform, client, make_backend(stack, platform, client))

    def state_text(self) -> str:
        return (self.dir / ".platforge" / "state.json").read_text(encoding="utf-8")

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_text())


@pytest.fixture
def harness(tmp_path: Path, studio: FakeStudio, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch) -> StackHarness:
    monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
    return StackHarness(tmp_path, studio, fake_time)
