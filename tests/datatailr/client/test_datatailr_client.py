"""`DatatailrClient`: login, re-login on 401, configuration, secrets, and the retry safety of
each typed call."""

from __future__ import annotations

import base64
import pickle
from collections import deque

import httpx
import pytest
from platforge.provider._kit.client import BaseClient, PagingError, SessionAuth
from platforge.provider.datatailr import (
    Acl,
    AuthenticationError,
    ConfigurationError,
    DatatailrClient,
    NotFound,
    PasswordLogin,
    RateLimited,
    ServerError,
    TokenLogin,
    TransportError,
    normalize_base_url,
)

from .conftest import JWT, PASSWORD, FakeDatatailr, err, ok, query

# ── login and session ──────────────────────────────────────────────────────────────────────


def test_password_login_is_lazy_and_uses_basic_auth(client, server):
    assert server.requests == []
    server.queue(ok([]))
    client.users.ls()
    login, call = server.requests
    assert (login.method, login.url.path, query(login)) == ("POST", "/login", {"response_type": "id_token"})
    assert login.headers["authorization"] == "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert login.content == b"" and "cookie" not in login.headers
    assert call.headers["cookie"] == f"X-Datatailr-Oidc-Data={JWT}"
    assert "authorization" not in call.headers


def test_token_login_sends_the_cookie_and_never_logs_in(make_client, server):
    client = make_client(server, token=True)
    server.queue(ok([]))
    client.users.ls()
    assert [r.url.path for r in server.requests] == ["/api/user/ls"]
    assert server.last.headers["cookie"] == f"X-Datatailr-Oidc-Data={JWT}"


def test_a_401_mid_session_logs_in_again_once_and_retries(client, server):
    server.tokens.extend(["first-token", "second-token"])
    server.tokens.popleft()  # drop the default so the queue is exactly [first, second]
    server.queue(ok([]), err(401, "Session expired - please log in again"), ok({"name": "x", "user_id": 1}))
    client.users.ls()
    user = client.users.get("x")  # a 401, a new login, the same request again
    assert user.name == "x"
    paths = [r.url.path for r in server.requests]
    assert paths == ["/login", "/api/user/ls", "/api/user/get", "/login", "/api/user/get"]
    assert server.requests[2].headers["cookie"].endswith("first-token")
    assert server.requests[4].headers["cookie"].endswith("second-token")


def test_the_retry_after_re_login_applies_to_non_idempotent_posts(client, server):
    server.queue(err(401, "expired"), ok({"group_id": 5, "name": "g", "members": []}))
    assert client.groups.add("g").group_id == 5
    assert [r.url.path for r in server.requests] == ["/login", "/api/group/add", "/login", "/api/group/add"]


def test_a_second_401_is_raised(client, server):
    server.queue(err(401, "expired"), err(401, "still expired"))
    with pytest.raises(AuthenticationError, match="still expired"):
        client.users.ls()
    assert server.logins == 2


def test_a_redirect_to_the_login_page_also_triggers_re_login(client, server):
    server.queue(httpx.Response(302, headers={"location": "https://dt.test/login"}), ok(True))
    assert client.users.exists("bob") is True
    assert server.logins == 2


def test_token_only_client_raises_on_401(make_client, server):
    client = make_client(server, token=True)
    server.queue(err(401, "Invalid session token"))
    with pytest.raises(AuthenticationError) as info:
        client.users.ls()
    assert info.value.status == 401 and server.logins == 0
    with pytest.raises(AuthenticationError, match="cannot log in"):
        client.login()


def test_wrong_password_is_a_clear_authentication_error(client, server):
    server.login_reply = err(401, "Login failed: invalid username or password.")
    with pytest.raises(AuthenticationError) as info:
        client.users.ls()
    assert str(info.value) == ("POST /login failed with HTTP 401: login as 'alice' failed: "
                               "invalid username or password")
    assert PASSWORD not in repr(info.value)
    assert server.api_requests == []


def test_login_without_a_cookie_fails(client, server):
    server.login_reply = ok({"id_token": "x"})
    with pytest.raises(AuthenticationError, match="no X-Datatailr-Oidc-Data cookie"):
        client.login()


# ── configuration ──────────────────────────────────────────────────────────────────────────


def test_from_env_with_password(monkeypatch):
    env = {"DATATAILR_BASE_URL": " http://dt.test/ ", "DATATAILR_USER_NAME": "alice",
           "DATATAILR_USER_PASSWORD": PASSWORD}
    with DatatailrClient.from_env(env) as client:
        assert client.base_url == "http://dt.test"
        assert repr(client) == "DatatailrClient('http://dt.test', user='alice')"


def test_from_env_with_jwt_and_custom_names():
    env = {"MY_URL": "https://dt.example.com", "MY_TOKEN": JWT}
    with DatatailrClient.from_env(env, base_url_var="MY_URL", jwt_var="MY_TOKEN") as client:
        assert repr(client) == "DatatailrClient('https://dt.example.com', auth='token')"


def test_from_env_with_both_prefers_password_and_starts_with_the_jwt(server):
    env = {"DATATAILR_BASE_URL": "http://dt.test", "DATATAILR_JWT": "given-jwt",
           "DATATAILR_USER_NAME": "alice", "DATATAILR_USER_PASSWORD": PASSWORD}
    with DatatailrClient.from_env(env, http_transport=httpx.MockTransport(server)) as client:
        server.queue(err(401, "expired"), ok([]))
        client.users.ls()
    assert server.requests[0].headers["cookie"].endswith("given-jwt")
    assert server.logins == 1


def test_from_env_reads_os_environ(monkeypatch):
    monkeypatch.setenv("DATATAILR_BASE_URL", "http://localhost:1")
    monkeypatch.setenv("DATATAILR_JWT", JWT)
    monkeypatch.delenv("DATATAILR_USER_NAME", raising=False)
    monkeypatch.delenv("DATATAILR_USER_PASSWORD", raising=False)
    with DatatailrClient.from_env() as client:
        assert "token" in repr(client)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "DATATAILR_BASE_URL is not set"),
        ({"DATATAILR_BASE_URL": "http://x"}, "set DATATAILR_JWT, or DATATAILR_USER_NAME and DATATAILR_USER_PASSWORD"),
        ({"DATATAILR_BASE_URL": "http://x", "DATATAILR_USER_NAME": "a"}, "DATATAILR_USER_PASSWORD is not set"),
        ({"DATATAILR_BASE_URL": "http://x", "DATATAILR_USER_PASSWORD": "hunter2"}, "DATATAILR_USER_NAME is not set"),
    ],
)
def test_from_env_errors_name_variables_not_values(env, message):
    with pytest.raises(ConfigurationError) as info:
        DatatailrClient.from_env(env)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "dt.example.com", "ftp://x", "http://", "",
                                 "http://user:pw@dt.test"])
def test_base_url_needs_an_explicit_scheme_and_no_credentials(url):
    with pytest.raises(ConfigurationError) as info:
        normalize_base_url(url)
    assert "pw" not in str(info.value)


# ── secrets never leak ─────────────────────────────────────────────────────────────────────


def test_no_secret_in_repr_or_pickle(make_client, server):
    client = make_client(server)
    server.queue(ok([]))
    client.users.ls()
    for text in (repr(client), repr(client._credentials), str(client._credentials), repr(client.transport),
                 repr(TokenLogin(JWT)), repr(PasswordLogin("alice", PASSWORD))):
        assert PASSWORD not in text and JWT not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(client)


def test_server_echoes_of_secrets_are_masked(client, server):
    """Credentials, the session token and a secret's value never appear in an error."""

    def echo(request: httpx.Request) -> httpx.Response:
        return err(400, f"bad request {request.content.decode()} cookie={request.headers['cookie']} pw={PASSWORD}")

    server.handler = echo
    with pytest.raises(Exception) as info:
        client.secrets.put("db_password", "hunter2-secret-value", acl=Acl(users={"alice": "r"}))
    error = info.value
    for text in (str(error), repr(error), repr(error.args)):
        assert "hunter2-secret-value" not in text
        assert JWT not in text
        assert PASSWORD not in text
    assert "***" in error.message
    with pytest.raises(Exception) as info:
        client.users.add("carol", password="carols-password")
    assert "carols-password" not in str(info.value)


def test_messages_of_transport_failures_do_not_echo_bodies(make_client):
    server = FakeDatatailr()
    client = make_client(server)
    server.queue(httpx.RemoteProtocolError("peer closed connection"))
    with pytest.raises(TransportError) as info:
        client.jobs.save({"type": "app", "env": [{"DATATAILR_JOB_ENV_TOKEN": "value-with-secret-ish-content"}]})
    assert "value-with-secret-ish-content" not in str(info.value)
    assert info.value.request_sent is True and info.value.attempts == 1
    assert info.value.method == "POST" and info.value.path == "/api/job/save"


# ── retry safety per typed call ────────────────────────────────────────────────────────────

DROPPED = httpx.RemoteProtocolError("peer closed connection without sending complete message body")


# An apply's writes are never sent again after an ambiguous failure (the applier decides from
# live state); only reads and the state backend's own objects are.
@pytest.mark.parametrize(
    ("name", "call", "retried"),
    [
        ("user add (POST)", lambda c: c.users.add("carol"), False),
        ("group add (POST)", lambda c: c.groups.add("g"), False),
        ("group add-users (POST, set-add)", lambda c: c.groups.add_users("g", ["a"]), False),
        ("group rm-users (DELETE)", lambda c: c.groups.rm_users("g", ["a"]), False),
        ("group rename (PUT, not idempotent)", lambda c: c.groups.rename("g", "h"), False),
        ("user modify (PUT)", lambda c: c.users.modify("u", first_name="U"), False),
        ("user rename (PUT, not idempotent)", lambda c: c.users.modify("u", new_name="v"), False),
        ("user disable (POST, sets state)", lambda c: c.users.disable("u"), False),
        ("user add-to-group (POST, set-add)", lambda c: c.users.add_to_group("u", "g"), False),
        ("kv put (PUT)", lambda c: c.kv.put("k", "v"), False),
        ("kv set-acls (POST, replace)", lambda c: c.kv.set_acls("k", Acl()), False),
        ("kv add-acls (POST, merge)", lambda c: c.kv.add_acls("k", Acl()), False),
        ("blob put (POST, replace)", lambda c: c.blobs.put("blob://b/x", b"x"), True),
        ("blob set-acl (POST, replace)", lambda c: c.blobs.set_acl("x", Acl()), True),
        ("job save (POST, new version)", lambda c: c.jobs.save({"type": "app"}), False),
        ("job start (POST, new run)", lambda c: c.jobs.start("j"), False),
        ("job promote (POST)", lambda c: c.jobs.promote("j", 1, "dev"), False),
        ("job rm current (DELETE, not idempotent)", lambda c: c.jobs.rm("j"), False),
        ("job rm version (DELETE)", lambda c: c.jobs.rm("j", version=2), False),
        ("job rm all (DELETE)", lambda c: c.jobs.rm("j", all_versions=True), False),
        ("job restore latest (POST)", lambda c: c.jobs.restore("j"), False),
        ("job restore version (POST)", lambda c: c.jobs.restore("j", version=1), False),
        ("job modify (PUT)", lambda c: c.jobs.modify("j", memory="1g"), False),
        ("job stop (DELETE)", lambda c: c.jobs.stop("j"), False),
        ("user get (GET)", lambda c: c.users.get("u"), True),
    ],
)
@pytest.mark.parametrize("failure", ["dropped", "503"])
def test_retry_safety_of_each_call(make_client, name, call, retried, failure):
    server = FakeDatatailr(lambda r: ok({"name": "u", "user_id": 1, "group_id": 1, "versions": {}}))
    client = make_client(server)
    server.queue(DROPPED if failure == "dropped" else err(503, "unavailable"))
    if retried:
        call(client)
        assert len(server.api_requests) == 2
    else:
        with pytest.raises((TransportError, ServerError)):
            call(client)
        assert len(server.api_requests) == 1


def test_429_is_retried_even_for_a_non_idempotent_post(client, server, fake_time):
    server.queue(err(429, "Too many requests", {"Retry-After": "2"}), ok({"versions": {"id": 3}}))
    assert client.jobs.save({"type": "app"}).versions == {"id": 3}
    # waited out once, by the client's limiter, which holds every caller until Retry-After
    assert len(fake_time.sleeps) == 1 and fake_time.sleeps[0] == pytest.approx(2.0, abs=0.05)


def test_a_connect_error_is_retried_even_for_a_non_idempotent_post(client, server):
    server.queue(httpx.ConnectError("refused"), ok({"versions": {}}))
    client.jobs.save({"type": "app"})
    assert len(server.api_requests) == 2


def test_rate_limited_error_carries_retry_after(make_client, server):
    from platforge.provider.datatailr import RetryPolicy

    client = make_client(server, retry=RetryPolicy.never())
    server.queue(err(429, "Too many requests", {"Retry-After": "5"}))
    with pytest.raises(RateLimited) as info:
        client.users.ls()
    assert info.value.retry_after == 5.0
    assert str(info.value) == "GET /api/user/ls failed with HTTP 429: Too many requests"


def test_client_side_rate_limit_is_shared_by_all_calls(make_client, server, fake_time):
    from platforge.provider._kit.client import RateLimiter

    limiter = RateLimiter(rate=10, burst=1, clock=fake_time.clock, sleep=fake_time.sleep)
    client = make_client(server, rate_limiter=limiter)
    server.queue(ok([]), ok(True), ok("v"))
    client.users.ls()  # the login takes a token too
    client.groups.exists("g")
    client.kv.get("k")
    assert fake_time.sleeps == pytest.approx([0.1, 0.1, 0.1])


# ── complete paging through the typed calls ────────────────────────────────────────────────


def test_kv_ls_pages_until_done(make_client, server):
    client = make_client(server, page_size=2)
    items = [{"key": f"k{i}", "environment": "dev"} for i in range(5)]

    def kv_ls(request: httpx.Request) -> httpx.Response:
        q = query(request)
        start, size = int(q["offset"]), int(q["batch-size"])
        return ok({"items": items[start: start + size], "total": len(items)})

    server.handler = kv_ls
    assert [e.key for e in client.kv.ls()] == [f"k{i}" for i in range(5)]
    assert [query(r)["offset"] for r in server.api_requests] == ["0", "2", "4"]


def test_job_ls_and_runs_page_until_a_short_page(make_client, server):
    client = make_client(server, page_size=3)
    jobs = [{"id": f"id{i}", "name": f"j{i}", "version": 1, "environment": "dev"} for i in range(7)]

    def job_ls(request: httpx.Request) -> httpx.Response:
        q = query(request)
        start, size = int(q["offset"]), int(q["batch-size"])
        return ok(jobs[start: start + size])

    server.handler = job_ls
    assert [j.name for j in client.jobs.ls()] == [f"j{i}" for i in range(7)]
    assert [query(r)["offset"] for r in server.api_requests] == ["0", "3", "6"]


def test_not_found_keeps_the_server_message(client, server):
    server.queue(err(404, "User 'zed' not found"))
    with pytest.raises(NotFound) as info:
        client.users.get("zed")
    assert info.value.message == "User 'zed' not found" and info.value.status == 404


def test_users_and_blobs_page_through_the_kits_offset_paging(make_client, server):
    client = make_client(server, page_size=2)
    users = [{"name": f"u{i}", "user_id": i} for i in range(5)]
    blobs = [{"name": n} for n in ("a", "b", "b", "c")]  # "b" shifted into the next page: dropped

    def listing(request: httpx.Request) -> httpx.Response:
        q = query(request)
        rows = users if request.url.path == "/api/user/ls" else blobs
        start, size = int(q["offset"]), int(q["batch-size"])
        return ok(rows[start: start + size])

    server.handler = listing
    assert [u.name for u in client.users.ls(where={"name": "x"})] == [f"u{i}" for i in range(5)]
    assert [query(r)["offset"] for r in server.api_requests] == ["0", "2", "4"]
    assert query(server.last)["filter"] == "name = 'x'" and query(server.last)["json"] == "True"
    assert [b.name for b in client.blobs.ls("blob://bucket/")] == ["a", "b", "c"]


def test_a_listing_reply_that_is_not_a_page_is_an_error_not_an_empty_listing(client, server):
    server.queue(ok({"rows": [{"key": "k"}]}))
    with pytest.raises(PagingError, match="no 'items'"):
        client.kv.ls()


def test_concurrent_401s_log_in_again_once(make_client, server):
    """Eight threads rejected with the same expired session: one login, eight replays."""
    import threading

    server.tokens = deque(["first-token", "second-token"])
    client = make_client(server)
    client.login()
    n = 8
    barrier = threading.Barrier(n, timeout=10)

    def expire_first_session(request: httpx.Request) -> httpx.Response:
        if request.headers["cookie"].endswith("first-token"):
            barrier.wait()  # all threads were sent with the old session before any 401 arrives
            return err(401, "Session expired - please log in again")
        return ok(True)

    server.handler = expire_first_session
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(client.users.exists("bob"))) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert results == [True] * n
    assert server.logins == 2  # the first login, and one renewal for all eight
    replays = [r for r in server.api_requests if r.headers["cookie"].endswith("second-token")]
    assert len(replays) == n


def test_the_client_is_a_kit_base_client_with_a_cookie_session(client, server):
    assert isinstance(client, BaseClient) and isinstance(client.auth, SessionAuth)
    server.queue(ok(True))
    client.users.exists("bob")
    assert client.stats.requests == 2  # the login and the call
