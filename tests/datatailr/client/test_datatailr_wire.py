"""`provider/datatailr/wire.py`: encoding, error mapping and the response envelope."""

from __future__ import annotations

import base64
import logging

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
    ServerError,
)
from platforge.provider.datatailr.wire import (
    api_path,
    comma_list,
    datatailr_error,
    encode_body,
    encode_query,
    unwrap,
)

REQUEST = httpx.Request("GET", "http://dt.test/api/user/ls")


def response(status: int = 200, **kwargs) -> httpx.Response:
    return httpx.Response(status, request=REQUEST, **kwargs)


def test_query_encoding():
    assert encode_query({
        "username": "bob smith", "json": True, "acls": False, "filter": "", "environment": None,
        "batch-size": 100, "offset": 0, "environment-list": ["dev", "pre"],
    }) == {"username": "bob smith", "json": "True", "filter": "", "batch-size": "100", "offset": "0",
           "environment-list": "dev,pre"}


def test_body_encoding():
    data = {"type": "service", "num_cpus": 0.5}
    assert encode_body({
        "username": "carol", "json-enrichened": True, "system": False, "email": None, "version": 3,
        "num-cpus": 0.5, "groups": ["dtusers", "analysts"], "data": data, "value": '"quoted" as is',
    }) == {"username": "carol", "json-enrichened": True, "version": "3", "num-cpus": "0.5",
           "groups": "dtusers,analysts", "data": data, "value": '"quoted" as is'}


def test_comma_list_refuses_items_with_commas():
    assert comma_list(["a", "b"]) == "a,b" and comma_list([]) == ""
    with pytest.raises(ValueError, match="comma"):
        comma_list(["a,b"], "username")


def test_unencodable_values_are_refused():
    with pytest.raises(TypeError):
        encode_body({"x": object()})


@pytest.mark.parametrize("command", ["user", "user/ls/x", "/ls", ""])
def test_api_path_is_cmd_slash_sub(command):
    with pytest.raises(ValueError):
        api_path(command)
    assert api_path("kv/set-acls") == "/api/kv/set-acls"


# ── error mapping (contract §1.3) ──────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("resp", "cls"),
    [
        (response(401, json={"error": "Not authenticated"}), AuthenticationError),
        (response(302, headers={"location": "https://dt.test/login?next=/api/user/ls"}), AuthenticationError),
        (response(307, headers={"location": "/auth/Login"}), AuthenticationError),
        (response(302, headers={"location": "https://dt.test/license.html"}), PermissionDenied),
        (response(301, headers={"location": "https://dt.test/api/user/ls"}), PlatformError),
        (response(200, html="<html><title>Login</title><form>...</form></html>"), AuthenticationError),
        (response(200, html="<p>Enter your login credentials</p>"), AuthenticationError),
        (response(413, html="<h1>413 Request Entity Too Large</h1>"), BadRequest),
        (response(400, json={"error": "Invalid email"}), BadRequest),
        (response(403, json={"error": "Permission denied"}), PermissionDenied),
        (response(404, json={"error": "User 'zed' not found"}), NotFound),
        (response(409, json={"error": "Group 'x' already exists"}), Conflict),
        (response(429, json={"error": "Too many requests"}, headers={"retry-after": "1"}), RateLimited),
        (response(500, text="boom"), ServerError),
        (response(503, json={"error": "unavailable"}), ServerError),
        # A 200 carrying an error: the text decides the class.
        (response(200, json={"error": "Permission denied", "result": None}), PermissionDenied),
        (response(200, json={"error": "Job my-job not found"}), NotFound),
        (response(200, json={"error": "Group 'x' already exists"}), Conflict),
        (response(200, json={"error": "job name is not unique"}), Conflict),
        (response(200, json={"error": "session expired"}), AuthenticationError),
        (response(200, json={"error": "No image for job my_job version 2"}), PlatformError),
    ],
)
def test_error_mapping(resp, cls):
    error = datatailr_error(resp)
    assert type(error) is cls
    assert error.status == resp.status_code
    assert error.message


@pytest.mark.parametrize(
    "resp",
    [response(200, json={"result": [1]}), response(200, json={"result": "x", "error": ""}),
     response(200, json={"result": 1, "error": None}), response(200, text="plain"),
     response(200, html="<html><title>Docs</title></html>")],
)
def test_successes(resp):
    assert datatailr_error(resp) is None


def test_redirect_message_hides_the_query():
    error = datatailr_error(response(302, headers={"location": "https://sso.test/Login?token=abc123"}))
    assert "abc123" not in str(error)
    error = datatailr_error(response(302, headers={"location": "https://other.test/x?sig=abc123"}))
    assert "abc123" not in str(error) and "https://other.test/x" in error.message


def test_413_has_the_fixed_message():
    assert "too large" in datatailr_error(response(413, text="")).message


# ── envelope ───────────────────────────────────────────────────────────────────────────────


def test_unwrap_returns_result_raw():
    assert unwrap(response(json={"result": "42"})) == "42"  # never JSON-decoded (§7.2.3)
    assert unwrap(response(json={"result": '{"a": 1}'})) == '{"a": 1}'
    assert unwrap(response(json={"result": {"items": []}})) == {"items": []}
    assert unwrap(response(json={"result": None})) is None
    assert unwrap(response(text="log line\n")) == "log line\n"


@pytest.mark.parametrize(
    "resp",
    [response(json=[1, 2]), response(json={"data": 1}),
     response(content=b"{not json", headers={"content-type": "application/json"})],
)
def test_unwrap_rejects_broken_envelopes(resp):
    with pytest.raises(PlatformError, match="envelope|JSON"):
        unwrap(resp)


def test_stderr_header_is_logged(caplog):
    warning = base64.b64encode(b"deprecated option").decode()
    with caplog.at_level(logging.WARNING, logger="platforge.datatailr"):
        unwrap(response(json={"result": 1}, headers={"X-Datatailr-Stderr": warning}))
        unwrap(response(json={"result": 1}, headers={"X-Datatailr-Stderr": "%%%not-base64"}))
    assert "deprecated option" in caplog.text


def test_malformed_redirect_location_is_still_an_error():
    error = datatailr_error(response(302, headers={"location": "http://[::1"}))
    assert type(error) is PlatformError and "redirect" in error.message
