"""Fakes for the client tests: a recording Datatailr server for `httpx.MockTransport`; the fake
clock and RNG are the client kit's (`tests/kit/client/fakes.py`)."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from platforge.provider.datatailr import DatatailrClient, PasswordLogin, RetryPolicy, TokenLogin

from tests.kit.client.fakes import FakeTime, TopOfRange

__all__ = ["FakeDatatailr", "FakeTime", "TopOfRange", "body", "err", "ok", "query"]

BASE_URL = "http://dt.test"
PASSWORD = "pw-Secret-123"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJwcmVmZXJyZWRfdXNlcm5hbWUiOiJhbGljZSJ9.c2lnbmF0dXJl"


def ok(result: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"result": result}, headers=headers)


def err(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": message}, headers=headers)


def query(request: httpx.Request) -> dict[str, str]:
    """The query as sent, in order (a repeated key would show up as a lost entry)."""
    pairs = parse_qsl(request.url.query.decode(), keep_blank_values=True)
    assert len(pairs) == len(dict(pairs)), f"repeated query key in {request.url}"
    return dict(pairs)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


class FakeDatatailr:
    """Records every request; answers `/login` with a session cookie and `/api/*` from a queue
    of responses (or a handler). Asserts the wire invariants on every request: no `None`, no
    Python list repr, JSON content type with a body."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.responses: deque[httpx.Response | Exception | Callable] = deque()
        self.handler = handler
        self.tokens = deque([JWT])
        self.logins = 0
        self.login_reply: httpx.Response | None = None  # overrides the cookie-setting reply

    def queue(self, *responses: httpx.Response | Exception) -> FakeDatatailr:
        self.responses.extend(responses)
        return self

    @property
    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith("/api/")]

    @property
    def last(self) -> httpx.Request:
        return self.api_requests[-1]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self._check_wire(request)
        if request.url.path == "/login":
            self.logins += 1
            if self.login_reply is not None:
                return self.login_reply
            token = self.tokens[0] if len(self.tokens) == 1 else self.tokens.popleft()
            return httpx.Response(
                200, json={"result": {"id_token": "not-used"}},
                headers={"set-cookie": f"X-Datatailr-Oidc-Data={token}; HttpOnly; Path=/; SameSite=lax"},
            )
        if self.responses:
            item = self.responses.popleft()
            if isinstance(item, Exception):
                raise item
            return item(request) if callable(item) and not isinstance(item, httpx.Response) else item
        if self.handler is not None:
            return self.handler(request)
        return ok("done")

    @staticmethod
    def _check_wire(request: httpx.Request) -> None:
        values = list(query(request).values())
        if request.content:
            assert request.headers["content-type"] == "application/json"
            data = body(request)
            assert isinstance(data, dict) and data, "a body is a non-empty JSON object"
            values += [v for v in data.values() if isinstance(v, str)]
            assert None not in data.values()
        for value in values:
            assert value != "None", f"None sent on the wire: {request.method} {request.url}"
            assert not (value.startswith("['") or value.startswith("[\"")), f"Python repr sent: {value!r}"


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def server() -> FakeDatatailr:
    return FakeDatatailr()


@pytest.fixture
def make_client(fake_time: FakeTime):
    clients: list[DatatailrClient] = []

    def make(server: FakeDatatailr, *, token: bool = False, **kwargs: Any) -> DatatailrClient:
        credentials = TokenLogin(JWT) if token else PasswordLogin("alice", PASSWORD)
        kwargs.setdefault("retry", RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_cap=4.0))
        kwargs.setdefault("rng", TopOfRange())
        client = DatatailrClient(
            BASE_URL, credentials, http_transport=httpx.MockTransport(server),
            sleep=fake_time.sleep, wall_clock=fake_time.clock, **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client, server: FakeDatatailr) -> DatatailrClient:
    return make_client(server)
