"""The ops API (contract §2.2, T1-T7; WIRE.md §6-8): runs, their lifecycle, and the flags."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import httpx
import pytest

from tests.tailer.sandbox.conftest import Tailer, TailerFactory, ok, ops_error, proxy_error
from tests.tailer.sandbox.docs import ACCOUNT, configuration, dag_body, deploy_body, seal


def ident(kind: str, configuration_id: str, environment: str = "DEV") -> dict[str, Any]:
    return {"account": ACCOUNT, "environment": environment, "configuration_type": kind, "configuration_id": configuration_id}


@pytest.fixture
def deployed(tailer: Tailer, api: httpx.Client) -> dict[str, str]:
    """A TTS, a TTT, a workflow and an STS, deployed."""
    from platforge.provider.tailer.sandbox import public_key_pem

    sealed = seal(secrets.token_urlsafe(16), public_key_pem(tailer.app))
    names = {}
    for kind in ("table-to-storage", "workflow", "storage-to-storage"):
        doc = configuration(kind, sealed)
        ok(api.put("/configuration/v2", json=deploy_body(doc)))
        names[kind] = doc["configuration_id"]
    ok(api.put("/dag-generator-v2", json=dag_body(f"{ACCOUNT}_prep_DEV")))
    names["gbq-to-gbq"] = f"{ACCOUNT}_prep_DEV"
    return names


def status(api: httpx.Client, body: dict[str, Any]) -> Any:
    return api.post("/v1/dag/status", json=body)


def test_launch_runs_then_succeeds(tailer_factory: TailerFactory) -> None:
    box = tailer_factory(run_seconds=0.4)
    from platforge.provider.tailer.sandbox import public_key_pem

    api = box.client()
    doc = configuration("table-to-storage", seal(secrets.token_urlsafe(16), public_key_pem(box.app)))
    ok(api.put("/configuration/v2", json=deploy_body(doc)))
    run_id = ok(api.post("/v1/dag/launch", json={"action": "launch_job", **ident("table-to-storage", doc["configuration_id"]),
                                                 "execution_date": "2024-05-01"}))["run_id"]
    assert re.fullmatch(r"\d{8}-[0-9a-f-]{36}", run_id)
    check = {"action": "check_run_status", **ident("table-to-storage", doc["configuration_id"]), "run_id": run_id}
    run = ok(status(api, check))["results"][0]
    assert run["status"] == "RUNNING" and run["execution_date"] == "2024-05-01"
    assert run["job_id"] == f"table-to-storage|{ACCOUNT}|{doc['configuration_id']}|DEV"
    assert set(run) == {"account", "configuration_id", "configuration_type", "duration", "environment", "execution_date",
                        "job_id", "last_update_date", "run_id", "start_execution_date", "status"}
    time.sleep(0.5)
    done = ok(status(api, check))["results"][0]
    assert done["status"] == "SUCCESS" and done["duration"].startswith("0:00:00.")
    assert ok(status(api, {**check, "job_id": done["job_id"]}))["results"][0]["status"] == "SUCCESS"
    assert ops_error(status(api, {**check, "job_id": "gbq-to-gbq|other"}), 404)


def test_launch_only_what_can_be_launched(api: httpx.Client, deployed: dict[str, str]) -> None:
    launch = {"action": "launch_job"}
    for kind in ("storage-to-storage", "workflow"):
        assert "only table-to-table and table-to-storage" in ops_error(
            api.post("/v1/dag/launch", json={**launch, **ident(kind, deployed[kind])}), 400)
    assert ops_error(api.post("/v1/dag/launch", json={**launch, **ident("table-to-storage", "nope")}), 404)
    assert ops_error(api.post("/v1/dag/launch", json={**launch, **ident("table-to-storage", deployed["table-to-storage"], "PROD")}), 404)
    flags = {"action": "set_configuration_status", **ident("gbq-to-gbq", deployed["gbq-to-gbq"])}
    ok(api.post("/v1/configuration/status", json={**flags, "activated": False, "archived": False}))
    assert "deactivated" in ops_error(api.post("/v1/dag/launch", json={**launch, **ident("table-to-table", deployed["gbq-to-gbq"])}), 409)
    ok(api.post("/v1/configuration/status", json={**flags, "activated": False, "archived": True}))
    assert "archived" in ops_error(api.post("/v1/dag/launch", json={**launch, **ident("table-to-table", deployed["gbq-to-gbq"])}), 409)
    assert ops_error(api.post("/v1/dag/launch", json={**launch, **ident("table-to-storage", deployed["table-to-storage"]),
                                                      "execution_date": "yesterday"}), 400)


def test_last_status_newest_first_with_filters(api: httpx.Client, deployed: dict[str, str]) -> None:
    who = ident("table-to-table", deployed["gbq-to-gbq"])
    last = {"action": "get_last_status", **who}
    assert ok(status(api, last)) == {"results": []}
    assert ok(status(api, {**last, "configuration_id": "never_deployed"})) == {"results": []}
    runs = [ok(api.post("/v1/dag/launch", json={"action": "launch_job", **who}))["run_id"] for _ in range(3)]
    for run_id in runs:
        assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f-]{36}", run_id)
    listed = ok(status(api, last))["results"]
    assert [r["run_id"] for r in listed] == runs[::-1]
    assert [r["run_id"] for r in ok(status(api, {**last, "limit": 2}))["results"]] == runs[:0:-1]
    set_failed = {"action": "set_run_status", "account": ACCOUNT, "configuration_type": "gbq-to-gbq",
                  "configuration_id": deployed["gbq-to-gbq"], "run_id": runs[1], "status": "FAILED"}
    ok(status(api, set_failed))  # T5, without `environment` as the docs' example
    assert [r["run_id"] for r in ok(status(api, {**last, "status": "FAILED"}))["results"]] == [runs[1]]
    assert [r["status"] for r in ok(status(api, last))["results"]] == ["SUCCESS", "FAILED", "SUCCESS"]
    assert ok(status(api, {**last, "execution_date": "1999-01-01"}))["results"] == []
    by_status = ok(status(api, {"action": "get_by_status", "account": ACCOUNT, "configuration_type": "gbq-to-gbq",
                                "status": "SUCCESS"}))["results"]
    assert {r["run_id"] for r in by_status} == {runs[0], runs[2]}
    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"status": "DONE"}, {"account": "1"}):
        assert ops_error(status(api, {**last, **bad}), 400)


def test_set_run_status_is_final(tailer_factory: TailerFactory) -> None:
    box = tailer_factory(run_seconds=0.2)
    api = box.client()
    ok(api.put("/dag-generator-v2", json=dag_body(f"{ACCOUNT}_t_DEV")))
    who = ident("gbq-to-gbq", f"{ACCOUNT}_t_DEV")
    run_id = ok(api.post("/v1/dag/launch", json={"action": "launch_job", **who}))["run_id"]
    ok(status(api, {"action": "set_run_status", **who, "run_id": run_id, "status": "RUNNING"}))
    time.sleep(0.3)
    assert ok(status(api, {"action": "get_last_status", **who}))["results"][0]["status"] == "RUNNING"
    assert ops_error(status(api, {"action": "set_run_status", **who, "run_id": run_id, "status": "DONE"}), 400)
    assert ops_error(status(api, {"action": "set_run_status", **who, "run_id": run_id.replace("-", "_"), "status": "FAILED"}), 404)
    other = {**who, "configuration_id": f"{ACCOUNT}_other_DEV"}
    assert ops_error(status(api, {"action": "set_run_status", **other, "run_id": run_id, "status": "FAILED"}), 404)


def test_reset_workflow(api: httpx.Client, deployed: dict[str, str]) -> None:
    body = {"action": "reset_workflow_status", **ident("workflow", deployed["workflow"])}
    assert ok(api.post("/v1/workflow/status", json=body)) == {"code": 200, "data": {}, "message": "ok"}
    configurations = ok(api.get("/_sandbox/configurations"))["configurations"]
    assert [c["resets"] for c in configurations if c["configuration_type"] == "workflow"] == [1]
    assert ops_error(api.post("/v1/workflow/status", json={**body, **ident("table-to-storage", deployed["table-to-storage"])}), 400)
    assert ops_error(api.post("/v1/workflow/status", json={**body, "configuration_id": "nope"}), 404)


def test_configuration_status_flags(tailer: Tailer, api: httpx.Client, deployed: dict[str, str]) -> None:
    body = {"action": "set_configuration_status", **ident("storage-to-storage", deployed["storage-to-storage"])}

    def flags() -> tuple[bool, bool]:
        rows = ok(api.get("/_sandbox/configurations"))["configurations"]
        row = next(r for r in rows if r["configuration_id"] == deployed["storage-to-storage"])
        return row["activated"], row["archived"]

    assert ok(api.post("/v1/configuration/status", json={**body, "activated": False, "archived": False})) == {"message": "ok"}
    assert flags() == (False, False)
    ok(api.post("/v1/configuration/status", json={**body, "activated": True, "archived": False}))
    assert flags() == (True, False)
    assert ops_error(api.post("/v1/configuration/status", json={**body, "activated": True, "archived": True}), 400)
    ok(api.post("/v1/configuration/status", json={**body, "activated": False, "archived": True}))
    ok(api.post("/v1/configuration/status", json={**body, "activated": False, "archived": True}))  # idempotent
    assert flags() == (False, True)
    assert "super-administrators" in ops_error(api.post("/v1/configuration/status",
                                                        json={**body, "activated": True, "archived": False}), 403)
    assert flags() == (False, True)
    assert ops_error(api.post("/v1/configuration/status", json={**body, "configuration_id": "nope", "activated": True,
                                                                "archived": False}), 404)
    assert ops_error(api.post("/v1/configuration/status", json={**body, "activated": "yes", "archived": False}), 400)
    assert ops_error(api.post("/v1/configuration/status", json={**body, "action": "launch_job", "activated": True,
                                                                "archived": False}), 400)
    status_calls = [x for x in tailer.access_lines() if x["path"] == "/v1/configuration/status"]
    assert len(status_calls) == 9


@pytest.mark.parametrize("path", ["/v1/dag/launch", "/v1/dag/status", "/v1/workflow/status", "/v1/configuration/status"])
def test_ops_errors_are_in_the_ops_shape(api: httpx.Client, path: str) -> None:
    assert ops_error(api.post(path, content=b"{not json"), 400)
    assert ops_error(api.post(path, json=[]), 400)
    assert ops_error(api.post(path, json={}), 400) == "action is mandatory"
    assert ops_error(api.get(path), 405)
    assert ops_error(api.post(path + "/x", json={}), 404)


def test_seeded_runs_for_the_alive_probe(api: httpx.Client, deployed: dict[str, str]) -> None:
    who = ident("storage-to-storage", deployed["storage-to-storage"])
    run = ok(api.post("/_sandbox/runs", json={**who, "status": "FAILED"}), 201)
    assert run["status"] == "FAILED" and run["job_id"].startswith("storage-to-storage|")
    latest = ok(status(api, {"action": "get_last_status", **who, "limit": 1}))["results"]
    assert [r["run_id"] for r in latest] == [run["run_id"]]
    assert proxy_error(api.post("/_sandbox/runs", json={**who, "configuration_id": "nope"}), 404)
    assert proxy_error(api.post("/_sandbox/runs", json={**who, "status": "WHATEVER"}), 400)


def test_execute_dag_on_deploy_launches_a_run(api: httpx.Client, tailer: Tailer) -> None:
    from platforge.provider.tailer.sandbox import public_key_pem

    doc = configuration("table-to-storage", seal(secrets.token_urlsafe(16), public_key_pem(tailer.app)))
    ok(api.put("/configuration/v2", json=deploy_body(doc, execute_dag=True)))
    results = ok(status(api, {"action": "get_last_status", **ident("table-to-storage", doc["configuration_id"])}))["results"]
    assert len(results) == 1
    wf = configuration("workflow", {})
    ok(api.put("/configuration/v2", json=deploy_body(wf, execute_dag=True)))
    assert ok(status(api, {"action": "get_last_status", **ident("workflow", wf["configuration_id"])}))["results"] == []
