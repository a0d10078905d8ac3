"""End-to-end fixtures: an embedded Dataloop sandbox with an access log, the administrator's
e-mail and password in the environment, and stack directories pointed at it, run through the
`platforge` command line."""

from __future__ import annotations

import json
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from platforge.provider.dataloop.sandbox import SandboxConfig, create_app
from platforge.provider.sandbox import EmbeddedServer

from tests.cli_run import CliResult, run_cli

ADMIN = "admin@sandbox.local"
SECRET_MARKER = "MARKER-dl-s3cr3t-7c21"


class World:
    """One sandbox, one administrator, helpers to run the CLI, count writes and change Dataloop
    by hand (plain HTTP, as any other client would)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.password = "pw-" + secrets.token_hex(12)
        self.access_log = str(tmp_path / "access.jsonl")
        config = SandboxConfig(db_path=str(tmp_path / "dataloop.db"), admin_password=self.password,
                               admin_email=ADMIN, access_log=self.access_log, org="acme")
        self.server = EmbeddedServer(create_app(config)).start()
        self.url = self.server.url
        monkeypatch.setenv("DATALOOP_EMAIL", ADMIN)
        monkeypatch.setenv("DATALOOP_PASSWORD", self.password)
        monkeypatch.setenv("OPENAI_INTEGRATION", json.dumps({"key": "OPENAI_API_KEY", "value": "sk-" + SECRET_MARKER}))
        monkeypatch.delenv("DATALOOP_TOKEN", raising=False)
        monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
        self._http: httpx.Client | None = None

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        self.server.stop()

    def stack(self, body: str, name: str = "stack") -> Path:
        target = self.tmp_path / name
        target.mkdir(exist_ok=True)
        header = f'[platform]\ntype = "dataloop"\nendpoint = "{self.url}"\norg = "acme"\n\n'
        (target / "main.toml").write_text(header + textwrap.dedent(body), encoding="utf-8")
        return target

    def cli(self, *args: object) -> CliResult:
        return run_cli(*args)

    def log_lines(self) -> list[dict[str, Any]]:
        with open(self.access_log, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def mark(self) -> int:
        return len(self.log_lines())

    def writes_since(self, mark: int) -> list[dict[str, Any]]:
        """Requests that change something: not GETs, not the paged listings (POST …/query) and
        not the login."""
        def reads(line: dict[str, Any]) -> bool:
            path = str(line.get("path", ""))
            return line["method"] == "GET" or path.endswith("/query") or path.endswith("/query/faas") \
                or path.startswith("/token")
        return [r for r in self.log_lines()[mark:] if not reads(r)]

    def http(self) -> httpx.Client:
        """The administrator's own client of the gate, for changes made behind platforge's back."""
        if self._http is None:
            token = httpx.post(f"{self.url}/token?default", json={"username": ADMIN, "password": self.password,
                                                                   "type": "user_credentials"}).json()["id_token"]
            self._http = httpx.Client(base_url=f"{self.url}/api/v1", headers={"Authorization": f"Bearer {token}"})
        return self._http

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http().request(method, path, json=body)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def org_id(self) -> str:
        (org,) = [o for o in self.call("GET", "/orgs") if o["name"] == "acme"]
        return str(org["id"])

    def project(self, name: str) -> dict[str, Any]:
        (project,) = [p for p in self.call("GET", "/projects") if p["name"] == name]
        return dict(project)

    def query(self, path: str, resource: str, *conditions: dict[str, Any], **extra: Any) -> list[dict[str, Any]]:
        body = {"filter": {"$and": list(conditions)}, "resource": resource, "page": 0, "pageSize": 1000, **extra}
        return list(self.call("POST", path, body)["items"])

    def package(self, project_id: str, name: str = "fn-pkg") -> str:
        """A package with a git codebase (no upload), for services to run."""
        created = self.call("POST", "/packages", {
            "name": name, "global": False, "projectId": project_id, "codebase": {
                "type": "git", "gitUrl": "https://github.com/acme/fn.git", "gitTag": "v1.0.0"},
            "modules": [{"name": "default_module", "entryPoint": "main.py", "className": "ServiceRunner",
                         "functions": [{"name": "run", "input": [{"name": "item", "type": "Item"}], "output": []},
                                       {"name": "predict", "input": [], "output": []}], "initInputs": []}]})
        return str(created["id"])


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(tmp_path, monkeypatch)
    yield w
    w.stop()
