"""Hypothesis fuzzing below the schema: malformed JSON, wrong types for real keys, wrong methods,
unknown commands, junk query strings and oversized bodies. The sandbox must answer every one of
them with a 4xx error envelope (or a 2xx result), never a 5xx and never a dropped connection.
"""

from __future__ import annotations

import json
import os
import secrets

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platforge.provider.datatailr.sandbox.auth import COOKIE_NAME

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("PLATFORGE_FUZZ_RAW_EXAMPLES", "300"))

# Keys the real API uses, so that generated bodies reach the handlers' validation, not just
# "unknown field" paths.
KEYS = [
    "username", "group_name", "new_group_name", "key", "value", "secure", "environment", "users",
    "groups", "others", "first-name", "last-name", "email", "password", "system", "disabled",
    "filter", "sort", "offset", "batch-size", "json", "job_name", "version", "data", "all",
    "bucket_name", "destination_file", "content_b64", "source_file_b64", "source_file_name",
    "destination_bucket", "source_file", "download", "path", "tag", "schedule", "memory",
    "num-cpus", "at-minutes", "at-hours", "weekdays", "in-month", "every-minute", "day-of-month",
]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=10,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=100).map(lambda t: ("{" + t).encode()),
)
queries = st.dictionaries(st.sampled_from(KEYS), st.text(max_size=30), max_size=6)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    from platforge.provider._kit.sandbox.serve import EmbeddedServer
    from platforge.provider.datatailr.sandbox.app import create_app
    from platforge.provider.datatailr.sandbox.config import SandboxConfig

    db = tmp_path_factory.mktemp("fuzz") / "sandbox.db"
    app = create_app(SandboxConfig(db_path=str(db), admin_password=secrets.token_urlsafe(16), faults=_small_body_faults()))
    server = EmbeddedServer(app).start()
    # Logout would end the session shared by every example (test_logout_ends_the_session_and_only_that_one
    # in tests/datatailr/sandbox/test_security.py covers it).
    paths = sorted(p for p in app.openapi()["paths"] if p.startswith("/api/") and not p.endswith("/logout"))
    assert len(paths) >= 40, paths
    client = httpx.Client(base_url=server.url, cookies={COOKIE_NAME: app.state.sessions.issue("admin")}, timeout=30)
    stats = {"requests": 0, "errors_5xx": 0}
    yield client, paths, stats
    print(f"\nraw fuzz summary: {json.dumps(stats)} over {len(paths)} paths")
    client.close()
    server.stop()


def _small_body_faults():
    from platforge.provider._kit.sandbox.faults import FaultConfig

    return FaultConfig(max_body_bytes=64 * 1024)


def _check(response: httpx.Response, stats: dict) -> None:
    stats["requests"] += 1
    if response.status_code >= 500:
        stats["errors_5xx"] += 1
    assert response.status_code < 500, f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert isinstance(body, dict)
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str) and body["error"], body
    else:
        assert "result" in body, body


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_junk_bodies_and_queries(fuzz_target, data):
    client, paths, stats = fuzz_target
    path = data.draw(st.sampled_from(paths))
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    if method == "GET":
        response = client.get(path, params=data.draw(queries))
    else:
        response = client.request(
            method, path, content=data.draw(bodies), headers={"content-type": "application/json"}
        )
    _check(response, stats)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(cmd=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=12),
       sub=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=12))
def test_unknown_commands(fuzz_target, cmd, sub):
    client, paths, stats = fuzz_target
    response = client.get(f"/api/{cmd}/{sub}")
    _check(response, stats)
    if f"/api/{cmd}/{sub}" not in paths:
        assert response.status_code in (404, 405)


def test_oversized_body_is_413_with_envelope(fuzz_target):
    client, _, stats = fuzz_target
    payload = json.dumps({"key": "big", "value": "x" * (200 * 1024)})
    response = client.put("/api/kv/put", content=payload, headers={"content-type": "application/json"})
    _check(response, stats)
    assert response.status_code == 413
    assert client.get("/api/kv/get", params={"key": "big"}).status_code == 404


def test_wrong_types_for_known_fields(fuzz_target):
    client, _, stats = fuzz_target
    cases = [
        ("PUT", "/api/kv/put", {"key": {"nested": 1}, "value": "v"}),
        ("PUT", "/api/kv/put", {"key": ["a"], "value": "v"}),
        ("POST", "/api/user/add", {"username": 12, "first-name": [], "email": {}}),
        ("POST", "/api/group/add", {"group_name": None}),
        ("GET", "/api/user/ls", None),
    ]
    for method, path, body in cases:
        if body is None:
            response = client.get(path, params={"offset": "not-a-number", "batch-size": "x"})
        else:
            response = client.request(method, path, json=body)
        _check(response, stats)
        assert response.status_code == 400, (path, body, response.text)
