"""Dataiku sandboxes for the route tests: each over its own SQLite file on a free 127.0.0.1
port, with httpx clients that authenticate as DSS clients do (the API key as the Basic user name,
an empty password)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from platforge.provider._kit.sandbox.faults import FaultConfig
from platforge.provider._kit.sandbox.serve import EmbeddedServer

PREFIX = "/dip/publicapi"


@dataclass
class DSS:
    url: str
    admin_key: str
    db_path: str
    access_log: str | None
    app: Any = field(repr=False)
    server: EmbeddedServer = field(repr=False)
    clients: list[httpx.Client] = field(default_factory=list, repr=False)

    def client(self, key: str | None = None, prefix: str = PREFIX, **kwargs: Any) -> httpx.Client:
        auth = (self.admin_key if key is None else key, "")
        c = httpx.Client(base_url=self.url + prefix, auth=auth, timeout=30, trust_env=False, **kwargs)
        self.clients.append(c)
        return c

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        self.server.stop()


DSSFactory = Callable[..., DSS]


def send(client: httpx.Client, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    """A request as dataikuapi sends it: a JSON body with no Content-Type header."""
    content = None if body is None else json.dumps(body)
    return client.request(method, path, content=content, **kwargs)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def error(response: httpx.Response, status: int, error_type: str | None = None) -> dict:
    """The DSS error body, after checking its status and shape."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"errorType", "message", "detailedMessage", "detailedMessageHTML", "stackTraceStr"}, body
    assert body["message"] and body["detailedMessage"] == body["message"]
    if error_type is not None:
        assert body["errorType"] == error_type, body
    return body


@pytest.fixture
def dss_factory(tmp_path: Path) -> Iterator[DSSFactory]:
    from platforge.provider.dataiku.sandbox import SandboxConfig, create_app

    running: list[DSS] = []

    def start(db_path: str | None = None, access_log: bool = False, admin_api_key: str | None = None, **kwargs: Any) -> DSS:
        fault_keys = set(FaultConfig.__dataclass_fields__)
        faults = FaultConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in fault_keys})
        key = admin_api_key or "admin-" + secrets.token_urlsafe(18)
        db = db_path or str(tmp_path / f"dss-{len(running)}.db")
        log = str(tmp_path / f"access-{len(running)}.jsonl") if access_log else None
        kwargs.setdefault("build_seconds", 0.05)
        config = SandboxConfig(db_path=db, admin_api_key=key, access_log=log, faults=faults, **kwargs)
        app = create_app(config)
        server = EmbeddedServer(app).start()
        box = DSS(server.url, key, db, log, app, server)
        running.append(box)
        return box

    yield start
    for box in running:
        box.stop()


@pytest.fixture
def dss(dss_factory: DSSFactory) -> DSS:
    return dss_factory()


@pytest.fixture
def admin(dss: DSS) -> httpx.Client:
    return dss.client()
