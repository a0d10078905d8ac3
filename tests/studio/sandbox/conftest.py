"""Studio sandboxes for the route tests: each over its own SQLite file on a free 127.0.0.1 port,
with httpx clients that send `Authorization: token <t>` as the `datachain` client does (or
`Bearer`, as the seed documents)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from platforge.provider._kit.sandbox.faults import FaultConfig
from platforge.provider._kit.sandbox.serve import EmbeddedServer

API = "/api"
TEAM = "acme"


@dataclass
class Studio:
    url: str
    db_path: str
    token: str
    team: str
    access_log: str | None
    app: Any = field(repr=False)
    server: EmbeddedServer = field(repr=False)
    clients: list[httpx.Client] = field(default_factory=list, repr=False)

    def client(self, token: str | None = None, scheme: str = "token", **kwargs: Any) -> httpx.Client:
        """A client under /api with a token (the administrator's unless given; "" for none)."""
        token = self.token if token is None else token
        headers = {"authorization": f"{scheme} {token}"} if token else {}
        c = httpx.Client(base_url=self.url + API, headers=headers, timeout=30, trust_env=False, **kwargs)
        self.clients.append(c)
        return c

    def user(self, username: str, *, teams: tuple[str, ...] | None = None, role: str = "member") -> tuple[int, httpx.Client]:
        """A new user of the sandbox and a client acting as them."""
        from platforge.provider.studio.sandbox import add_user

        made = add_user(self.app, username, teams=teams, role=role)
        return made["user_id"], self.client(made["token"])

    def team_named(self, name: str) -> None:
        from platforge.provider.studio.sandbox import add_team

        add_team(self.app, name)

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        self.server.stop()


StudioFactory = Callable[..., Studio]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Studio's error body, after checking status and shape: `message` for the datachain client,
    `detail` for the device-login client."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"message", "detail"}, body
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.fixture
def studio_factory(tmp_path: Path) -> Iterator[StudioFactory]:
    from platforge.provider.studio.sandbox import SandboxConfig, create_app

    running: list[Studio] = []

    def start(db_path: str | None = None, access_log: bool = False, token: str | None = None, team: str = TEAM,
              **kwargs: Any) -> Studio:
        fault_keys = set(FaultConfig.__dataclass_fields__)
        faults = FaultConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in fault_keys})
        token = token or "isat_" + secrets.token_urlsafe(24)
        db = db_path or str(tmp_path / f"studio-{len(running)}.db")
        log = str(tmp_path / f"access-{len(running)}.jsonl") if access_log else None
        config = SandboxConfig(db_path=db, token=token, team=team, access_log=log, faults=faults, **kwargs)
        app = create_app(config)
        server = EmbeddedServer(app).start()
        box = Studio(server.url, db, token, team, log, app, server)
        running.append(box)
        return box

    yield start
    for box in running:
        box.stop()


@pytest.fixture
def studio(studio_factory: StudioFactory) -> Studio:
    return studio_factory()


@pytest.fixture
def admin(studio: Studio) -> httpx.Client:
    return studio.client()


@pytest.fixture
def definition(admin: httpx.Client) -> dict[str, Any]:
    """A pipeline definition of the team, paused for review (as `datachain pipeline create` makes one)."""
    return ok(admin.post("/datachain/pipeline/trigger", json={"datasets": ["@alice.proj.ds"], "review": True,
                                                               "team_name": TEAM}))["pipeline"]
