"""The Dataloop client against the fake gate: the login and its renewal, Dataloop's errors,
complete listings of paged queries with their DQL filters, and the bounded wait for a service's
asynchronous delete."""

from __future__ import annotations

import json

import httpx
import pytest
from platforge.provider.dataloop import (
    AuthenticationError,
    ConfigurationError,
    Conflict,
    NotFound,
    PagingError,
    PollTimeout,
    ServerError,
)
from platforge.provider.dataloop.client import gate_url

from .conftest import BASE_URL, EMAIL, ORG_ID, PASSWORD, FakeDataloop, error, make_client


def test_the_client_logs_in_lazily_at_the_gate_root_and_sends_a_bearer_token(gate: FakeDataloop, client):
    assert gate.requests == []  # building a client sends nothing
    me = client.me()
    assert me["email"] == EMAIL
    login, call = gate.requests
    assert (login.method, login.url.raw_path) == ("POST", b"/token?default")
    assert json.loads(login.content) == {"username": EMAIL, "password": PASSWORD, "type": "user_credentials"}
    assert call.url.path == "/api/v1/users/me" and call.headers["authorization"].startswith("Bearer jwt-")
    assert PASSWORD not in repr(client) and PASSWORD not in repr(client.session)


def test_an_expired_token_is_renewed_once_and_the_request_replayed(gate: FakeDataloop, client):
    client.me()
    gate.expire_tokens()
    project = client.create_project("p1")
    assert project["name"] == "p1" and gate.logins == 2
    assert [r.url.path for r in gate.requests[-3:]] == ["/api/v1/projects", "/token", "/api/v1/projects"]
    assert len(gate.projects) == 1  # the rejected POST did nothing; the replay created it once


def test_wrong_credentials_are_an_authentication_error_without_the_password(gate: FakeDataloop):
    bad = make_client(gate, password="not-the-" + PASSWORD)
    with pytest.raises(AuthenticationError) as caught:
        bad.me()
    assert "Wrong email or password" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_a_token_is_used_as_given_and_not_renewed(gate: FakeDataloop):
    gate.tokens.add("given-token")
    client = make_client(gate, email=None, password=None, token="given-token")
    assert client.me()["email"] == EMAIL
    gate.expire_tokens()
    with pytest.raises(AuthenticationError):
        client.me()
    assert gate.logins == 0


def test_errors_are_typed_by_status_with_dataloops_message(gate: FakeDataloop, client):
    with pytest.raises(NotFound) as missing:
        client.get_project("0" * 24)
    assert "Project not found" in str(missing.value) and missing.value.status == 404
    gate.override = lambda r: error(409, "Dataset name already exists") if r.url.path == "/api/v1/datasets" else None
    with pytest.raises(Conflict):
        client.create_dataset({"name": "x", "projects": ["1" * 24]})
    gate.override = lambda r: httpx.Response(500, text="<html><title>Gate crashed</title></html>",
                                             headers={"content-type": "text/html"}) \
        if r.url.path.startswith("/api/v1/projects") else None
    with pytest.raises(ServerError) as crashed:
        client.list_projects()
    assert "Gate crashed" in str(crashed.value) and crashed.value.attempts == 1  # a 500 is not repeated


def test_a_write_is_not_repeated_after_a_503_but_a_read_is(gate: FakeDataloop, client):
    client.me()
    failures = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response | None:
        if failures["n"] < 1:
            failures["n"] += 1
            return error(503, "busy")
        return None

    gate.override = flaky
    assert client.list_projects() == []  # a read: repeated
    failures["n"] = 0
    with pytest.raises(ServerError):
        client.create_project("once")  # a write: raised, for the apply to decide from live state
    assert gate.projects == {}


def test_a_paged_query_is_read_to_its_last_page_one_request_per_page(gate: FakeDataloop, fake_time):
    client = make_client(gate, fake_time, page_size=2)
    pid = gate.add_project("p")
    other = gate.add_project("q")
    for n in range(5):
        gate.add_dataset(pid, f"ds-{n}")
    gate.add_dataset(other, "elsewhere")
    client.me()
    mark = gate.mark()
    listed = client.list_datasets(pid)
    assert sorted(d["name"] for d in listed) == [f"ds-{n}" for n in range(5)]
    pages = [json.loads(r.content) for r in gate.requests[mark:]]
    assert [p["page"] for p in pages] == [0, 1, 2] and {p["pageSize"] for p in pages} == {2}
    assert all(p["resource"] == "datasets" and p["context"] == {"projects": [pid]} for p in pages)
    assert all(r.url.path == "/api/v1/datasets/query" for r in gate.requests[mark:])


def test_faas_listings_filter_by_project_with_dql(gate: FakeDataloop, client):
    pid = gate.add_project("p")
    other = gate.add_project("q")
    mine = gate.add_service(pid, "svc")
    gate.add_service(pid, "shared", **{"global": True})
    gate.add_service(other, "svc")
    client.me()
    mark = gate.mark()
    assert [s["id"] for s in client.list_services(pid)] == [mine]
    (request,) = gate.requests[mark:]
    body = json.loads(request.content)
    assert request.url.path == "/api/v1/query/faas" and body["resource"] == "services"
    assert body["filter"] == {"$and": [{"projectId": pid}, {"global": {"$ne": True}}]}


def test_a_server_that_ignores_the_page_number_is_an_error_not_a_partial_listing(gate: FakeDataloop, fake_time):
    client = make_client(gate, fake_time, page_size=1)
    pid = gate.add_project("p")
    gate.add_dataset(pid, "a")
    gate.add_dataset(pid, "b")
    gate.override = lambda r: httpx.Response(200, json={"items": [{"id": "x", "name": "a"}], "hasNextPage": True}) \
        if r.url.path.endswith("/query") else None
    with pytest.raises(PagingError):
        client.list_datasets(pid)


def test_deleting_a_service_waits_until_it_is_gone(gate: FakeDataloop, client, fake_time):
    pid = gate.add_project("p")
    sid = gate.add_service(pid, "svc")
    gate.service_delete_polls = 3
    client.delete_service(sid)
    gets = [r for r in gate.requests if r.method == "GET" and r.url.path == f"/api/v1/services/{sid}"]
    assert len(gets) == 4  # three still there, then 404
    assert fake_time.sleeps and sum(fake_time.sleeps) < client.delete_timeout


def test_the_wait_for_a_delete_is_bounded(gate: FakeDataloop, fake_time):
    client = make_client(gate, fake_time, delete_timeout=5.0)
    pid = gate.add_project("p")
    sid = gate.add_service(pid, "svc")
    gate.service_delete_polls = 10_000
    with pytest.raises(PollTimeout) as caught:
        client.delete_service(sid)
    assert f"service {sid} to be deleted" in str(caught.value)
    assert fake_time.now - 1000.0 == pytest.approx(5.0)


def test_the_organisation_is_found_by_name_or_id_and_ambiguity_is_refused(gate: FakeDataloop):
    assert make_client(gate, org="acme").org_id() == ORG_ID
    assert make_client(gate, org=ORG_ID).org_id() == ORG_ID
    assert make_client(gate).org_id() == ORG_ID  # the user's only organisation
    gate.orgs["7" * 24] = {"id": "7" * 24, "name": "acme"}
    with pytest.raises(ConfigurationError) as caught:
        make_client(gate, org="acme").org_id()
    assert ORG_ID in str(caught.value) and "7" * 24 in str(caught.value)
    with pytest.raises(ConfigurationError, match="set \\[platform\\] org"):
        make_client(gate).org_id()


def test_the_endpoint_is_the_gate_and_api_v1_is_accepted():
    assert gate_url("https://gate.dataloop.ai/api/v1/") == "https://gate.dataloop.ai"
    assert gate_url(" http://127.0.0.1:8765 ") == "http://127.0.0.1:8765"
    with pytest.raises(ConfigurationError):
        gate_url("gate.dataloop.ai")
    with pytest.raises(ConfigurationError):
        gate_url("https://user:pw@gate.dataloop.ai")


def test_an_email_in_a_path_is_one_segment(gate: FakeDataloop, client):
    pid = gate.add_project("p")
    client.add_project_member(pid, "o'brien+ml@acme.test", "annotator")
    assert "o'brien+ml@acme.test" in gate.members[pid]
    assert gate.requests[-1].url.path == f"/api/v1/projects/{pid}/members/o'brien+ml@acme.test"
    assert BASE_URL in client.base_url
