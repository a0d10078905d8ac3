"""The transport's plain lane writes JSON requests straight to the wire, without an
`httpx.Request`. It must put on the wire what httpx's way puts there (the request line, every
header, the body), carry the client's auth (a session renewed once on rejection, as its flow
does), keep the retry rules' view of failures, and leave to httpx whatever it cannot write as
httpx would (a target httpx would quote or normalise, per-request headers or auth, uploads)."""

from __future__ import annotations

import base64
import secrets
import socket

import httpx
import pytest
from platforge.provider._kit.client import AuthenticationError, TransportError
from platforge.provider._kit.client._auth import SessionAuth, bearer
from platforge.provider._kit.client._transport import Transport

from .test_wire import Server, keep_alive, reply, serve  # noqa: F401 - `serve` is a fixture


def split(raw: bytes) -> tuple[bytes, list[bytes], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    line, *headers = head.split(b"\r\n")
    return line, sorted(h.lower() for h in headers), body


def both_ways(serve, make, calls) -> tuple[list, list]:  # noqa: F811 - the fixture, passed in
    """The requests `calls` put on the wire by the lane, then by httpx's way (lane switched off)."""
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref)))
    written = []
    for lane in (True, False):
        ref[0].requests.clear()
        with make(ref[0].url) as transport:
            if not lane:
                transport._lane = None
            else:
                assert transport._lane is not None
            for call in calls:
                call(transport)
        written.append([split(r) for r in ref[0].requests])
    return written[0], written[1]


CALLS = [
    lambda t: t.request("GET", "/api/projects/PX/permissions"),
    lambda t: t.request("get", "api/users", params={"q": "a b/é", "n": 3, "flag": "true"}),
    lambda t: t.request("POST", "/api/users", json={"login": "é\u2028", "n": [1, 2.5, None], "ok": True}),
    lambda t: t.request("PUT", "/api/variables/", json={}),
    lambda t: t.request("POST", "/api/run"),  # no body: Content-Length 0
    lambda t: t.request("DELETE", "/api/users/x'y(z)*,;=:@~"),
    lambda t: t.request("PATCH", "/api/x%2Fy", json=[1]),
]


def test_the_lane_writes_what_httpx_writes(serve):  # noqa: F811
    user, password = "u" + secrets.token_hex(4), secrets.token_hex(8)
    lane, httpx_way = both_ways(serve, lambda url: Transport(url + "/base/", auth=httpx.BasicAuth(user, password),
                                                             headers={"User-Agent": "platforge-test", "X-Team": "t1"}),
                                CALLS)
    assert len(lane) == len(CALLS)
    assert lane == httpx_way


def test_a_session_is_carried_as_its_flow_carries_it(serve):  # noqa: F811
    token = secrets.token_hex(12)
    lane, httpx_way = both_ways(serve, lambda url: Transport(url, auth=SessionAuth(token=token, apply=bearer("token"))),
                                CALLS[:3])
    assert lane == httpx_way
    assert all(f"authorization: token {token}".encode() in headers for _, headers, _ in lane)


def test_credentials_in_the_base_url_take_httpx_way(serve):  # noqa: F811
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref)))
    user, password = "u" + secrets.token_hex(3), secrets.token_hex(6)
    with Transport(ref[0].url.replace("http://", f"http://{user}:{password}@")) as transport:
        assert transport._lane is None
        transport.request("GET", "/api/x")
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert f"authorization: basic {basic}".lower().encode() in split(ref[0].requests[0])[1]  # headers lowercased


def test_targets_httpx_would_rewrite_take_httpx_way(serve):  # noqa: F811
    with Transport("http://127.0.0.1:9/base") as transport:
        lane = transport._lane
        assert lane is not None

        def target(path: str, params: dict | None = None) -> str | None:
            url, query = transport._url(path, params)  # as `request` asks the lane
            return lane.target(url) if query is None else None

        assert target("/a/b", {"x": "1 2"}) == "/base/a/b?x=1+2"
        for path in ["/a b", "/é", "/a/../b", "/a/./b", "/a?x=1", "/a#f", "http://elsewhere/x", "/%zz", "/a[1]",
                     "http://127.0.0.1:90/base/x", "http://127.0.0.1:9/basement"]:
            assert target(path) is None, path


def test_content_headers_of_the_client_take_httpx_way(serve):  # noqa: F811
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref)))
    with Transport(ref[0].url, headers={"Content-Type": "application/json; charset=utf-8"}) as transport:
        assert transport._lane is None  # httpx keeps the client's own on every request
        transport.request("POST", "/api/x", json={"a": 1})
    assert b"content-type: application/json; charset=utf-8" in split(ref[0].requests[0])[1]


def test_a_rejected_session_is_renewed_once_and_the_request_replayed(serve):  # noqa: F811
    old, new = secrets.token_hex(8), secrets.token_hex(8)
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref, lambda raw: reply(b'{"ok":1}') if new.encode() in raw
                                else reply(b"{}", status="401 Unauthorized"))))
    logins: list[str] = []
    session = SessionAuth(token=old, login=lambda: logins.append("in") or new, apply=bearer())
    with Transport(ref[0].url, auth=session) as transport:
        assert transport._lane is not None
        assert transport.request("POST", "/api/users", json={"a": 1}).json() == {"ok": 1}
        assert logins == ["in"]
        assert transport.stats.requests == 2  # the replay counts as a request of its own
    bodies = [split(r)[2] for r in ref[0].requests]
    assert bodies == [b'{"a":1}', b'{"a":1}']

    ref[0].requests.clear()
    stuck = SessionAuth(token=old, login=lambda: old, apply=bearer())  # renewing does not help
    with Transport(ref[0].url, auth=stuck) as transport, pytest.raises(AuthenticationError):
        transport.request("GET", "/api/users")
    assert len(ref[0].requests) == 2  # once, and one replay: never a loop


def test_a_lost_answer_to_a_post_is_not_sent_again(serve):  # noqa: F811
    def handler(sock: socket.socket, n: int) -> None:
        server.read_request(sock)  # reads it, then hangs up without answering

    server = serve(handler)
    with Transport(server.url) as transport, pytest.raises(TransportError) as info:
        assert transport._lane is not None
        transport.request("POST", "/api/users", json={"login": "x"})
    assert info.value.request_sent is True
    assert len(server.requests) == 1


def test_a_platform_reading_the_request_of_a_response_gets_it(serve):  # noqa: F811
    ref: list[Server] = []
    ref.append(serve(keep_alive(ref)))
    with Transport(ref[0].url) as transport:
        response = transport.request("GET", "/api/x", params={"a": "1"})
        assert response.request.method == "GET"
        assert response.request.url.path == "/api/x" and response.url.params["a"] == "1"
        assert response.raise_for_status() is response
