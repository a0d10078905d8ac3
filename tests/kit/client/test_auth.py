"""`SessionAuth`: the session on every request, one renewal and replay on rejection, shared by
concurrent threads."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx
import pytest
from platforge.provider._kit.client import (
    AuthenticationError,
    BaseClient,
    Redactor,
    SessionAuth,
    Transport,
    bearer,
    cookie,
)


class Server:
    """Accepts only the `valid` token (in `Authorization: Bearer`); 401 otherwise."""

    def __init__(self, valid: str = "fresh") -> None:
        self.valid = valid
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def token(self, request: httpx.Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        if self.token(request) != self.valid:
            return httpx.Response(401, json={"error": "session expired"})
        return httpx.Response(200, json={"ok": True})


class Login:
    """A login callable that hands out the given tokens in turn and counts its calls."""

    def __init__(self, *tokens: str, delay: float = 0.0) -> None:
        self.tokens = list(tokens)
        self.calls = 0
        self.delay = delay

    def __call__(self) -> str:
        self.calls += 1
        time.sleep(self.delay)  # widens the window in which other threads are rejected too
        return self.tokens.pop(0) if len(self.tokens) > 1 else self.tokens[0]


def transport(server, auth: httpx.Auth) -> Transport:
    return Transport("http://p.test", http_transport=httpx.MockTransport(server), auth=auth)


def test_the_session_is_added_to_every_request_and_logged_in_lazily():
    server, login = Server(), Login("fresh")
    auth = SessionAuth(login=login)
    t = transport(server, auth)
    assert login.calls == 0  # building the client sends nothing
    t.request("GET", "/a")
    t.request("POST", "/b", json={"x": 1})
    assert login.calls == 1
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer fresh", "Bearer fresh"]


def test_a_rejected_request_is_replayed_once_after_one_login():
    server, login = Server(), Login("fresh")
    t = transport(server, SessionAuth(login=login, token="stale"))
    response = t.request("POST", "/jobs", json={"name": "j"})  # not idempotent: replayed all the same
    assert response.status_code == 200 and login.calls == 1
    first, replay = server.requests
    assert first.headers["authorization"] == "Bearer stale" and replay.headers["authorization"] == "Bearer fresh"
    assert first is not replay and first.content == replay.content == b'{"name":"j"}'
    assert (t.stats.requests, t.stats.attempts, t.stats.retries) == (2, 2, 0)  # a replay, not a retry


def test_a_second_rejection_is_an_error_not_a_loop():
    server, login = Server(valid="never"), Login("fresh", "fresher")
    t = transport(server, SessionAuth(login=login, token="stale"))
    with pytest.raises(AuthenticationError) as info:
        t.request("GET", "/a")
    assert info.value.status == 401 and info.value.attempts == 1
    assert login.calls == 1 and len(server.requests) == 2


def test_without_a_login_a_rejection_is_returned_as_is():
    server = Server()
    auth = SessionAuth(token="stale")
    with pytest.raises(AuthenticationError):
        transport(server, auth).request("GET", "/a")
    assert len(server.requests) == 1 and not auth.can_renew
    with pytest.raises(AuthenticationError, match="cannot be renewed"):
        auth.renew()
    with pytest.raises(AuthenticationError, match="no session"):
        SessionAuth().current()


def test_concurrent_rejections_share_one_login():
    n = 8
    server, login = Server(), Login("fresh", delay=0.05)
    barrier = threading.Barrier(n, timeout=10)

    def stale_until_all_sent(request: httpx.Request) -> httpx.Response:
        if server.token(request) == "stale":
            barrier.wait()  # every thread has sent with the stale session before any is rejected
        return server(request)

    auth = SessionAuth(login=login, token="stale")
    t = transport(stale_until_all_sent, auth)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(t.request("GET", "/a").status_code)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert statuses == [200] * n
    assert login.calls == 1 and auth.logins == 1
    tokens = sorted(server.token(r) for r in server.requests)
    assert tokens == ["fresh"] * n + ["stale"] * n


def test_the_lazy_first_login_is_shared_too():
    n = 6
    server, login = Server(), Login("fresh", delay=0.05)
    t = transport(server, SessionAuth(login=login))
    threads = [threading.Thread(target=t.request, args=("GET", "/a")) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert login.calls == 1 and len(server.requests) == n


def test_tokens_are_registered_with_the_redactor_and_replaced_ones_dropped():
    redactor = Redactor()
    auth = SessionAuth(login=Login("tok-2"), token="tok-1", redactor=redactor)
    assert redactor.scrub("a tok-1 b") == "a *** b"
    auth.renew()
    assert redactor.scrub("tok-1 tok-2") == "tok-1 ***"
    assert "tok-2" not in repr(auth)


def test_renew_with_a_stale_token_keeps_a_session_renewed_meanwhile():
    login = Login("second", "third")
    auth = SessionAuth(login=login, token="first")
    assert auth.renew(stale="first") == "second"
    assert auth.renew(stale="first") == "second"  # someone already renewed "first"
    assert login.calls == 1
    assert auth.renew() == "third" and login.calls == 2  # no stale token: always log in


@pytest.mark.parametrize(
    ("apply", "header", "value"),
    [(bearer(), "authorization", "Bearer t0k"), (bearer("token"), "authorization", "token t0k"),
     (cookie("X-Session"), "cookie", "X-Session=t0k")],
)
def test_the_session_goes_where_the_platform_expects_it(apply, header, value):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    transport(handler, SessionAuth(token="t0k", apply=apply)).request("GET", "/a")
    assert seen[0].headers[header] == value


def test_a_custom_rejection_rule_such_as_a_redirect_to_the_login_page():
    answers = iter([httpx.Response(302, headers={"location": "/login"}), httpx.Response(200)])
    login = Login("fresh")
    auth = SessionAuth(login=login, token="stale", is_rejected=lambda r: "login" in r.headers.get("location", ""))
    assert transport(lambda r: next(answers), auth).request("GET", "/a").status_code == 200
    assert login.calls == 1


def test_a_login_sent_through_the_same_auth_fails_loudly_instead_of_deadlocking():
    server = Server()
    holder: dict[str, Transport] = {}

    def login() -> str:
        holder["t"].request("POST", "/login")  # wrong: no auth= of its own
        return "fresh"

    holder["t"] = transport(server, SessionAuth(login=login))
    with pytest.raises(RuntimeError, match="own auth="):
        holder["t"].request("GET", "/a")


def test_a_login_with_its_own_auth_overrides_the_session():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/login":
            return httpx.Response(200, json={"token": "fresh"})
        return httpx.Response(200)

    holder: dict[str, Transport] = {}
    auth = SessionAuth(login=lambda: holder["t"].request("POST", "/login", auth=("u", "pw")).json()["token"])
    holder["t"] = transport(handler, auth)
    holder["t"].request("GET", "/a")
    assert [r.url.path for r in seen] == ["/login", "/a"]
    assert seen[0].headers["authorization"].startswith("Basic ") and seen[1].headers["authorization"] == "Bearer fresh"


def test_renewal_is_logged_without_the_token(caplog):
    with caplog.at_level(logging.DEBUG, logger="platforge"):
        transport(Server(), SessionAuth(login=Login("fresh"), token="stale")).request("GET", "/a")
    assert "session rejected; logging in again" in caplog.text
    assert "fresh" not in caplog.text and "stale" not in caplog.text


def test_session_auth_is_synchronous_only():
    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(Server()), auth=SessionAuth(token="t")) as client:
            await client.get("http://p.test/a")

    with pytest.raises(RuntimeError, match="synchronous"):
        asyncio.run(main())


def test_a_base_client_sends_through_its_auth_and_cannot_be_pickled():
    import pickle

    server, login = Server(), Login("fresh")
    with BaseClient("http://p.test", auth=SessionAuth(login=login, token="stale"),
                    http_transport=httpx.MockTransport(server)) as client:
        assert client.request("GET", "/a").json() == {"ok": True}
        assert client.stats.requests == 2 and login.calls == 1
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(client)
