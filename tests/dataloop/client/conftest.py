"""A fake Dataloop gate for `httpx.MockTransport`, following the contract: the login at
`POST /token?default`, bearer JWTs, Dataloop's error body, bare-array IAM listings and paged
`…/query` listings with a DQL subset, integrations that never return their options, services
whose delete finishes later, and pipelines with install state. Every request is recorded;
`writes()` counts what changed the platform."""

from __future__ import annotations

import copy
import json
import re
import secrets
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from platforge.provider.dataloop import DataloopClient, RetryPolicy
from platforge.provider.dataloop.platform import PLATFORM

from platforge.core.engine import Engine, make_backend
from platforge.core.stack import load_stack
from tests.kit.client.fakes import FakeTime, TopOfRange

BASE_URL = "http://gate.test"
EMAIL = "admin@acme.test"
PASSWORD = "pw-" + secrets.token_hex(8)  # generated per run: no credential in the repository
ORG_ID = "6a1b2c3d4e5f60718293a4b5"
PREFIX = "/api/v1"


def error(status: int, message: str) -> httpx.Response:
    names = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 409: "Conflict", 500: "InternalServerError"}
    return httpx.Response(status, json={"name": names.get(status, "Error"), "message": message, "status": status})


def _get(document: Any, path: str) -> list[Any]:
    """The values at a dotted path (a list on the way yields each element's value)."""
    values = [document]
    for part in path.split("."):
        found = []
        for value in values:
            if isinstance(value, dict) and part in value:
                found.append(value[part])
            elif isinstance(value, list):
                found += [v[part] for v in value if isinstance(v, dict) and part in v]
        values = found
    out: list[Any] = []
    for value in values:
        out += value if isinstance(value, list) else [value]
    return out


def _operator(op: str, operand: Any, values: list[Any]) -> bool:
    if op == "$ne":
        return operand not in values
    if op == "$eq":
        return operand in values
    if op == "$in":
        return any(v in operand for v in values)
    if op == "$nin":
        return not any(v in operand for v in values)
    if op == "$exists":
        return bool(values) == bool(operand)
    raise AssertionError(f"the fake does not know {op}")


def dql(document: dict[str, Any], condition: dict[str, Any]) -> bool:
    """The DQL subset of contract §3.4 item 7."""
    for key, wanted in condition.items():
        if key == "$and":
            if not all(dql(document, c) for c in wanted):
                return False
        elif key == "$or":
            if not any(dql(document, c) for c in wanted):
                return False
        else:
            values = _get(document, key)
            if isinstance(wanted, dict) and wanted and all(k.startswith("$") for k in wanted):
                if not all(_operator(op, operand, values) for op, operand in wanted.items()):
                    return False
            elif wanted not in values:
                return False
    return True


class FakeDataloop:
    """An in-memory Dataloop gate. `override` lets a test answer one request its own way."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None
        self.tokens: set[str] = set()
        self.logins = 0
        self._ids = 0
        self.orgs = {ORG_ID: {"id": ORG_ID, "name": "acme", "createdAt": 1700000000000}}
        self.org_members: dict[str, dict[str, Any]] = {EMAIL: self._user(EMAIL, "owner")}
        self.projects: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, dict[str, Any]]] = {}
        self.integrations: dict[str, dict[str, Any]] = {}
        self.integration_options: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        #: Service id -> how many more GETs still find it after its DELETE (asynchronous delete).
        self.deleting: dict[str, int] = {}
        self.service_delete_polls = 2
        self.triggers: dict[str, dict[str, Any]] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., httpx.Response]]] = []
        r = self._route
        r("GET", r"/users/me", lambda q, b: self._json(self._user(EMAIL, "owner")))
        r("GET", r"/orgs", lambda q, b: self._json(list(self.orgs.values())))
        r("GET", r"/orgs/(?P<org>[^/]+)", self._org)
        r("GET", r"/orgs/(?P<org>[^/]+)/members", lambda q, b, org: self._json(list(self.org_members.values())))
        r("POST", r"/orgs/(?P<org>[^/]+)/members", self._add_org_member)
        r("PATCH", r"/orgs/(?P<org>[^/]+)/members", self._patch_org_member)
        r("DELETE", r"/orgs/(?P<org>[^/]+)/members/(?P<email>[^/]+)", self._delete_org_member)
        r("GET", r"/projects", lambda q, b: self._json(list(self.projects.values())))
        r("POST", r"/projects", self._create_project)
        r("GET", r"/projects/(?P<pid>[0-9a-f]{24})", self._get("projects", "Project"))
        r("PATCH", r"/projects/(?P<pid>[0-9a-f]{24})", self._patch_project)
        r("DELETE", r"/projects/(?P<pid>[0-9a-f]{24})", self._delete_project)
        r("GET", r"/projects/(?P<pid>[0-9a-f]{24})/members", self._list_members)
        r("(POST|PATCH|DELETE)", r"/projects/(?P<pid>[0-9a-f]{24})/members/(?P<email>[^/]+)", self._member)
        r("GET", r"/orgs/(?P<org>[^/]+)/integrations", lambda q, b, org: self._json(list(self.integrations.values())))
        r("POST", r"/orgs/(?P<org>[^/]+)/integrations", self._create_integration)
        r("PATCH", r"/orgs/(?P<org>[^/]+)/integrations", self._patch_integration)
        r("GET", r"/orgs/(?P<org>[^/]+)/integrations/(?P<iid>[^/]+)", self._get_integration)
        r("DELETE", r"/orgs/(?P<org>[^/]+)/integrations/(?P<iid>[^/]+)", self._delete_integration)
        r("POST", r"/datasets/query", self._query_datasets)
        r("POST", r"/datasets", self._create_dataset)
        r("GET", r"/datasets/(?P<did>[^/]+)", self._get("datasets", "Dataset"))
        r("PATCH", r"/datasets/(?P<did>[^/]+)", self._patch("datasets", "Dataset"))
        r("DELETE", r"/datasets/(?P<did>[^/]+)", self._delete_dataset)
        r("POST", r"/query/faas", self._query_faas)
        r("POST", r"/services", self._create_service)
        r("GET", r"/services/(?P<sid>[^/]+)", self._get_service)
        r("PATCH", r"/services/(?P<sid>[^/]+)", self._patch("services", "Service"))
        r("DELETE", r"/services/(?P<sid>[^/]+)", self._delete_service)
        r("POST", r"/triggers", self._create_trigger)
        r("GET", r"/triggers/(?P<tid>[^/]+)", self._get("triggers", "Trigger"))
        r("PATCH", r"/triggers/(?P<tid>[^/]+)", self._patch("triggers", "Trigger"))
        r("DELETE", r"/triggers/(?P<tid>[^/]+)", self._delete_trigger)
        r("POST", r"/pipelines/query", self._query_pipelines)
        r("POST", r"/pipelines", self._create_pipeline)
        r("GET", r"/pipelines/(?P<plid>[^/]+)", self._get("pipelines", "Pipeline"))
        r("PATCH", r"/pipelines/(?P<plid>[^/]+)", self._patch("pipelines", "Pipeline"))
        r("POST", r"/pipelines/(?P<plid>[^/]+)/(?P<verb>install|uninstall)", self._install)
        r("DELETE", r"/pipelines/(?P<plid>[^/]+)", self._delete_pipeline)

    # ---- plumbing ----------------------------------------------------------------------

    def _route(self, method: str, pattern: str, handler: Callable[..., httpx.Response]) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    @staticmethod
    def _json(data: Any, status: int = 200) -> httpx.Response:
        return httpx.Response(status, json=data)

    def new_id(self) -> str:
        self._ids += 1
        return f"{0x65f000000000000000000000 + self._ids:024x}"

    @staticmethod
    def _user(email: str, role: str) -> dict[str, Any]:
        return {"id": email, "email": email, "username": email, "firstName": "", "lastName": "", "type": "human",
                "role": role, "org": ORG_ID, "createdAt": 1700000000000, "updatedAt": 1700000000000}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.override is not None:
            answer = self.override(request)
            if answer is not None:
                return answer
        raw = request.url.raw_path.decode()
        path, _, query_text = raw.partition("?")
        body = json.loads(request.content) if request.content else None
        if path == "/token" and request.method == "POST":
            assert query_text == "default" and "authorization" not in request.headers
            if body != {"username": EMAIL, "password": PASSWORD, "type": "user_credentials"}:
                return error(401, "Wrong email or password")
            self.logins += 1
            token = f"jwt-{self.logins}-{secrets.token_hex(4)}"
            self.tokens.add(token)
            return self._json({"id_token": token, "refresh_token": "refresh-" + token})
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return error(401, "Missing or invalid token")
        if not path.startswith(PREFIX + "/"):
            return error(404, f"Cannot {request.method} {path}")
        path = path[len(PREFIX):]
        query = dict(request.url.params)
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if re.fullmatch(method, request.method) and match:
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                return handler(query, body, **args)
        return error(404, f"Cannot {request.method} {path}")

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def writes(self, since: int = 0) -> list[httpx.Request]:
        return [r for r in self.requests[since:] if r.method != "GET" and not self._is_read(r)]

    @staticmethod
    def _is_read(request: httpx.Request) -> bool:
        path = request.url.path
        return path.endswith("/query") or path.endswith("/query/faas") or path == "/token"

    def write_lines(self, since: int = 0) -> list[str]:
        return [f"{r.method} {r.url.path.removeprefix(PREFIX)}" for r in self.writes(since)]

    def mark(self) -> int:
        return len(self.requests)

    def _get(self, store: str, what: str) -> Callable[..., httpx.Response]:
        def handler(q: dict, b: Any, **ids: str) -> httpx.Response:
            (key,) = ids.values()
            doc = getattr(self, store).get(key)
            return self._json(doc) if doc is not None else error(404, f"{what} not found")
        return handler

    def _get_integration(self, q: dict, b: Any, org: str, iid: str) -> httpx.Response:
        doc = self.integrations.get(iid)
        return self._json(doc) if doc is not None and org == ORG_ID else error(404, "Integration not found")

    def _patch(self, store: str, what: str) -> Callable[..., httpx.Response]:
        def handler(q: dict, b: Any, **ids: str) -> httpx.Response:
            (key,) = ids.values()
            doc = getattr(self, store).get(key)
            if doc is None:
                return error(404, f"{what} not found")
            for field in ("id", "url", "creator", "createdAt", "projectId", "status"):
                b.pop(field, None)
            doc.update(b)
            doc["updatedAt"] = "2026-11-23T14:48:38.700Z"
            return self._json(doc)
        return handler

    def _page(self, items: list[dict[str, Any]], body: dict[str, Any]) -> httpx.Response:
        page, size = body.get("page", 0), body.get("pageSize", 1000)
        assert isinstance(page, int) and isinstance(size, int)
        chosen = [i for i in items if dql(i, body.get("filter") or {})]
        pages = max(1, -(-len(chosen) // size))
        return self._json({"items": chosen[page * size:(page + 1) * size], "totalItemsCount": len(chosen),
                           "totalPagesCount": pages, "hasNextPage": page + 1 < pages})

    # ---- orgs and members ----------------------------------------------------------------

    def _org(self, q: dict, b: Any, org: str) -> httpx.Response:
        return self._json(self.orgs[org]) if org in self.orgs else error(404, "Organization not found")

    def _add_org_member(self, q: dict, b: Any, org: str) -> httpx.Response:
        for email in b["emails"]:
            self.org_members[email.lower()] = self._user(email.lower(), b["role"])
        return self._json([{"id": e, "member": e, "org": org, "role": b["role"]} for e in b["emails"]])

    def _patch_org_member(self, q: dict, b: Any, org: str) -> httpx.Response:
        if b["email"] not in self.org_members:
            return error(404, "Member not found")
        self.org_members[b["email"]]["role"] = b["role"]
        return self._json(list(self.org_members.values()))

    def _delete_org_member(self, q: dict, b: Any, org: str, email: str) -> httpx.Response:
        if self.org_members.pop(email, None) is None:
            return error(404, "Member not found")
        return httpx.Response(204)

    # ---- projects ------------------------------------------------------------------------

    def add_project(self, name: str) -> str:
        pid = self.new_id()
        self.projects[pid] = {"id": pid, "name": name, "org": {"id": ORG_ID, "name": "acme"}, "creator": EMAIL,
                              "createdAt": 1700000000000, "updatedAt": 1700000000000, "role": "owner",
                              "url": f"{BASE_URL}{PREFIX}/projects/{pid}", "contributors": [], "archived": False}
        self.members[pid] = {EMAIL: {**self._user(EMAIL, "owner"), "membershipType": "member"}}
        return pid

    def _create_project(self, q: dict, b: Any) -> httpx.Response:
        pid = self.add_project(b["name"])
        if b.get("account"):  # the organisation the project is created in (contract §2.2)
            self.projects[pid]["org"] = {"id": b["account"], "name": "acme"}
        return self._json(self.projects[pid])

    def _patch_project(self, q: dict, b: Any, pid: str) -> httpx.Response:
        if pid not in self.projects:
            return error(404, "Project not found")
        self.projects[pid]["name"] = b["name"]
        return self._json(self.projects[pid])

    def _delete_project(self, q: dict, b: Any, pid: str) -> httpx.Response:
        if self.projects.pop(pid, None) is None:
            return error(404, "Project not found")
        return httpx.Response(204)

    def _list_members(self, q: dict, b: Any, pid: str) -> httpx.Response:
        if pid not in self.projects:
            return error(404, "Project not found")
        return self._json(list(self.members[pid].values()))

    def _member(self, q: dict, b: Any, pid: str, email: str) -> httpx.Response:
        if pid not in self.projects:
            return error(404, "Project not found")
        members = self.members[pid]
        method = self.requests[-1].method
        if method == "DELETE":
            if members.pop(email, None) is None:
                return error(404, "Member not found")
        elif method == "PATCH" and email not in members:
            return error(404, "Member not found")
        else:
            members[email] = {**self._user(email, b["role"]), "membershipType": "member"}
        return self._json(list(members.values()))

    # ---- integrations --------------------------------------------------------------------

    def _create_integration(self, q: dict, b: Any, org: str) -> httpx.Response:
        iid = self.new_id()
        self.integrations[iid] = {"id": iid, "name": b["name"], "type": b["type"], "org": org, "creator": EMAIL,
                                  "createdAt": 1700000000000, "updatedAt": 1700000000000,
                                  "metadata": [{"name": "status", "value": "active"}]}
        self.integration_options[iid] = b["options"]
        return self._json(self.integrations[iid])

    def _patch_integration(self, q: dict, b: Any, org: str) -> httpx.Response:
        iid = b["integrationId"]
        if iid not in self.integrations:
            return error(404, "Integration not found")
        if "name" in b:
            self.integrations[iid]["name"] = b["name"]
        if "credentials" in b:
            assert q.get("reloadServices") == "true"
            self.integration_options[iid] = b["credentials"]["options"]
        return self._json(self.integrations[iid])

    def _delete_integration(self, q: dict, b: Any, org: str, iid: str) -> httpx.Response:
        if self.integrations.pop(iid, None) is None:
            return error(404, "Integration not found")
        return self._json(list(self.integrations.values()))

    # ---- datasets ------------------------------------------------------------------------

    def add_dataset(self, pid: str, name: str, **extra: Any) -> str:
        did = self.new_id()
        self.datasets[did] = {"id": did, "name": name, "projects": [pid], "creator": EMAIL, "itemsCount": 0,
                              "driver": "d" * 24, "indexDriver": "v2", "expirationOptions": None,
                              "metadata": {"system": {}}, "createdAt": "2026-11-23T14:48:37.239Z", **extra}
        return did

    def _query_datasets(self, q: dict, b: Any) -> httpx.Response:
        assert b["resource"] == "datasets" and self.requests[-1].headers.get("user_query") == "true"
        projects = set((b.get("context") or {}).get("projects") or [])
        return self._page([d for d in self.datasets.values() if projects & set(d["projects"])], b)

    def _create_dataset(self, q: dict, b: Any) -> httpx.Response:
        extra = {k: b[k] for k in ("driver", "indexDriver", "expirationOptions") if k in b}
        return self._json(self.datasets[self.add_dataset(b["projects"][0], b["name"], **extra)])

    def _delete_dataset(self, q: dict, b: Any, did: str) -> httpx.Response:
        if self.datasets.pop(did, None) is None:
            return error(404, "Dataset not found")
        return self._json(None)

    # ---- FaaS ----------------------------------------------------------------------------

    def _query_faas(self, q: dict, b: Any) -> httpx.Response:
        store = {"services": self.services, "triggers": self.triggers}[b["resource"]]
        return self._page(list(store.values()), b)

    def add_service(self, pid: str, name: str, **extra: Any) -> str:
        sid = self.new_id()
        self.services[sid] = {
            "id": sid, "name": name, "projectId": pid, "orgId": ORG_ID, "packageId": "5" * 24,
            "packageRevision": "1.0.0", "moduleName": "default_module", "initParams": {}, "versions": {},
            "botUserName": "bot@bot.ai", "active": True, "executionTimeout": 3600, "drainTime": 600,
            "onReset": "failed", "maxAttempts": 3, "secrets": [], "global": False, "runExecutionAsProcess": False,
            "runtime": {"podType": "regular-s", "numReplicas": 1, "concurrency": 10,
                        "autoscaler": {"type": "rabbitmq", "minReplicas": 0, "maxReplicas": 1, "queueLength": 1000}},
            "createdAt": "2026-11-23T14:48:37.813Z", **extra}
        return sid

    def _create_service(self, q: dict, b: Any) -> httpx.Response:
        sid = self.add_service(b["projectId"], b["name"])
        service = self.services[sid]
        runtime = b.pop("runtime", None)
        service.update({k: v for k, v in b.items() if k not in ("projectId",)})
        if runtime:
            service["runtime"] = {**service["runtime"], **runtime,
                                  "autoscaler": {**service["runtime"]["autoscaler"], **(runtime.get("autoscaler") or {})}}
        return self._json(service)

    def _get_service(self, q: dict, b: Any, sid: str) -> httpx.Response:
        if sid in self.deleting:
            self.deleting[sid] -= 1
            if self.deleting[sid] < 0:
                del self.deleting[sid]
            else:
                return self._json({"id": sid, "status": "deleting"})
        service = self.services.get(sid)
        return self._json(service) if service is not None else error(404, "Service not found")

    def _delete_service(self, q: dict, b: Any, sid: str) -> httpx.Response:
        if self.services.pop(sid, None) is None:
            return error(404, "Service not found")
        self.deleting[sid] = self.service_delete_polls
        return self._json({"id": self.new_id(), "status": "created", "type": "faas", "spec": {"serviceId": sid}})

    def _create_trigger(self, q: dict, b: Any) -> httpx.Response:
        tid = self.new_id()
        self.triggers[tid] = {**b, "id": tid, "creator": EMAIL, "global": False, "orgId": ORG_ID,
                              "createdAt": "2026-11-23T14:48:37.813Z"}
        return self._json(self.triggers[tid])

    def _delete_trigger(self, q: dict, b: Any, tid: str) -> httpx.Response:
        if self.triggers.pop(tid, None) is None:
            return error(404, "Trigger not found")
        return httpx.Response(204)

    # ---- pipelines -----------------------------------------------------------------------

    def _query_pipelines(self, q: dict, b: Any) -> httpx.Response:
        assert b["resource"] == "pipeline"
        return self._page(list(self.pipelines.values()), b)

    def _create_pipeline(self, q: dict, b: Any) -> httpx.Response:
        plid = self.new_id()
        nodes = copy.deepcopy(b.get("nodes") or [])
        for node in nodes:  # the gate adds its own fields; position is required
            assert "position" in node["metadata"]
            node.setdefault("dpkName", None)
        self.pipelines[plid] = {**b, "nodes": nodes, "id": plid, "status": "Created", "creator": EMAIL,
                                "orgId": ORG_ID, "compositionId": self.new_id(),
                                "settings": {"defaultResumeOption": "terminateExistingCycles"}}
        return self._json(self.pipelines[plid])

    def _install(self, q: dict, b: Any, plid: str, verb: str) -> httpx.Response:
        if plid not in self.pipelines:
            return error(404, "Pipeline not found")
        self.pipelines[plid]["status"] = "Installed" if verb == "install" else "Uninstalled"
        return self._json(self.pipelines[plid])

    def _delete_pipeline(self, q: dict, b: Any, plid: str) -> httpx.Response:
        if self.pipelines.pop(plid, None) is None:
            return error(404, "Pipeline not found")
        return self._json({})


@pytest.fixture
def gate() -> FakeDataloop:
    return FakeDataloop()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(gate: FakeDataloop, fake_time: FakeTime | None = None, **kwargs: Any) -> DataloopClient:
    clock = fake_time or FakeTime()
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3))
    kwargs.setdefault("email", EMAIL)
    kwargs.setdefault("password", PASSWORD)
    return DataloopClient(BASE_URL, http_transport=httpx.MockTransport(gate), sleep=clock.sleep, rng=TopOfRange(),
                          wall_clock=clock.clock, monotonic=clock.clock, **kwargs)


@pytest.fixture
def client(gate: FakeDataloop, fake_time: FakeTime) -> DataloopClient:
    return make_client(gate, fake_time)


class StackHarness:
    """A stack directory over the fake gate, with a local state, run through the core's Engine
    exactly as the CLI does (without the process around it)."""

    def __init__(self, root: Path, gate: FakeDataloop, fake_time: FakeTime) -> None:
        self.root = root
        self.gate = gate
        self.fake_time = fake_time
        self.dir = root / "stack"
        self.dir.mkdir()
        self.page_size = 1000

    def write(self, body: str, platform: str = "") -> Path:
        header = f'[platform]\ntype = "dataloop"\nendpoint = "{BASE_URL}"\norg = "acme"\n{platform}\n'
        path = self.dir / "main.toml"
        path.write_text(header + textwrap.dedent(body), encoding="utf-8")
        return path

    def engine(self) -> Engine:
        stack, platform = load_stack(self.dir, lambda t: PLATFORM)
        client = make_client(self.gate, self.fake_time, org="acme", page_size=self.page_size)
        return Engine(stack, platform, client, make_backend(stack, platform, client))

    def state_text(self) -> str:
        return (self.dir / ".platforge" / "state.json").read_text(encoding="utf-8")

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_text())


@pytest.fixture
def harness(tmp_path: Path, gate: FakeDataloop, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch) -> StackHarness:
    monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
    return StackHarness(tmp_path, gate, fake_time)
