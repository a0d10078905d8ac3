"""A fake DSS for `httpx.MockTransport`, following the contract (/work/shared/contracts/dataiku_api.md):
whole-document GET/PUT, DSS error JSON, a missing code environment answered as HTTP 500,
futures for code environment builds, connection passwords returned only encrypted, API key
secrets shown once. Every request is recorded; `writes()` counts what changed the platform."""

from __future__ import annotations

import base64
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
from platforge.provider.dataiku import DataikuClient, RetryPolicy
from platforge.provider.dataiku.platform import PLATFORM

from platforge.core.engine import Engine, make_backend
from platforge.core.stack import load_stack
from tests.kit.client.fakes import FakeTime, TopOfRange

BASE_URL = "http://dss.test"
API_KEY = "dku-" + secrets.token_hex(12)  # generated per run: no credential in the repository
PREFIX = "/public/api"
AUTH_HEADER = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()


def dss_error(status: int, error_type: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errorType": error_type, "message": message, "detailedMessage": message,
                                        "detailedMessageHTML": message, "stackTraceStr": ""})


def not_found(message: str) -> httpx.Response:
    return dss_error(404, "com.dataiku.dip.exceptions.UnknownObjectException", message)


def encrypt(secret: str) -> str:
    return "e:AES:" + base64.b64encode(secret[::-1].encode()).decode()


class FakeDss:
    """An in-memory DSS. `routes` maps (method, regex) to a handler; `override` lets a test
    answer one request its own way (a fault) before the routes."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.override: Callable[[httpx.Request], httpx.Response | None] | None = None
        self.users: dict[str, dict[str, Any]] = {
            "admin": {"login": "admin", "displayName": "Administrator", "email": None, "sourceType": "LOCAL",
                      "userProfile": "DESIGNER", "groups": ["administrators"], "enabled": True,
                      "userProperties": {}, "adminProperties": {}, "secrets": [], "credentials": {},
                      "preferences": {}, "creationDate": 1700000000000}}
        self.passwords: dict[str, str] = {}
        self.groups: dict[str, dict[str, Any]] = {
            "administrators": {"name": "administrators", "description": "DSS administrators", "sourceType": "LOCAL",
                               "admin": True, "ldapGroupNames": [], "azureADGroupNames": [],
                               "mayCreateProjects": True}}
        self.projects: dict[str, dict[str, Any]] = {}
        self.variables: dict[str, Any] = {}
        self.connections: dict[str, dict[str, Any]] = {}
        self.code_envs: dict[tuple[str, str], dict[str, Any]] = {}
        self.api_keys: dict[str, dict[str, Any]] = {}
        self.futures: dict[str, dict[str, Any]] = {}
        #: How many `GET /futures/{id}` a future answers "still running" before its result.
        self.future_polls = 2
        self.package_updates: list[tuple[str, str]] = []
        self._ids = 0
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., httpx.Response]]] = []
        r = self._route
        r("GET", r"/auth/info", lambda q, b: self._json({"authIdentifier": "api:TESTKEY", "groups": ["administrators"]}))
        r("GET", r"/admin/users/", self._list_users)
        r("POST", r"/admin/users/", self._create_user)
        r("GET", r"/admin/users/(?P<login>[^/]+)", self._get("users", "login", "User"))
        r("PUT", r"/admin/users/(?P<login>[^/]+)", self._put_user)
        r("DELETE", r"/admin/users/(?P<login>[^/]+)", self._delete("users", "login", "User"))
        r("GET", r"/admin/groups/", lambda q, b: self._json(list(self.groups.values())))
        r("POST", r"/admin/groups/", self._create_group)
        r("GET", r"/admin/groups/(?P<name>[^/]+)", self._get("groups", "name", "Group"))
        r("PUT", r"/admin/groups/(?P<name>[^/]+)", self._put("groups", "name", "Group"))
        r("DELETE", r"/admin/groups/(?P<name>[^/]+)", self._delete("groups", "name", "Group"))
        r("GET", r"/projects/", self._list_projects)
        r("POST", r"/projects/", self._create_project)
        r("GET", r"/projects/(?P<key>[^/]+)", self._get_project)
        r("DELETE", r"/projects/(?P<key>[^/]+)", self._delete_project)
        for part in ("metadata", "permissions"):
            r("GET", rf"/projects/(?P<key>[^/]+)/{part}", self._project_part(part))
            r("PUT", rf"/projects/(?P<key>[^/]+)/{part}", self._project_part(part, write=True))
        r("GET", r"/projects/(?P<key>[^/]+)/variables/", self._project_part("variables"))
        r("PUT", r"/projects/(?P<key>[^/]+)/variables/", self._project_part("variables", write=True))
        r("GET", r"/admin/variables/", lambda q, b: self._json(self.variables))
        r("PUT", r"/admin/variables/", self._put_variables)
        r("GET", r"/admin/connections/", lambda q, b: self._json({n: self._shown_connection(c)
                                                                  for n, c in self.connections.items()}))
        r("POST", r"/admin/connections/", self._create_connection)
        r("GET", r"/admin/connections/(?P<name>[^/]+)", self._get_connection)
        r("PUT", r"/admin/connections/(?P<name>[^/]+)", self._put_connection)
        r("DELETE", r"/admin/connections/(?P<name>[^/]+)", self._delete("connections", "name", "Connection"))
        r("GET", r"/projects/(?P<key>[^/]+)/scenarios/", self._list_scenarios)
        r("POST", r"/projects/(?P<key>[^/]+)/scenarios/", self._create_scenario)
        r("GET", r"/projects/(?P<key>[^/]+)/scenarios/(?P<sid>[^/]+)", self._scenario)
        r("PUT", r"/projects/(?P<key>[^/]+)/scenarios/(?P<sid>[^/]+)", self._scenario)
        r("DELETE", r"/projects/(?P<key>[^/]+)/scenarios/(?P<sid>[^/]+)", self._scenario)
        r("GET", r"/admin/code-envs/", lambda q, b: self._json([
            {"envLang": lang, "envName": name, "deploymentMode": env["deploymentMode"]}
            for (lang, name), env in self.code_envs.items()]))
        r("POST", r"/admin/code-envs/(?P<lang>[^/]+)/(?P<name>[^/]+)/packages", self._update_packages)
        r("POST", r"/admin/code-envs/(?P<lang>[^/]+)/(?P<name>[^/]+)", self._create_code_env)
        r("GET", r"/admin/code-envs/(?P<lang>[^/]+)/(?P<name>[^/]+)", self._code_env)
        r("PUT", r"/admin/code-envs/(?P<lang>[^/]+)/(?P<name>[^/]+)", self._code_env)
        r("DELETE", r"/admin/code-envs/(?P<lang>[^/]+)/(?P<name>[^/]+)", self._code_env)
        r("GET", r"/futures/(?P<job>[^/]+)", self._future)
        r("GET", r"/admin/global-api-keys/", lambda q, b: self._json([self._shown_key(k) for k in self.api_keys.values()]))
        r("POST", r"/admin/global-api-keys/", self._create_key)
        r("GET", r"/admin/global-api-keys/(?P<kid>[^/]+)", self._key)
        r("PUT", r"/admin/global-api-keys/(?P<kid>[^/]+)", self._key)
        r("DELETE", r"/admin/global-api-keys/(?P<kid>[^/]+)", self._key)

    # ---- plumbing ----------------------------------------------------------------------

    def _route(self, method: str, pattern: str, handler: Callable[..., httpx.Response]) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    @staticmethod
    def _json(data: Any, status: int = 200) -> httpx.Response:
        return httpx.Response(status, json=data)

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:03d}"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.override is not None:
            answer = self.override(request)
            if answer is not None:
                return answer
        if request.headers.get("authorization") != AUTH_HEADER:
            return dss_error(401, "com.dataiku.dip.exceptions.UnauthorizedException", "Not authenticated")
        raw = request.url.raw_path.decode().split("?", 1)[0]
        if not raw.startswith(PREFIX + "/"):
            return httpx.Response(404, text="<html><title>Not Found</title></html>", headers={"content-type": "text/html"})
        path = raw[len(PREFIX):]
        body = json.loads(request.content) if request.content else None
        query = dict(request.url.params)
        for method, pattern, handler in self.routes:
            match = pattern.match(path)
            if method == request.method and match:
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                return handler(query, body, **args)
        return not_found(f"no route {request.method} {path}")

    def writes(self, since: int = 0) -> list[httpx.Request]:
        return [r for r in self.requests[since:] if r.method != "GET"]

    def mark(self) -> int:
        return len(self.requests)

    def _get(self, store: str, key: str, what: str) -> Callable[..., httpx.Response]:
        def handler(q: dict, b: Any, **ids: str) -> httpx.Response:
            doc = getattr(self, store).get(ids[key])
            return self._json(doc) if doc is not None else not_found(f"{what} {ids[key]} not found")
        return handler

    def _put(self, store: str, key: str, what: str) -> Callable[..., httpx.Response]:
        def handler(q: dict, b: Any, **ids: str) -> httpx.Response:
            if ids[key] not in getattr(self, store):
                return not_found(f"{what} {ids[key]} not found")
            getattr(self, store)[ids[key]] = b
            return self._json({"msg": f"Edited {what.lower()} {ids[key]}"})
        return handler

    def _delete(self, store: str, key: str, what: str) -> Callable[..., httpx.Response]:
        def handler(q: dict, b: Any, **ids: str) -> httpx.Response:
            if getattr(self, store).pop(ids[key], None) is None:
                return not_found(f"{what} {ids[key]} not found")
            return httpx.Response(204)
        return handler

    # ---- users and groups ----------------------------------------------------------------

    def _list_users(self, q: dict, b: Any) -> httpx.Response:
        assert q.get("includeSettings") == "True"
        return self._json(list(self.users.values()))

    def _create_user(self, q: dict, b: Any) -> httpx.Response:
        if b["login"] in self.users:
            return dss_error(409, "com.dataiku.dip.exceptions.CodedException", f"User already exists: {b['login']}")
        if b.get("password"):
            self.passwords[b["login"]] = b["password"]
        doc = {k: v for k, v in b.items() if k != "password"}
        doc.update({"enabled": True, "userProperties": {}, "adminProperties": {}, "secrets": [], "credentials": {},
                    "preferences": {}, "creationDate": 1700000000001})
        self.users[b["login"]] = doc
        return httpx.Response(200, text="")

    def _put_user(self, q: dict, b: Any, login: str) -> httpx.Response:
        if login not in self.users:
            return not_found(f"User {login} not found")
        if "password" in b:
            self.passwords[login] = b.pop("password")
        self.users[login] = b
        return self._json({"msg": f"Edited user {login}"})

    def _create_group(self, q: dict, b: Any) -> httpx.Response:
        if b["name"] in self.groups:
            return dss_error(400, "java.lang.IllegalArgumentException", f"Group {b['name']} already exists")
        self.groups[b["name"]] = {**b, "admin": False, "ldapGroupNames": [], "azureADGroupNames": [],
                                  "mayCreateProjects": False, "mayWriteUnsafeCode": False, "mayFutureFlag": True}
        return httpx.Response(200, text="")

    # ---- projects ------------------------------------------------------------------------

    @staticmethod
    def _summary(key: str, project: dict[str, Any]) -> dict[str, Any]:
        return {"projectKey": key, "name": project["metadata"]["label"], "ownerLogin": project["permissions"]["owner"],
                "shortDesc": project["metadata"]["shortDesc"], "tags": sorted(project["metadata"]["tags"])}

    def _list_projects(self, q: dict, b: Any) -> httpx.Response:
        return self._json([self._summary(k, p) for k, p in self.projects.items()])

    def _get_project(self, q: dict, b: Any, key: str) -> httpx.Response:
        project = self.projects.get(key)
        return not_found(f"Project {key} not found") if project is None else self._json(self._summary(key, project))

    def _create_project(self, q: dict, b: Any) -> httpx.Response:
        key = b["projectKey"]
        if key in self.projects:
            return dss_error(400, "com.dataiku.dip.exceptions.CodedException", f"Project {key} already exists")
        self.projects[key] = {
            "metadata": {"label": b["name"], "description": b.get("description") or "", "shortDesc": "",
                         "tags": list(b.get("tags") or []), "custom": {"kv": {}}, "checklists": {"checklists": []}},
            "permissions": {"owner": b["owner"], "permissions": list(b.get("permissions") or []),
                            "additionalDashboardUsers": {"users": []},
                            "dashboardAuthorizations": {"allAuthorized": False, "authorizations": []}},
            "variables": {"standard": {}, "local": {}},
            "scenarios": {},
        }
        return httpx.Response(200, text="")

    def _delete_project(self, q: dict, b: Any, key: str) -> httpx.Response:
        if self.projects.pop(key, None) is None:
            return not_found(f"Project {key} not found")
        return self._json({"jobId": "del-" + key, "hasResult": True, "alive": False, "result": {}})

    def _project_part(self, part: str, write: bool = False) -> Callable[..., httpx.Response]:
        def handler(q: dict, b: Any, key: str) -> httpx.Response:
            project = self.projects.get(key)
            if project is None:
                return not_found(f"Project {key} not found")
            if write:
                if part == "variables":
                    assert set(b) >= {"standard", "local"}
                project[part] = b
                return httpx.Response(204)
            return self._json(project[part])
        return handler

    def _put_variables(self, q: dict, b: Any) -> httpx.Response:
        assert isinstance(b, dict)
        self.variables = b
        return httpx.Response(204)

    # ---- connections ---------------------------------------------------------------------

    def _shown_connection(self, doc: dict[str, Any]) -> dict[str, Any]:
        shown = copy.deepcopy(doc)
        if "password" in shown.get("params", {}):
            shown["params"]["password"] = encrypt(shown["params"]["password"])
        return shown

    def _create_connection(self, q: dict, b: Any) -> httpx.Response:
        if b["name"] in self.connections:
            return dss_error(400, "com.dataiku.dip.exceptions.CodedException", f"Connection {b['name']} already exists")
        self.connections[b["name"]] = {
            **b, "creationTag": {"versionNumber": 0, "lastModifiedBy": {"login": "api:TESTKEY"}},
            "allowWrite": True, "allowManagedDatasets": True, "allowManagedFolders": True, "credentialsMode": "GLOBAL",
            "detailsReadability": {"readableBy": "NONE", "allowedGroups": []},
            "params": {**b["params"], "namingRule": {}, "dkuProperties": []}}
        return httpx.Response(200, text="")

    def _get_connection(self, q: dict, b: Any, name: str) -> httpx.Response:
        doc = self.connections.get(name)
        return self._json(self._shown_connection(doc)) if doc else not_found(f"Connection {name} not found")

    def _put_connection(self, q: dict, b: Any, name: str) -> httpx.Response:
        old = self.connections.get(name)
        if old is None:
            return not_found(f"Connection {name} not found")
        sent = b.get("params", {}).get("password")
        if sent is not None and sent == encrypt(old.get("params", {}).get("password", "")):
            b["params"]["password"] = old["params"]["password"]  # the encrypted form sent back: unchanged
        self.connections[name] = b
        return self._json({"msg": "ok"})

    # ---- scenarios -----------------------------------------------------------------------

    def _list_scenarios(self, q: dict, b: Any, key: str) -> httpx.Response:
        project = self.projects.get(key)
        if project is None:
            return not_found(f"Project {key} not found")
        return self._json([{"projectKey": key, "id": s["id"], "name": s["name"], "active": s["active"],
                            "running": False, "start": 0, "tags": []} for s in project["scenarios"].values()])

    def _create_scenario(self, q: dict, b: Any, key: str) -> httpx.Response:
        project = self.projects.get(key)
        if project is None:
            return not_found(f"Project {key} not found")
        base = re.sub(r"[^A-Za-z0-9_]", "_", b["name"]).upper()
        sid, n = base, 1
        while sid in project["scenarios"]:
            n += 1
            sid = f"{base}_{n}"
        project["scenarios"][sid] = {
            "projectKey": key, "id": sid, "name": b["name"], "type": b["type"], "active": False, "tags": [],
            "description": "", "shortDesc": "", "reporters": [], "params": {"steps": []},
            "versionTag": {"versionNumber": 1, "lastModifiedBy": {"login": "admin"}},
            **({"active": b["active"]} if "active" in b else {}), "triggers": self._triggers(b)}
        return self._json({"id": sid, "projectKey": key, "name": b["name"], "type": b["type"]})

    def _scenario(self, q: dict, b: Any, key: str, sid: str) -> httpx.Response:
        project = self.projects.get(key)
        scenarios = project["scenarios"] if project else {}
        request = self.requests[-1]
        if sid not in scenarios:
            return not_found(f"Scenario {key}.{sid} not found")
        if request.method == "GET":
            return self._json(scenarios[sid])
        if request.method == "DELETE":
            del scenarios[sid]
            return self._json({})
        scenarios[sid] = {**b, "triggers": self._triggers(b)}
        return self._json({"msg": "saved"})

    def _triggers(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Triggers as DSS saves them: server ids and defaults filled in."""
        triggers = []
        for i, trigger in enumerate(body.get("triggers") or []):
            trigger = dict(trigger)
            trigger.setdefault("id", f"t{i}-{self._next_id('')}")
            trigger.setdefault("name", "Time-based")
            trigger.setdefault("delay", 5)
            if trigger.get("type") == "temporal":
                trigger["params"] = {"timezone": "SERVER", "repeatFrequency": 1, **trigger["params"]}
            triggers.append(trigger)
        return triggers

    # ---- code environments ---------------------------------------------------------------

    def _missing_env(self, lang: str, name: str) -> httpx.Response:
        return dss_error(500, "com.dataiku.dip.exceptions.CodedIOException", f"{lang} env {name} doesn't exist")

    def _new_future(self, result: Any) -> httpx.Response:
        job = self._next_id("job-")
        self.futures[job] = {"polls": 0, "result": result}
        return self._json({"jobId": job, "hasResult": False, "alive": True})

    def _create_code_env(self, q: dict, b: Any, lang: str, name: str) -> httpx.Response:
        assert q.get("wait") == "False"
        if (lang, name) in self.code_envs:
            return dss_error(500, "com.dataiku.dip.exceptions.CodedException", f"Code env {name} already exists")
        self.code_envs[(lang, name)] = {
            "envLang": lang, "envName": name, "deploymentMode": b["deploymentMode"], "specPackageList": "",
            "specCondaEnvironment": "", "usableByAll": False, "permissions": [], "allContainerConfs": True,
            "containerConfs": [], "desc": {"owner": "admin", "pythonInterpreter": b.get("pythonInterpreter", "PYTHON39"),
                                           "conda": False, "installCorePackages": True, "usableByAll": False}}
        return self._new_future({"envName": name, "messages": {"error": False, "warning": False, "messages": []}})

    def _code_env(self, q: dict, b: Any, lang: str, name: str) -> httpx.Response:
        method = self.requests[-1].method
        if (lang, name) not in self.code_envs:
            return self._missing_env(lang, name)
        if method == "GET":
            return self._json(self.code_envs[(lang, name)])
        if method == "PUT":
            self.code_envs[(lang, name)] = b
            return self._json({"msg": "saved"})
        del self.code_envs[(lang, name)]
        return self._new_future({"messages": {"error": False, "messages": []}})

    def _update_packages(self, q: dict, b: Any, lang: str, name: str) -> httpx.Response:
        if (lang, name) not in self.code_envs:
            return self._missing_env(lang, name)
        self.package_updates.append((lang, name))
        return self._new_future({"messages": {"error": False, "messages": []}})

    def _future(self, q: dict, b: Any, job: str) -> httpx.Response:
        future = self.futures.get(job)
        if future is None:
            return not_found(f"Future {job} not found")
        future["polls"] += 1
        if future["polls"] <= self.future_polls:
            return self._json({"jobId": job, "hasResult": False, "alive": True})
        return self._json({"jobId": job, "hasResult": True, "alive": False, "result": future["result"]})

    # ---- API keys ------------------------------------------------------------------------

    @staticmethod
    def _shown_key(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k != "key"}  # "secure API keys" on

    def _create_key(self, q: dict, b: Any) -> httpx.Response:
        kid = self._next_id("K")
        doc = {"id": kid, "key": f"dkuaps-SECRET-{kid}-zz9", "label": b["label"], "description": b.get("description"),
               "groups": b.get("groups"), "dssUserForImpersonation": None, "createdOn": 1700000000000,
               "createdBy": "admin", "expiresOn": 0}
        if "globalPermissions" in b:
            doc["globalPermissions"] = b["globalPermissions"]
        self.api_keys[kid] = doc
        return self._json(doc)

    def _key(self, q: dict, b: Any, kid: str) -> httpx.Response:
        method = self.requests[-1].method
        if kid not in self.api_keys:
            return not_found(f"API key {kid} not found")
        if method == "GET":
            return self._json(self._shown_key(self.api_keys[kid]))
        if method == "DELETE":
            del self.api_keys[kid]
            return httpx.Response(204)
        assert "key" not in b or b["key"] == self.api_keys[kid]["key"]
        self.api_keys[kid] = {**b, "key": self.api_keys[kid]["key"]}
        return self._json({"msg": "saved"})


@pytest.fixture
def dss() -> FakeDss:
    return FakeDss()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_client(dss: FakeDss, fake_time: FakeTime | None = None, **kwargs: Any) -> DataikuClient:
    clock = fake_time or FakeTime()
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3))
    return DataikuClient(BASE_URL, API_KEY, http_transport=httpx.MockTransport(dss), sleep=clock.sleep,
                         rng=TopOfRange(), wall_clock=clock.clock, monotonic=clock.clock, **kwargs)


@pytest.fixture
def client(dss: FakeDss, fake_time: FakeTime) -> DataikuClient:
    return make_client(dss, fake_time)


class StackHarness:
    """A stack directory over the fake DSS, with a local state, run through the core's Engine
    exactly as the CLI does (without the process around it)."""

    def __init__(self, root: Path, dss: FakeDss, fake_time: FakeTime) -> None:
        self.root = root
        self.dss = dss
        self.fake_time = fake_time
        self.dir = root / "stack"
        self.dir.mkdir()

    def write(self, body: str) -> Path:
        header = f'[platform]\ntype = "dataiku"\nendpoint = "{BASE_URL}"\n\n'
        path = self.dir / "main.toml"
        path.write_text(header + textwrap.dedent(body), encoding="utf-8")
        return path

    def engine(self) -> Engine:
        stack, platform = load_stack(self.dir, lambda t: PLATFORM)
        client = make_client(self.dss, self.fake_time)
        return Engine(stack, platform, client, make_backend(stack, platform, client))

    def state_text(self) -> str:
        return (self.dir / ".platforge" / "state.json").read_text(encoding="utf-8")


@pytest.fixture
def harness(tmp_path: Path, dss: FakeDss, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch) -> StackHarness:
    monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
    return StackHarness(tmp_path, dss, fake_time)
