"""Tailer sandboxes for the tests: each over its own SQLite file on a free 127.0.0.1 port, with
credentials generated per run, and httpx clients holding an ID token from the sandbox's own
token exchange (F1), as every Tailer client gets one."""

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

F1 = "/securetoken/v1/token"


@dataclass
class Tailer:
    url: str
    db_path: str
    refresh_token: str = field(repr=False)
    api_key: str = field(repr=False)
    access_log: str | None
    app: Any = field(repr=False)
    server: EmbeddedServer = field(repr=False)
    clients: list[httpx.Client] = field(default_factory=list, repr=False)

    def raw(self, **kwargs: Any) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=30, trust_env=False, **kwargs)
        self.clients.append(c)
        return c

    def exchange(self, refresh_token: str | None = None, key: str | None = None) -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=30, trust_env=False) as c:
            return c.post(F1, params={"key": self.api_key if key is None else key},
                          json={"grantType": "refresh_token", "refreshToken": refresh_token or self.refresh_token})

    def id_token(self) -> str:
        response = self.exchange()
        assert response.status_code == 200, response.text
        token: str = response.json()["id_token"]
        return token

    def client(self, token: str | None = None) -> httpx.Client:
        """A client with `Authorization: Bearer <ID token>` (a fresh one unless given; "" for none)."""
        token = self.id_token() if token is None else token
        return self.raw(headers={"authorization": f"Bearer {token}"} if token else {})

    def access_lines(self) -> list[dict[str, Any]]:
        import json

        assert self.access_log is not None
        return [json.loads(line) for line in Path(self.access_log).read_text().splitlines()]

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        self.server.stop()


TailerFactory = Callable[..., Tailer]


@pytest.fixture(scope="session")
def rsa_key() -> str:
    """One RSA key per test process: generating one takes about half a second."""
    from platforge.provider.tailer.sandbox.crypto import Keys

    return Keys.generate()


def start_tailer(directory: Path, index: int, *, rsa_key: str | None, db_path: str | None = None,
                 access_log: bool = False, **kwargs: Any) -> Tailer:
    from platforge.provider.tailer.sandbox import SandboxConfig, create_app

    fault_keys = set(FaultConfig.__dataclass_fields__)
    faults = FaultConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in fault_keys})
    refresh = kwargs.pop("refresh_token", None) or secrets.token_urlsafe(32)
    api_key = kwargs.pop("firebase_api_key", None) or secrets.token_urlsafe(24)
    db = db_path or str(directory / f"tailer-{index}.db")
    log = str(directory / f"access-{index}.jsonl") if access_log else None
    config = SandboxConfig(db_path=db, refresh_token=refresh, firebase_api_key=api_key, access_log=log, faults=faults,
                           rsa_private_key=rsa_key, **kwargs)
    app = create_app(config)
    server = EmbeddedServer(app).start()
    return Tailer(server.url, db, refresh, api_key, log, app, server)


@pytest.fixture
def tailer_factory(tmp_path: Path, rsa_key: str) -> Iterator[TailerFactory]:
    running: list[Tailer] = []

    def start(**kwargs: Any) -> Tailer:
        kwargs.setdefault("rsa_key", rsa_key)
        box = start_tailer(tmp_path, len(running), **kwargs)
        running.append(box)
        return box

    yield start
    for box in running:
        box.stop()


@pytest.fixture(scope="module")
def shared_tailer(tmp_path_factory: pytest.TempPathFactory, rsa_key: str) -> Iterator[Tailer]:
    """One sandbox for a module's tests that only read, or only get refused (each checks that a
    refusal stored nothing), so that they do not pay a sandbox start each."""
    box = start_tailer(tmp_path_factory.mktemp("tailer-shared"), 0, rsa_key=rsa_key, access_log=True)
    yield box
    box.stop()


@pytest.fixture
def tailer(tailer_factory: TailerFactory) -> Tailer:
    return tailer_factory(access_log=True)


@pytest.fixture
def api(tailer: Tailer) -> httpx.Client:
    return tailer.client()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json()


def proxy_error(response: httpx.Response, status: int) -> str:
    """The proxy's error body `{"payload": {"message"}}`, after checking status and shape."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"payload"} and set(body["payload"]) == {"message"}, body
    message: str = body["payload"]["message"]
    assert isinstance(message, str) and message
    return message


def ops_error(response: httpx.Response, status: int) -> str:
    """The ops API's error body `{"code", "data": {}, "message"}`."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert body["code"] == status and body["data"] == {} and set(body) == {"code", "data", "message"}, body
    message: str = body["message"]
    assert message
    return message


def firebase_error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == status, body
    message: str = body["error"]["message"]
    return message
