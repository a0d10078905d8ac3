"""The DSS client on the client kit: API-key auth, the prefix, path escaping, DSS error JSON
mapped to typed errors (not found as a 500 included, never retried), listings in one request,
futures awaited within a bounded wait, and the key kept out of every message."""

from __future__ import annotations

import httpx
import pytest
from platforge.provider.dataiku import (
    AuthenticationError,
    Conflict,
    NotFound,
    OperationFailed,
    PermissionDenied,
    PollTimeout,
    ServerError,
    dataiku_error,
)
from platforge.provider.dataiku.client import ConfigurationError, DataikuClient

from .conftest import API_KEY, AUTH_HEADER, BASE_URL, FakeDss, dss_error, make_client


def test_every_request_carries_the_key_as_basic_username_under_the_prefix(dss, client):
    client.auth_info()
    client.list_groups()
    assert [r.url.path for r in dss.requests] == ["/public/api/auth/info", "/public/api/admin/groups/"]
    assert all(r.headers["authorization"] == AUTH_HEADER for r in dss.requests)
    assert dss.requests[0].url.params["withSecrets"] == "False"


def test_the_official_clients_prefix_can_be_chosen():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=[])

    client = DataikuClient(BASE_URL, API_KEY, prefix="/dip/publicapi/", http_transport=httpx.MockTransport(handler))
    client.list_projects()
    assert seen == ["/dip/publicapi/projects/"]
    with pytest.raises(ConfigurationError):
        DataikuClient(BASE_URL, API_KEY, prefix="/public/api/v1")
    with pytest.raises(ConfigurationError):
        DataikuClient("dss.example.com", API_KEY)
    with pytest.raises(ConfigurationError):
        DataikuClient(BASE_URL, "")


def test_identifiers_are_escaped_whole_so_slashes_never_change_the_route(dss, client):
    with pytest.raises(NotFound):
        client.get_user("a/b?c#d é")
    assert dss.requests[-1].url.raw_path.decode() == "/public/api/admin/users/a%2Fb%3Fc%23d%20%C3%A9"


@pytest.mark.parametrize(("response", "cls"), [
    (dss_error(404, "com.dataiku.dip.exceptions.UnknownObjectException", "User nobody not found"), NotFound),
    (dss_error(500, "com.dataiku.dip.exceptions.CodedIOException", "PYTHON env my_env doesn't exist"), NotFound),
    (dss_error(500, "java.lang.IllegalArgumentException", "Project X does not exist"), NotFound),
    (dss_error(500, "com.dataiku.dip.exceptions.UnknownObjectException", "gone"), NotFound),
    (dss_error(409, "com.dataiku.dip.exceptions.CodedException", "User already exists: jdoe"), Conflict),
    (dss_error(400, "java.lang.IllegalArgumentException", "Group data_team already exists"), Conflict),
    (dss_error(401, "com.dataiku.dip.exceptions.UnauthorizedException", "Not authenticated"), AuthenticationError),
    (dss_error(403, "com.dataiku.dip.exceptions.UnauthorizedException", "Action forbidden"), PermissionDenied),
    (dss_error(500, "java.lang.NullPointerException", "NPE in handler"), ServerError),
    (dss_error(500, "com.dataiku.dip.exceptions.CodedIOException", "Not a file: /data/code-envs/x/desc.json"),
     ServerError),
])
def test_dss_error_json_maps_to_typed_errors(response, cls):
    error = dataiku_error(response)
    assert type(error) is cls
    assert error.status == response.status_code
    assert response.json()["message"] in error.message


def test_an_html_error_page_is_named_by_its_title():
    error = dataiku_error(httpx.Response(502, text="<html><title>Bad Gateway</title>...</html>"))
    assert isinstance(error, ServerError) and "Bad Gateway" in error.message
    assert dataiku_error(httpx.Response(200, json={})) is None


def test_a_missing_code_env_answered_as_500_is_absent_and_never_retried(dss, client):
    with pytest.raises(NotFound) as caught:
        client.get_code_env("PYTHON", "nope")
    assert caught.value.status == 500 and caught.value.attempts == 1
    assert len(dss.requests) == 1


def test_a_500_is_not_retried_but_a_503_on_a_read_is(dss, fake_time):
    client = make_client(dss, fake_time)
    answers = iter([httpx.Response(503, text="restarting"), None])
    dss.override = lambda request: next(answers)
    assert client.list_groups()[0]["name"] == "administrators"
    assert len(dss.requests) == 2 and len(fake_time.sleeps) == 1

    dss.requests.clear()
    dss.override = lambda request: dss_error(500, "java.lang.NullPointerException", "boom")
    with pytest.raises(ServerError):
        client.list_groups()
    assert len(dss.requests) == 1


def test_a_503_on_a_create_is_not_repeated(dss, client):
    dss.override = lambda request: httpx.Response(503, text="restarting") if request.method == "POST" else None
    with pytest.raises(ServerError):
        client.create_group({"name": "g", "description": None, "sourceType": "LOCAL"})
    assert len(dss.writes()) == 1


def test_listings_are_one_request_each_dss_does_not_page(dss, client):
    for i in range(250):
        dss.groups[f"g{i}"] = {"name": f"g{i}"}
    assert len(client.list_groups()) == 251
    assert len(dss.requests) == 1
    assert "offset" not in str(dss.requests[0].url)


def test_a_future_is_polled_until_it_has_its_result(dss, client, fake_time):
    dss.future_polls = 3
    result = client.create_code_env("PYTHON", "py311", {"deploymentMode": "DESIGN_MANAGED"})
    assert result["envName"] == "py311"
    polls = [r for r in dss.requests if r.url.path.startswith("/public/api/futures/")]
    assert len(polls) == 4 and all(r.url.params["peek"] == "False" for r in polls)
    assert len(fake_time.sleeps) == 3 and all(0 < s <= 15 for s in fake_time.sleeps)


def test_a_future_that_never_ends_is_a_bounded_wait(dss, fake_time):
    client = make_client(dss, fake_time, future_timeout=30.0)
    dss.future_polls = 10_000
    start = fake_time.now
    with pytest.raises(PollTimeout) as caught:
        client.create_code_env("PYTHON", "slow", {"deploymentMode": "DESIGN_MANAGED"})
    assert fake_time.now - start == pytest.approx(30.0)
    assert "creation of PYTHON code environment slow" in caught.value.message


def test_a_future_that_fails_or_reports_an_error_fails_the_operation(dss, client):
    dss.override = lambda request: (httpx.Response(200, json={"jobId": "j", "hasResult": False, "alive": False,
                                                              "exception": {"message": "pip failed"}})
                                    if request.url.path.startswith("/public/api/futures/") else None)
    with pytest.raises(OperationFailed):
        client.create_code_env("PYTHON", "broken", {"deploymentMode": "DESIGN_MANAGED"})

    dss.override = lambda request: httpx.Response(200, json={
        "hasResult": True, "result": {"messages": {"error": True, "messages": [
            {"severity": "ERROR", "message": "Could not install pandas"}]}}})
    with pytest.raises(OperationFailed) as caught:
        client.update_code_env_packages("PYTHON", "x")
    assert "Could not install pandas" in caught.value.message


def test_an_answer_that_is_already_the_result_needs_no_polling(dss, client):
    dss.override = lambda request: httpx.Response(200, json={"envName": "e", "messages": {"error": False}})
    assert client.create_code_env("PYTHON", "e", {"deploymentMode": "DESIGN_MANAGED"})["envName"] == "e"
    assert len(dss.requests) == 1


def test_the_key_and_created_secrets_never_appear_in_messages_or_repr(dss, client):
    dss.override = lambda request: dss_error(400, "x.BadThing", f"invalid key {API_KEY}")
    with pytest.raises(Exception) as caught:
        client.list_users()
    assert API_KEY not in str(caught.value) and "***" in str(caught.value)
    assert API_KEY not in repr(client)

    dss.override = None
    key_id, secret = client.create_global_api_key({"label": "ci", "groups": []})
    dss.override = lambda request: dss_error(400, "x.BadThing", f"cannot save {secret}")
    with pytest.raises(Exception) as caught:
        client.put_global_api_key(key_id, {"label": "x"})
    assert secret not in str(caught.value)


def test_the_client_cannot_be_pickled(client):
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_a_fake_dss_rejects_a_wrong_key():
    client = DataikuClient(BASE_URL, "wrong", http_transport=httpx.MockTransport(FakeDss()))
    with pytest.raises(AuthenticationError):
        client.auth_info()
