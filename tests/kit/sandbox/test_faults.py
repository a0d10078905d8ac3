"""The fault-injection flags and the access log, seen from a plain HTTP client."""

from __future__ import annotations

import json
import time
from contextlib import closing

import httpx
import pytest
from platforge.provider._kit.sandbox.faults import FaultConfig


def _session(box) -> httpx.Client:
    client = httpx.Client(base_url=box.url, timeout=10)
    response = client.post("/login", auth=(box.admin_user, box.admin_password))
    assert response.status_code == 200, response.text
    return client


def test_faults_are_off_by_default(sandbox):
    assert FaultConfig() == FaultConfig(latency_ms=0, rate_limit=0, error_rate=0, drop_rate=0)
    with closing(_session(sandbox)) as client:
        statuses = {client.get("/api/user/ls").status_code for _ in range(50)}
    assert statuses == {200}


def test_rate_limit_answers_429_with_retry_after(sandbox_factory):
    box = sandbox_factory(rate_limit=1)  # a bucket of one token, refilled once a second
    with closing(_session(box)) as client:
        started = time.monotonic()
        responses = [client.get("/api/user/ls") for _ in range(20)]
        elapsed = time.monotonic() - started
    limited = [r for r in responses if r.status_code == 429]
    allowed = 1 + int(elapsed) + 1  # the initial token plus at most one per elapsed second
    assert 20 - allowed <= len(limited) <= 19, ([r.status_code for r in responses], elapsed)
    assert responses[0].status_code == 200
    for response in limited:
        assert int(response.headers["retry-after"]) >= 1
        assert "rate limit" in response.json()["error"].lower()
    # Waiting out Retry-After lets the next request through.
    time.sleep(int(limited[-1].headers["retry-after"]))
    with closing(_session(box)) as client:
        assert client.get("/api/user/ls").status_code == 200


def test_error_rate_injects_503_envelopes_without_side_effects(sandbox_factory):
    box = sandbox_factory(error_rate=0.5, seed=7)
    with closing(_session(box)) as client:
        outcomes = []
        for i in range(60):
            response = client.put("/api/kv/put", json={"key": f"k{i}", "value": "v"})
            outcomes.append((i, response.status_code))
            if response.status_code == 503:
                assert response.json()["error"]
    failed = [i for i, status in outcomes if status == 503]
    succeeded = [i for i, status in outcomes if status == 200]
    assert failed and succeeded and len(failed) + len(succeeded) == 60
    clean = sandbox_factory(db_path=box.db_path, admin_password=box.admin_password)
    box.stop()
    with closing(_session(clean)) as client:
        items = client.get("/api/kv/ls", params={"batch-size": "1000", "json": "True"}).json()["result"]["items"]
    keys = {item["key"] for item in items}
    assert keys == {f"k{i}" for i in succeeded}, "an injected 503 must not apply the write"


def test_drop_rate_closes_connections_mid_request(sandbox_factory):
    box = sandbox_factory(drop_rate=1.0)
    client = httpx.Client(base_url=box.url, timeout=5)
    assert client.post("/login", auth=(box.admin_user, box.admin_password)).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/api/user/ls")
    client.close()


def test_latency_delays_every_request(sandbox_factory):
    box = sandbox_factory(latency_ms=120)
    with closing(_session(box)) as client:
        start = time.perf_counter()
        for _ in range(3):
            assert client.get("/api/user/ls").status_code == 200
        elapsed = time.perf_counter() - start
    assert elapsed >= 0.36


def test_access_log_has_one_json_line_per_request(sandbox_factory):
    box = sandbox_factory(access_log=True)
    with closing(_session(box)) as client:
        client.get("/api/user/ls")
        client.put("/api/kv/put", json={"key": "a", "value": "b"})
        client.get("/api/user/get", params={"username": "nobody-here"})
    lines = [json.loads(line) for line in open(box.access_log, encoding="utf-8")]
    assert [(r["method"], r["path"], r["status"]) for r in lines] == [
        ("POST", "/login", 200),
        ("GET", "/api/user/ls", 200),
        ("PUT", "/api/kv/put", 200),
        ("GET", "/api/user/get", 404),
    ]
    assert all(isinstance(r["duration_ms"], float) and r["duration_ms"] >= 0 for r in lines)


@pytest.mark.parametrize(
    "kwargs", [{"error_rate": 1.5}, {"drop_rate": -0.1}, {"latency_ms": -1}, {"rate_limit": -2}]
)
def test_fault_flags_are_validated(kwargs):
    with pytest.raises(ValueError):
        FaultConfig(**kwargs).validate()


def test_requests_without_session_are_401(sandbox):
    with httpx.Client(base_url=sandbox.url) as client:
        response = client.get("/api/user/ls")
        assert response.status_code == 401
        assert response.json()["error"]
        bad = client.post("/login", auth=(sandbox.admin_user, "wrong-password"))
        assert bad.status_code == 401
        assert "invalid username or password" in bad.json()["error"]
        forged = client.get("/api/user/ls", headers={"Cookie": "X-Datatailr-Oidc-Data=x.eyJwcmVmZXJyZWRfdXNlcm5hbWUiOiJhZG1pbiJ9.y"})
        assert forged.status_code == 401


def test_client_disconnecting_mid_request_leaves_state_consistent(sandbox_factory):
    """The client gives up while the server is still working: the write is all or nothing."""
    import sqlite3

    box = sandbox_factory(latency_ms=300)
    client = httpx.Client(base_url=box.url, timeout=5)
    assert client.post("/login", auth=(box.admin_user, box.admin_password)).status_code == 200
    with pytest.raises(httpx.TimeoutException):
        client.put("/api/kv/put", json={"key": "half", "value": "v" * 1000}, timeout=0.05)
    time.sleep(0.6)
    listing = client.get("/api/kv/ls", params={"include-values": "True", "json": "True"}).json()["result"]["items"]
    values = {item["key"]: item.get("value") for item in listing}
    assert values.get("half") in (None, "v" * 1000)
    client.close()
    with sqlite3.connect(box.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
