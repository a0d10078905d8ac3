"""HTTP helpers for the sandbox route tests: signed-in httpx clients for the admin and for
ordinary users created on the fly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import RunningSandbox

UserFactory = Callable[..., httpx.Client]


def login(url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    response = client.post("/login", params={"response_type": "id_token"}, auth=(username, password))
    assert response.status_code == 200, response.text
    return client


@contextmanager
def signed_in(url: str, username: str, password: str) -> Iterator[httpx.Client]:
    client = login(url, username, password)
    try:
        yield client
    finally:
        client.close()


def result(response: httpx.Response, status: int = 200):
    """The `result` of a success envelope, or the `error` of an error envelope, after checking
    the status code."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert isinstance(body, dict)
    if status >= 400:
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
        return body["error"]
    assert set(body) == {"result"}
    return body["result"]


@pytest.fixture
def admin(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    client = login(sandbox.url, sandbox.admin_user, sandbox.admin_password)
    yield client
    client.close()


@pytest.fixture
def make_user(sandbox: RunningSandbox, admin: httpx.Client) -> Iterator[UserFactory]:
    """`make_user("bob", groups="dtusers,analysts")` creates bob and returns his signed-in client."""
    clients: list[httpx.Client] = []

    def make(name: str, groups: str | None = None, password: str | None = None) -> httpx.Client:
        password = password or f"pw-{name}-1"
        body = {"username": name, "password": password, "first-name": name.title(), "last-name": "Test"}
        if groups is not None:
            body["groups"] = groups
        result(admin.post("/api/user/add", json=body))
        client = login(sandbox.url, name, password)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
