"""The Studio client against the fake Studio: both auth header forms, the team named on every
request (never left to the token's default team), Studio's error body typed by status with the
token kept out of every message, writes never repeated, and a pipeline listing read to its end
although Studio offers only `limit`."""

from __future__ import annotations

import json

import httpx
import pytest
from platforge.provider.studio import (
    AuthenticationError,
    ConfigurationError,
    NotFound,
    PermissionDenied,
    ServerError,
    StudioClient,
)
from platforge.provider.studio.client import studio_url

from .conftest import BASE_URL, OTHER_TEAM, TEAM, TOKEN, FakeStudio, error, make_client


def test_the_token_goes_as_the_official_client_sends_it_by_default(studio: FakeStudio, client: StudioClient):
    client.list_groups()
    (request,) = studio.requests
    assert request.headers["authorization"] == f"token {TOKEN}"
    assert str(request.url) == f"{BASE_URL}/api/datachain/rbac/access-groups/?team_name={TEAM}"


def test_the_bearer_form_is_a_setting_and_anything_else_is_refused(studio: FakeStudio):
    make_client(studio, auth_scheme="Bearer").list_groups()
    assert studio.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(ConfigurationError, match="auth_scheme"):
        make_client(studio, auth_scheme="Basic")
    assert len(studio.requests) == 1


def test_every_request_names_the_team_rbac_in_the_query_and_rpcs_in_the_body(studio: FakeStudio, client: StudioClient):
    """The token's default team is another one: a call that left the team out would act there."""
    assert studio.tokens[TOKEN][1] == OTHER_TEAM
    pid = studio.add_pipeline("rathe-kyat")
    gid = client.create_group("ops")["id"]
    uid = studio.add_user("alice@example.com")
    client.add_member(gid, uid, "write")
    client.create_rule("namespace", "dev", "write", group_id=gid)
    schedule = client.create_schedule({"schedule_name": "nightly", "pipeline_id": pid, "cron_expression": "0 0 * * *"})
    client.update_schedule(schedule["id"], {"schedule_name": "nightly", "pause_pipeline": True})
    client.delete_schedule(schedule["id"])
    client.list_pipelines()
    client.list_clusters()
    for request in studio.requests:
        path = request.url.path
        if "/pipeline/" in path and request.method == "POST":
            assert json.loads(request.content)["team_name"] == TEAM, path
            assert "team_name" not in request.url.params, path
        else:
            assert request.url.params["team_name"] == TEAM, path
    assert studio.groups[gid]["team"] == TEAM
    assert studio.paused == {schedule["id"]: True}


def test_without_the_team_the_fake_falls_back_to_the_tokens_team_which_is_why_it_is_sent(studio: FakeStudio):
    """The fallback the contract describes (§5.2) is real in the fake: the same listing without
    `team_name` answers the other team's groups."""
    studio.add_group("theirs", team=OTHER_TEAM)
    studio.add_group("ours", team=TEAM)
    bare = httpx.Client(transport=httpx.MockTransport(studio), base_url=BASE_URL)
    names = [g["name"] for g in bare.get("/api/datachain/rbac/access-groups/",
                                         headers={"Authorization": f"token {TOKEN}"}).json()]
    assert names == ["theirs"]
    assert [g["name"] for g in make_client(studio).list_groups()] == ["ours"]


def test_errors_are_typed_by_status_with_studios_message_and_never_the_token(studio: FakeStudio, client: StudioClient):
    with pytest.raises(NotFound, match="Access group not found") as missing:
        client.update_group("0000", name="x")
    assert missing.value.status == 404
    with pytest.raises(PermissionDenied, match="not authorized for the team 'nope'"):
        make_client(studio, team="nope").list_groups()
    wrong = make_client(studio, token="isat_wrong-" + TOKEN)
    with pytest.raises(AuthenticationError) as rejected:
        wrong.list_groups()
    for text in (str(rejected.value), repr(rejected.value), repr(wrong), repr(wrong.auth)):
        assert TOKEN not in text
    studio.override = lambda request: error(400, f"bad token {TOKEN}")
    with pytest.raises(Exception) as echoed:
        client.list_rules()
    assert TOKEN not in str(echoed.value)


def test_a_write_is_not_repeated_after_a_503_but_a_read_is(studio: FakeStudio, client: StudioClient):
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response | None:
        calls["n"] += 1
        return error(503, "busy") if calls["n"] == 1 else None

    studio.override = flaky
    assert client.list_groups() == []
    assert [r.method for r in studio.requests] == ["GET", "GET"]
    calls["n"] = 0
    mark = studio.mark()
    with pytest.raises(ServerError):
        client.create_group("ops")
    assert len(studio.requests) - mark == 1
    assert studio.groups == {}


def test_a_pipeline_listing_grows_its_limit_until_an_answer_is_short(studio: FakeStudio):
    for n in range(250):
        studio.add_pipeline(f"p-{n}")
    client = make_client(studio, page_size=100)
    found = client.list_pipelines()
    assert len(found) == 250 and len({p["pipeline_id"] for p in found}) == 250
    assert [r.url.params["limit"] for r in studio.requests] == ["100", "200", "400"]


def test_a_server_that_ignores_the_limit_answers_everything_at_once(studio: FakeStudio):
    for n in range(30):
        studio.add_pipeline(f"p-{n}")
    studio.override = lambda request: httpx.Response(200, json=[
        {"pipeline_id": f"id-{n}", "name": f"p-{n}"} for n in range(30)])
    assert len(make_client(studio, page_size=10).list_pipelines()) == 30
    assert len(studio.requests) == 1


def test_a_schedule_rpc_that_answers_ok_false_is_a_failure(studio: FakeStudio, client: StudioClient):
    studio.override = lambda request: httpx.Response(200, json={"ok": False, "message": "cron is invalid"})
    with pytest.raises(Exception, match="cron is invalid"):
        client.create_schedule({"schedule_name": "x", "pipeline_id": "p"})


def test_a_rule_for_nobody_or_for_two_principals_is_refused_before_any_request(studio: FakeStudio,
                                                                               client: StudioClient):
    with pytest.raises(ValueError, match="exactly one principal"):
        client.create_rule("namespace", "dev", "write", user_id=1, group_id="g")
    with pytest.raises(ValueError, match="exactly one principal"):
        client.create_rule("namespace", "dev", "write")
    assert studio.requests == []


def test_the_endpoint_is_studios_root_and_api_is_accepted():
    assert studio_url("https://studio.datachain.ai/") == "https://studio.datachain.ai"
    assert studio_url("http://127.0.0.1:8765/api") == "http://127.0.0.1:8765"
    with pytest.raises(ConfigurationError):
        studio_url("studio.datachain.ai")
    with pytest.raises(ConfigurationError, match="token"):
        StudioClient("http://x.test", token=" ", team=TEAM)
    with pytest.raises(ConfigurationError, match="team"):
        StudioClient("http://x.test", token=TOKEN, team="")
