"""Pipelines and their schedules (contract §1.4, §1.5, §5 #6-#9): what the CLI calls, and the
schedule RPCs the provider's `PipelineSchedule` kind rests on."""

from __future__ import annotations

from typing import Any

import httpx

from tests.studio.sandbox.conftest import TEAM, Studio, error, ok

P = "/datachain/pipeline"
PIPELINE_KEYS = {"pipeline_id", "status", "job_runs", "completed", "total", "error_message", "error_stack",
                 "triggered_from", "name", "created_at", "updated_at", "is_definition", "schedule_name", "python_version",
                 "requirements", "repository", "workers", "priority", "environment_variables", "created_via"}


def schedule_body(definition: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"schedule_name": "nightly", "team_name": TEAM, "pipeline_id": definition["pipeline_id"],
            "start_after": "2019-08-24T14:15:22Z", "cron_expression": "0 0 * * *", **changes}


def test_trigger_with_review_is_a_paused_definition(definition: dict[str, Any]):
    assert set(definition) == PIPELINE_KEYS
    assert definition["status"] == "PAUSED" and definition["is_definition"] is True
    assert definition["triggered_from"] == "@alice.proj.ds" and definition["total"] == 1
    assert definition["name"].count("-") >= 1 and definition["created_at"][:19].count("T") == 1


def test_trigger_without_review_and_bad_datasets(admin: httpx.Client):
    made = ok(admin.post(f"{P}/trigger", json={"datasets": ["a", "b"], "team_name": TEAM}))["pipeline"]
    assert made["status"] == "RUNNING" and [r["name"] for r in made["job_runs"]] == ["a", "b"]
    for bad in ({}, {"datasets": []}, {"datasets": "a"}, {"datasets": [1]}, {"datasets": [" "]}, {"datasets": ["a"], "review": 1}):
        error(admin.post(f"{P}/trigger", json=bad), 400)


def test_status_pause_resume_by_name_or_id(admin: httpx.Client, definition: dict[str, Any]):
    name, pid = definition["name"], definition["pipeline_id"]
    assert ok(admin.get(f"{P}/status", params={"name": name, "team_name": TEAM}))["pipeline_id"] == pid
    assert ok(admin.get(f"{P}/status", params={"pipeline_id": pid}))["name"] == name
    assert ok(admin.post(f"{P}/resume", json={"name": name, "team_name": TEAM}))["pipeline"]["status"] == "RUNNING"
    assert ok(admin.post(f"{P}/pause", json={"pipeline_id": pid, "name": "ignored"}))["pipeline"]["status"] == "PAUSED"
    error(admin.get(f"{P}/status", params={"name": "no-such"}), 404)
    error(admin.get(f"{P}/status"), 400)
    error(admin.post(f"{P}/pause", json={"pipeline_id": "nope", "name": name}), 404)  # the id wins (§5 #6)


def test_remove_job_run_and_duplicate(admin: httpx.Client):
    made = ok(admin.post(f"{P}/trigger", json={"datasets": ["a", "b"], "review": True}))["pipeline"]
    first = made["job_runs"][0]["job_id"]
    left = ok(admin.post(f"{P}/remove-job", json={"name": made["name"], "job_id": first}))["pipeline"]
    assert [r["name"] for r in left["job_runs"]] == ["b"] and left["total"] == 1
    error(admin.post(f"{P}/remove-job", json={"name": made["name"], "job_id": first}), 404)
    copy = ok(admin.post(f"{P}/duplicate", json={"name": made["name"]}))["pipeline"]
    assert copy["name"] != made["name"] and copy["is_definition"] and copy["status"] == "PAUSED"
    run = ok(admin.post(f"{P}/run", json={"definition_id": made["pipeline_id"]}))["pipeline"]
    assert run["is_definition"] is False and run["status"] == "RUNNING"
    error(admin.post(f"{P}/run", json={"definition_id": run["pipeline_id"]}), 400)  # a run is not a definition


def test_settings_change_the_definition(admin: httpx.Client, definition: dict[str, Any]):
    body = {"team_name": TEAM, "pipeline_name": definition["name"], "python_version": "3.12", "requirements": "pandas==2.0.0",
            "repository": "git@github.com:user/repo.git", "workers": 4, "priority": 5, "environment": "TEST_ENV=1",
            "files": ["file_id_1"], "credentials_names": ["cred_name_1"]}
    changed = ok(admin.post(f"{P}/settings", json=body))["pipeline"]
    assert changed["environment_variables"] == {"TEST_ENV": "1"} and changed["workers"] == 4
    assert changed["repository"] == "git@github.com:user/repo.git" and changed["python_version"] == "3.12"
    error(admin.post(f"{P}/settings", json={**body, "workers": "four"}), 400)


def test_list_filters_by_status_search_and_limit(admin: httpx.Client, definition: dict[str, Any]):
    running = ok(admin.post(f"{P}/trigger", json={"datasets": ["@bob.p.other"]}))["pipeline"]
    assert [p["name"] for p in ok(admin.get(f"{P}/list"))] == [running["name"], definition["name"]]
    assert [p["name"] for p in ok(admin.get(f"{P}/list", params={"status": "PAUSED"}))] == [definition["name"]]
    assert [p["name"] for p in ok(admin.get(f"{P}/list", params={"search": "BOB.P"}))] == [running["name"]]
    assert len(ok(admin.get(f"{P}/list", params={"limit": 1}))) == 1
    error(admin.get(f"{P}/list", params={"limit": "many"}), 400)


def test_schedule_lifecycle(admin: httpx.Client, definition: dict[str, Any]):
    made = ok(admin.post(f"{P}/create-schedule", json=schedule_body(definition)))
    assert made["ok"] is True
    schedule = made["schedule"]
    assert set(schedule) == {"id", "schedule_name", "created_at", "updated_at", "start_after", "cron_expression",
                             "next_run", "latest_run", "pipeline", "created_by"}
    assert isinstance(schedule["id"], int) and schedule["next_run"].endswith("T00:00:00.000000Z")
    assert schedule["pipeline"]["schedule_name"] == "nightly" and schedule["latest_run"] is None
    assert schedule["created_by"] == {"username": "admin", "first_name": "", "last_name": ""}
    got = ok(admin.get(f"{P}/schedule", params={"schedule_id": schedule["id"], "team_name": TEAM}))
    assert got == schedule
    items = ok(admin.get(f"{P}/schedules"))
    assert items == [{k: v for k, v in schedule.items() if k not in ("latest_run", "pipeline")}]
    updated = ok(admin.post(f"{P}/update-schedule", json={"schedule_id": schedule["id"], "schedule_name": "hourly",
                                                         "cron_expression": "@hourly", "pause_pipeline": False}))
    assert updated["schedule"]["schedule_name"] == "hourly" and updated["schedule"]["pipeline"]["status"] == "RUNNING"
    paused = ok(admin.post(f"{P}/update-schedule", json={"schedule_id": schedule["id"], "pause_pipeline": True}))
    assert paused["schedule"]["pipeline"]["status"] == "PAUSED" and paused["schedule"]["cron_expression"] == "@hourly"
    assert ok(admin.post(f"{P}/delete-schedule", json={"schedule_id": schedule["id"], "team_name": TEAM})) == {"ok": True}
    error(admin.get(f"{P}/schedule", params={"schedule_id": schedule["id"]}), 404)
    error(admin.post(f"{P}/delete-schedule", json={"schedule_id": schedule["id"]}), 404)


def test_schedule_rules(admin: httpx.Client, definition: dict[str, Any]):
    ok(admin.post(f"{P}/create-schedule", json=schedule_body(definition)))
    error(admin.post(f"{P}/create-schedule", json=schedule_body(definition)), 409)
    by_name = schedule_body(definition, schedule_name="by-name", pipeline_id=None, pipeline_name=definition["name"])
    assert ok(admin.post(f"{P}/create-schedule", json=by_name))["schedule"]["pipeline"]["pipeline_id"] == definition["pipeline_id"]
    never = ok(admin.post(f"{P}/create-schedule", json=schedule_body(definition, schedule_name="never",
                                                                      cron_expression="0 0 31 2 *")))
    assert never["schedule"]["next_run"] is None
    run = ok(admin.post(f"{P}/run", json={"definition_id": definition["pipeline_id"]}))["pipeline"]
    error(admin.post(f"{P}/create-schedule", json=schedule_body(run, schedule_name="on-a-run")), 400)
    latest = ok(admin.get(f"{P}/schedule", params={"schedule_id": never["schedule"]["id"]}))["latest_run"]
    assert latest["pipeline_id"] == run["pipeline_id"]
    for bad in ({"cron_expression": "61 * * * *"}, {"cron_expression": "* * *"}, {"start_after": "soon"},
                {"schedule_name": ""}, {"pipeline_id": None}, {"pipeline_id": "missing"}):
        response = admin.post(f"{P}/create-schedule", json=schedule_body(definition, **{"schedule_name": "x", **bad}))
        assert response.status_code in (400, 404), response.text
    assert [s["schedule_name"] for s in ok(admin.get(f"{P}/schedules"))] == ["nightly", "by-name", "never"]
    for bad_id in ("x", "-1", str(2**70)):
        error(admin.get(f"{P}/schedule", params={"schedule_id": bad_id}), 400)
    error(admin.post(f"{P}/update-schedule", json={"schedule_name": "no id"}), 400)


def test_schedules_of_another_team_are_invisible(studio: Studio, admin: httpx.Client, definition: dict[str, Any]):
    made = ok(admin.post(f"{P}/create-schedule", json=schedule_body(definition)))["schedule"]
    studio.team_named("other")
    assert ok(admin.get(f"{P}/schedules", params={"team_name": "other"})) == []
    error(admin.get(f"{P}/schedule", params={"schedule_id": made["id"], "team_name": "other"}), 404)
    error(admin.post(f"{P}/delete-schedule", json={"schedule_id": made["id"], "team_name": "other"}), 404)
    error(admin.get(f"{P}/status", params={"name": definition["name"], "team_name": "other"}), 404)
