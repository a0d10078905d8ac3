"""End-to-end fixtures: an embedded Studio sandbox with an access log, its administrator's token
in the environment, users and a pipeline seeded through the sandbox's own routes, and stack
directories pointed at it, run through the `platforge` command line."""

from __future__ import annotations

import json
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from platforge.provider.sandbox import EmbeddedServer
from platforge.provider.studio.sandbox import SandboxConfig, create_app

from tests.cli_run import CliResult, run_cli

TEAM = "acme"
TOKEN_ENV = "DATACHAIN_STUDIO_TOKEN"


#: Requests that read, whatever their method: Studio reads with GETs, and the device login's two
#: POSTs (which platforge never sends) change nothing of the team's.
READ_POSTS = frozenset({"/api/device-login", "/api/token"})


class World:
    """One sandbox, its administrator's token, helpers to run the CLI, count writes and change
    Studio by hand (plain HTTP, as any other client would)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.token = "isat_" + secrets.token_urlsafe(32)
        self.access_log = str(tmp_path / "access.jsonl")
        config = SandboxConfig(db_path=str(tmp_path / "studio.db"), token=self.token, team=TEAM,
                               access_log=self.access_log)
        self.server = EmbeddedServer(create_app(config)).start()
        self.url = self.server.url
        monkeypatch.setenv(TOKEN_ENV, self.token)
        monkeypatch.delenv("PLATFORGE_FINGERPRINT_KEY", raising=False)
        self._http = httpx.Client(base_url=f"{self.url}/api", headers={"Authorization": f"token {self.token}"})

    def stop(self) -> None:
        self._http.close()
        self.server.stop()

    def stack(self, body: str, name: str = "stack", platform: str = "", team: str = TEAM) -> Path:
        target = self.tmp_path / name
        target.mkdir(exist_ok=True)
        header = f'[platform]\ntype = "studio"\nendpoint = "{self.url}"\nteam = "{team}"\n{platform}\n'
        (target / "main.toml").write_text(header + textwrap.dedent(body), encoding="utf-8")
        return target

    def cli(self, *args: object) -> CliResult:
        return run_cli(*args)

    def log_lines(self) -> list[dict[str, Any]]:
        with open(self.access_log, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def mark(self) -> int:
        return len(self.log_lines())

    def requests_since(self, mark: int) -> list[dict[str, Any]]:
        return self.log_lines()[mark:]

    def writes_since(self, mark: int) -> list[dict[str, Any]]:
        """Requests that change something: not GETs, and not the POSTs that only read."""
        return [r for r in self.requests_since(mark)
                if r["method"] != "GET" and str(r.get("path", "")).split("?")[0] not in READ_POSTS]

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """A request as any other client of the team would send it (not through platforge)."""
        if method == "GET":
            params.setdefault("team_name", TEAM)
        elif body is not None or method == "POST":
            body = {**(body or {}), "team_name": TEAM}
        response = self._http.request(method, path, json=body, params=params or None)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def add_user(self, username: str, email: str) -> int:
        return int(self.call("POST", "/sandbox/users", {"username": username, "email": email})["user_id"])

    def pipeline(self) -> dict[str, Any]:
        """A pipeline definition, built from a dataset's lineage as `datachain pipeline create` does."""
        answer = self.call("POST", "/datachain/pipeline/trigger", {"datasets": ["@alice.proj.ds"], "review": True})
        return dict(answer["pipeline"])

    def group(self, name: str) -> dict[str, Any]:
        (group,) = [g for g in self.call("GET", "/datachain/rbac/access-groups/") if g["name"] == name]
        return dict(group)

    def members(self, name: str) -> dict[str, str]:
        gid = self.group(name)["id"]
        return {m["email"]: m["role"] for m in self.call("GET", f"/datachain/rbac/access-groups/{gid}/members/")}

    def rules(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/datachain/rbac/access-rules/"))

    def schedules(self) -> dict[str, dict[str, Any]]:
        return {s["schedule_name"]: s for s in self.call("GET", "/datachain/pipeline/schedules")}

    def pipeline_status(self, name: str) -> str:
        return str(self.call("GET", "/datachain/pipeline/status", name=name)["status"])


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World(tmp_path, monkeypatch)
    yield w
    w.stop()
