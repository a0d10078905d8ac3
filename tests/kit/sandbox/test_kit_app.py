"""A new platform's sandbox holds only its routes and rules: the fake platform in
`fake_platform.py` is built from the kit alone, and gets auth, paging, faults, the access log,
transactions and the command line in its own terms."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import typer
from platforge.provider._kit.sandbox.app import assemble
from platforge.provider._kit.sandbox.cli import command_line
from platforge.provider._kit.sandbox.settings import FaultConfig
from platforge.provider._kit.sandbox.store import Store
from platforge.provider.sandbox import embedded
from typer.testing import CliRunner

from . import fake_platform
from .fake_platform import SANDBOX, FakeSettings, create_app

KEY = "fake-admin-key-0123456789"
Start = Callable[..., httpx.Client]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start fake sandboxes; keyword arguments go to FaultConfig or FakeSettings."""
    running = []

    def run(**kwargs) -> httpx.Client:
        fault_keys = set(FaultConfig.__dataclass_fields__)
        faults = FaultConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in fault_keys})
        settings = FakeSettings(db_path=str(tmp_path / f"fake-{len(running)}.db"), admin_password=KEY, faults=faults,
                                **kwargs)
        server = embedded(create_app(settings))
        box = server.__enter__()
        client = httpx.Client(base_url=box.url, timeout=10)
        running.append((server, client))
        return client

    yield run
    for server, client in running:
        client.close()
        server.__exit__(None, None, None)


def test_every_route_needs_a_key_and_refusals_use_the_platforms_envelope(start: Start) -> None:
    client = start()
    missing = client.get("/api/v1/items")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    wrong = client.get("/api/v1/items", headers={"X-API-Key": "not-a-key"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid API key."})
    for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}, {"Authorization": f"token {KEY}"}):
        assert client.get("/api/v1/items", headers=headers).status_code == 200, headers
    # The public route and the health probe need no key.
    assert client.get("/version").json() == {"version": "1.0"}
    assert client.get("/healthz").json() == {"status": "ok"}
    # FastAPI's own errors leave in the envelope too: no route, bad input (400, not 422).
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    bad = client.post("/api/v1/items", headers={"X-API-Key": KEY}, json={"not": "a list"})
    assert bad.status_code == 400 and set(bad.json()) == {"detail"}


def test_page_index_paging(start: Start) -> None:
    client = start()
    client.headers["X-API-Key"] = KEY
    assert client.post("/api/v1/items", json=["a", "b", "c", "d", "e"]).status_code == 200
    first = client.get("/api/v1/items", params={"page": 0, "pageSize": 2}).json()
    assert [i["name"] for i in first["items"]] == ["a", "b"]
    assert (first["totalItemsCount"], first["totalPagesCount"], first["hasNextPage"]) == (5, 3, True)
    last = client.get("/api/v1/items", params={"page": 2, "pageSize": 2}).json()
    assert [i["name"] for i in last["items"]] == ["e"] and last["hasNextPage"] is False
    assert client.get("/api/v1/items", params={"page": 3, "pageSize": 2}).json()["items"] == []


def test_a_failing_request_leaves_nothing_behind(start: Start) -> None:
    client = start()
    client.headers["X-API-Key"] = KEY
    assert client.post("/api/v1/items", json=["kept"]).status_code == 200
    refused = client.post("/api/v1/items", json=["x", "y", "kept", "z"])
    assert refused.status_code == 409
    assert refused.json() == {"detail": "Item 'kept' already exists"}
    assert [i["name"] for i in client.get("/api/v1/items").json()["items"]] == ["kept"]


def test_platform_quota_is_a_507_in_the_envelope(start: Start) -> None:
    client = start(max_items=2)
    client.headers["X-API-Key"] = KEY
    over = client.post("/api/v1/items", json=["a", "b", "c"])
    assert over.status_code == 507 and over.json() == {"detail": "More than 2 items (--max-items)"}
    assert client.get("/api/v1/items").json()["items"] == []


def test_injected_faults_use_the_envelope_and_spare_exempt_paths(start: Start) -> None:
    client = start(error_rate=1.0)
    client.headers["X-API-Key"] = KEY
    faulted = client.post("/api/v1/items", json=["never"])
    assert faulted.status_code == 503
    assert faulted.json() == {"detail": "Service temporarily unavailable (injected)"}
    assert faulted.headers["retry-after"] == "0"
    assert client.get("/version").status_code == 200  # the platform's exempt path
    assert client.get("/healthz").status_code == 200  # the kit's


def test_rate_limit_and_body_limit_use_the_envelope(start: Start) -> None:
    client = start(rate_limit=1, max_body_bytes=64)
    client.headers["X-API-Key"] = KEY
    statuses = [client.get("/api/v1/items") for _ in range(3)]
    throttled = [r for r in statuses if r.status_code == 429]
    assert throttled and throttled[0].json() == {"detail": "Too many requests: rate limit exceeded"}
    assert int(throttled[0].headers["retry-after"]) >= 1
    other = start(max_body_bytes=64)
    big = other.post("/api/v1/items", headers={"X-API-Key": KEY}, json=["x" * 100])
    assert big.status_code == 413 and big.json() == {"detail": "Request body too large: the limit is 64 bytes"}


def test_access_log_has_a_line_per_request(start: Start, tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    client = start(access_log=str(log), error_rate=1.0)
    client.get("/version")
    client.get("/api/v1/items", headers={"X-API-Key": KEY})
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(r["method"], r["path"], r["status"]) for r in lines] == [("GET", "/version", 200),
                                                                      ("GET", "/api/v1/items", 503)]
    assert all(set(r) == {"ts", "method", "path", "status", "duration_ms"} for r in lines)


def test_routes_can_live_under_several_base_paths(tmp_path: Path) -> None:
    spec = dataclasses.replace(fake_platform.SPEC, prefix=("/api/v1", "/public/api"))
    settings = FakeSettings(db_path=str(tmp_path / "two.db"), admin_password=KEY)
    with embedded(assemble(spec, settings, Store(settings.db_path, ddl=[fake_platform.DDL]))) as box:
        with httpx.Client(base_url=box.url, headers={"X-API-Key": KEY}) as client:
            for base in ("/api/v1", "/public/api"):
                assert client.get(f"{base}/items").status_code == 401  # no key was seeded here
                assert client.get(f"{base}/items", headers={"X-API-Key": ""}).json() == {
                    "detail": "Authentication credentials were not provided."}


def test_the_command_line_has_the_common_flags_and_the_platforms_own() -> None:
    cli = command_line([SANDBOX])
    command = typer.main.get_command(cli)
    names = [param.name for param in command.params]
    assert names[names.index("max_db_bytes") + 1] == "max_items"
    assert {"host", "port", "db", "admin_password", "session_secret", "access_log", "max_body_bytes", "error_rate",
            "seed"} <= set(names)
    defaults = {param.name: param.default for param in command.params}
    assert defaults["db"] == ".platforge/sandbox-fake.db" and defaults["max_items"] == FakeSettings().max_items
    help_text = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "200"}).output
    assert "Serve the fake platform's API" in help_text and "--max-items" in help_text


def test_the_command_line_checks_the_platforms_flags_before_serving(tmp_path: Path) -> None:
    cli = command_line([SANDBOX])
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "x.db"), "--max-items", "-1"])
    assert result.exit_code == 1
    assert "--max-items must be >= 0" in result.output
    assert not (tmp_path / "x.db").exists()
