"""Dataloop sandboxes for the route tests: each over its own SQLite file on a free 127.0.0.1
port, with httpx clients that log in as dtlpy does (`POST /token?default` with e-mail and
password, then `Authorization: Bearer <id_token>`)."""

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

API = "/api/v1"


@dataclass
class Dataloop:
    url: str
    db_path: str
    admin_email: str
    admin_password: str
    access_log: str | None
    app: Any = field(repr=False)
    server: EmbeddedServer = field(repr=False)
    clients: list[httpx.Client] = field(default_factory=list, repr=False)

    def login(self, email: str | None = None, password: str | None = None) -> dict[str, str]:
        from platforge.provider.dataloop.sandbox import login

        return login(self.url, email or self.admin_email, password or self.admin_password)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """A client under /api/v1 with a bearer token (the administrator's unless given; "" for none)."""
        if token is None:
            token = self.login()["id_token"]
        headers = {"authorization": f"Bearer {token}"} if token else {}
        c = httpx.Client(base_url=self.url + API, headers=headers, timeout=30, trust_env=False, **kwargs)
        self.clients.append(c)
        return c

    def user(self, email: str, password: str | None = None) -> httpx.Client:
        """A new user with a password, logged in (member of nothing yet)."""
        from platforge.provider.dataloop.sandbox import add_user

        password = password or "pw-" + secrets.token_urlsafe(12)
        add_user(self.app, email, password)
        return self.client(self.login(email, password)["id_token"])

    @property
    def org_id(self) -> str:
        with self.app.state.store.read() as db:
            return str(db.scalar("SELECT id FROM dl_orgs ORDER BY rowid LIMIT 1"))

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        self.server.stop()


DataloopFactory = Callable[..., Dataloop]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Dataloop's error body, after checking status and shape."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"name", "message", "status"}, body
    assert body["status"] == status and isinstance(body["message"], str) and body["message"]
    return body


@pytest.fixture
def dataloop_factory(tmp_path: Path) -> Iterator[DataloopFactory]:
    from platforge.provider.dataloop.sandbox import SandboxConfig, create_app

    running: list[Dataloop] = []

    def start(db_path: str | None = None, access_log: bool = False, admin_password: str | None = None,
              **kwargs: Any) -> Dataloop:
        fault_keys = set(FaultConfig.__dataclass_fields__)
        faults = FaultConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in fault_keys})
        password = admin_password or "pw-" + secrets.token_urlsafe(12)
        db = db_path or str(tmp_path / f"dataloop-{len(running)}.db")
        log = str(tmp_path / f"access-{len(running)}.jsonl") if access_log else None
        config = SandboxConfig(db_path=db, admin_password=password, access_log=log, faults=faults, **kwargs)
        app = create_app(config)
        server = EmbeddedServer(app).start()
        box = Dataloop(server.url, db, config.admin_email, password, log, app, server)
        running.append(box)
        return box

    yield start
    for box in running:
        box.stop()


@pytest.fixture
def dataloop(dataloop_factory: DataloopFactory) -> Dataloop:
    return dataloop_factory()


@pytest.fixture
def admin(dataloop: Dataloop) -> httpx.Client:
    return dataloop.client()


@pytest.fixture
def project(admin: httpx.Client) -> dict[str, Any]:
    return ok(admin.post("/projects", data={"name": "proj-a"}))
