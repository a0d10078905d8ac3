"""Error classes, message extraction and secret masking of the generic transport."""

from __future__ import annotations

import pickle

import httpx
import pytest
from platforge.provider._kit.client import (
    AuthenticationError,
    BadRequest,
    Conflict,
    NotFound,
    PermissionDenied,
    PlatformError,
    RateLimited,
    Redactor,
    RetryPolicy,
    ServerError,
    Transport,
    TransportError,
    error_class_for_status,
    error_from_status,
    response_message,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequest), (401, AuthenticationError), (403, PermissionDenied), (404, NotFound),
     (405, BadRequest), (409, Conflict), (413, BadRequest), (422, BadRequest), (429, RateLimited),
     (500, ServerError), (502, ServerError), (503, ServerError), (504, ServerError), (418, PlatformError)],
)
def test_status_classes(status, cls):
    assert error_class_for_status(status) is cls
    error = error_from_status(httpx.Response(status, json={"error": "nope"}))
    assert type(error) is cls and error.status == status and error.message == "nope"


def test_success_is_not_an_error():
    assert error_from_status(httpx.Response(200, json={"error": "ignored by the generic mapper"})) is None
    assert error_from_status(httpx.Response(302, headers={"location": "/x"})) is None


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(400, json={"error": "bad key"}), "bad key"),
        (httpx.Response(400, json={"message": "from message"}), "from message"),
        (httpx.Response(422, json={"detail": [{"loc": ["x"]}]}), '[{"loc": ["x"]}]'),
        (httpx.Response(500, text="plain failure\n"), "plain failure"),
        (httpx.Response(502, html="<html><title>Bad Gateway</title></html>"), "HTML page 'Bad Gateway'"),
        (httpx.Response(500, text=""), "HTTP 500 with an empty body"),
        (httpx.Response(500, text="x" * 5000), "x" * 499 + "…"),
    ],
)
def test_response_message(response, message):
    assert response_message(response) == message


def test_error_str_and_repr_name_the_request():
    error = NotFound("User 'zed' not found", status=404, method="GET", path="/api/user/get")
    assert str(error) == "GET /api/user/get failed with HTTP 404: User 'zed' not found"
    assert repr(error) == ("NotFound(status=404, method='GET', path='/api/user/get', "
                           "message=\"User 'zed' not found\")")
    assert str(TransportError("could not connect")) == "TransportError: could not connect"


@pytest.mark.parametrize(
    "error",
    [
        NotFound("gone", status=404, method="GET", path="/p", attempts=2),
        RateLimited("slow", status=429, retry_after=3.0),
        TransportError("dropped", request_sent=False, method="POST", path="/q"),
    ],
)
def test_errors_survive_pickling(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and repr(copy) == repr(error) and str(copy) == str(error)
    assert getattr(copy, "retry_after", None) == getattr(error, "retry_after", None)
    assert getattr(copy, "request_sent", None) == getattr(error, "request_sent", None)


def test_all_errors_are_platform_errors():
    for cls in (BadRequest, NotFound, Conflict, PermissionDenied, AuthenticationError, RateLimited,
                ServerError, TransportError):
        assert issubclass(cls, PlatformError)


def test_redactor_masks_longest_first_and_hides_itself():
    redactor = Redactor(["abc", "abcdef", ""])
    assert redactor.scrub("x abcdef y abc", extra=["y"]) == "x *** *** ***"
    assert "abc" not in repr(redactor)
    redactor.discard("abc")
    assert redactor.scrub("abc abcdef") == "abc ***"


def test_transport_masks_secrets_the_server_echoes():
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": f"invalid value {request.content.decode()} for token t0k3n"})

    t = Transport("http://p.test", http_transport=httpx.MockTransport(echo), redactor=Redactor(["t0k3n"]),
                  retry=RetryPolicy.never())
    with pytest.raises(BadRequest) as info:
        t.request("POST", "/kv", json={"value": "hunter2-secret"}, secret_values=["hunter2-secret"])
    text = str(info.value) + repr(info.value) + repr(info.value.args)
    assert "hunter2-secret" not in text and "t0k3n" not in text
    assert "***" in info.value.message


def test_transport_never_stores_cookies():
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, json={}, headers={"set-cookie": "session=abc; Path=/"})

    with Transport("http://p.test", http_transport=httpx.MockTransport(handler)) as t:
        t.request("GET", "/a")
        t.request("GET", "/b")
    assert seen == [None, None]


def test_delete_carries_a_json_body_and_no_body_means_no_content():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with Transport("http://p.test/", http_transport=httpx.MockTransport(handler)) as t:
        t.request("DELETE", "/api/user/rm", json={"username": "carol"})
        t.request("POST", "/api/x")
    assert seen[0].method == "DELETE" and seen[0].content == b'{"username":"carol"}'
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[1].content == b"" and "content-type" not in seen[1].headers
    assert str(seen[0].url) == "http://p.test/api/user/rm"
