"""The kit's limits, in Tailer's error shapes: body size and depth, the database quota, faults,
and the command line built from the registry."""

from __future__ import annotations

import json
import secrets

from typer.testing import CliRunner

from tests.tailer.sandbox.conftest import Tailer, TailerFactory, ok, ops_error, proxy_error
from tests.tailer.sandbox.docs import configuration, deploy_body


def test_a_body_too_large_is_a_413_in_each_shape(tailer_factory: TailerFactory) -> None:
    box = tailer_factory(max_body_bytes=4096)
    api = box.client()
    big = {"payload": {"resource": {"x": "a" * 5000}}}
    assert proxy_error(api.put("/configuration/v2", json=big), 413)
    assert ops_error(api.post("/v1/dag/status", json={"action": "get_last_status", "x": "a" * 5000}), 413)
    with box.raw() as c:
        too_big = c.post("/securetoken/v1/token", params={"key": box.api_key}, content=b"{" + b" " * 5000 + b"}")
    assert too_big.status_code == 413 and set(too_big.json()) == {"error"}


def test_deep_or_unstorable_json_is_a_400(api: object) -> None:
    deep: object = "x"
    for _ in range(40):
        deep = {"a": deep}
    assert "nested deeper" in proxy_error(api.put("/configuration/v2", json={"payload": {"resource": deep}}), 400)  # type: ignore[attr-defined]
    for raw in (b'{"payload": {"uid": "\\u0000"}}', b'{"payload": {"uid": "\\ud800"}}', b"NaN", b"1e999"):
        assert proxy_error(api.put("/configuration/v2", content=raw), 400)  # type: ignore[attr-defined]


def test_a_full_database_refuses_writes_and_keeps_reads(tailer_factory: TailerFactory) -> None:
    box = tailer_factory(max_db_bytes=256 * 1024)
    api = box.client()
    statuses = []
    for i in range(200):
        doc = configuration("file-utilities", {}, f"000099-filler-{i}")
        doc["notes"] = secrets.token_hex(2000)
        statuses.append(api.put("/configuration/v2", json=deploy_body(doc)).status_code)
        if statuses[-1] != 200:
            break
    assert statuses[-1] == 507 and set(statuses[:-1]) == {200}
    again = configuration("file-utilities", {}, "000099-filler-again")
    again["notes"] = secrets.token_hex(8000)
    assert "full" in proxy_error(api.put("/configuration/v2", json=deploy_body(again)), 507)
    listed = ok(api.get("/_sandbox/configurations"))["configurations"]
    assert len(listed) == len(statuses) - 1
    assert box.exchange().status_code == 200  # tokens are signed, not stored: the exchange still works


def test_injected_faults_answer_in_the_services_shapes(tailer_factory: TailerFactory) -> None:
    box = tailer_factory(error_rate=1.0)
    with box.raw() as c:
        assert proxy_error(c.post("/project-profile", json={}), 503)
        assert ops_error(c.post("/v1/dag/status", json={}), 503)
        assert box.exchange().status_code == 200  # the token exchange is never faulted
        assert c.get("/healthz").json() == {"status": "ok"}


def test_the_command_is_registered_with_its_flags() -> None:
    from platforge.provider.sandbox import SANDBOXES, command_line, get_sandbox

    assert SANDBOXES["tailer"] == "platforge.provider.tailer.sandbox"
    assert get_sandbox("tailer").name == "tailer"
    result = CliRunner().invoke(command_line(), ["tailer", "--help"])
    assert result.exit_code == 0, result.output
    for flag in ("--host", "--port", "--db", "--refresh-token", "--firebase-api-key", "--access-log", "--error-rate",
                 "--max-body-bytes", "--run-seconds"):
        assert flag in result.output
    for absent in ("--admin-password", "--session-secret"):
        assert absent not in result.output
    bad = CliRunner().invoke(command_line(), ["tailer", "--db", ":memory:", "--refresh-token", "short", "--port", "0"])
    assert bad.exit_code == 1 and "--refresh-token must be" in bad.output


def test_health_and_openapi_are_public(tailer: Tailer) -> None:
    with tailer.raw() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        spec = c.get("/openapi.json").json()
        assert "/securetoken/v1/token" in spec["paths"] and "/v1/dag/status" in spec["paths"]
        assert json.dumps(spec).count(tailer.refresh_token) == 0
