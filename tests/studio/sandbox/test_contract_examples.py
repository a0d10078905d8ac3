"""Contract tests from the seed: the request examples of Studio's own API page ("Studio REST API
v1.0.0"), sent to the sandbox, must get the documented status and an answer of the documented
shape (every key of the example, each value of the example's JSON type, recursively).

No real client calls the RBAC and schedule routes (contract §4), so these examples are what
proves them. The examples are copied here verbatim; where one names an object by an id that
only exists on the seed's server (`497f6eca-...`, `"pipeline_id": "pipeline_id"`, `"user_id": 0`),
the id of the sandbox's own object is put in its place, and nothing else changes. The sandbox's
team is named `team_name`, as in the seed's bodies.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.studio.sandbox.conftest import Studio, StudioFactory, ok

SEED_TEAM = "team_name"
SEED_GROUP_ID = "497f6eca-6276-4993-bfeb-53cbbbba6f08"
SEED_RULE_GROUP_ID = "306db4e0-7449-4501-b76f-075576fe2d8f"

JOB_RUN = {"job_id": "453bd7d7-5355-4d6d-a38e-d9e7eb218c3f", "status": "string",
           "parent_job_ids": ["497f6eca-6276-4993-bfeb-53cbbbba6f08"], "name": "string",
           "created_job_id": "31f5fe21-b847-420d-8689-ef5a1d3104a4"}
PIPELINE = {"pipeline_id": "ec036e81-7903-4e4d-bbfa-ac8516341cf0", "status": "RUNNING", "job_runs": [JOB_RUN],
            "completed": 10, "total": 16, "error_message": "Error message", "error_stack": "Error stack",
            "triggered_from": "@amritghimire.project.dataset", "name": "rathe-kyat", "created_at": "2021-01-01T00:00:00Z",
            "updated_at": "2021-01-01T00:00:00Z", "is_definition": False, "schedule_name": "schedule_name",
            "python_version": "3.12", "requirements": "pandas==2.0.0", "repository": "git@github.com:user/repo.git",
            "workers": 4, "priority": 5, "environment_variables": {"TEST_ENV": "1"}, "created_via": "manual"}
SCHEDULE_ITEM = {"id": 0, "schedule_name": "string", "created_at": "2019-08-24T14:15:22Z", "updated_at": "2019-08-24T14:15:22Z",
                 "start_after": "2019-08-24T14:15:22Z", "cron_expression": "string", "next_run": "2019-08-24T14:15:22Z",
                 "created_by": {"username": "string", "first_name": "string", "last_name": "string"}}
SCHEDULE = {**SCHEDULE_ITEM, "latest_run": PIPELINE, "pipeline": PIPELINE}
GROUP = {"id": "497f6eca-6276-4993-bfeb-53cbbbba6f08", "name": "string", "description": "string", "member_count": 0,
         "created_at": "2019-08-24T14:15:22Z"}
MEMBER = {"user_id": 0, "username": "string", "email": "string", "role": "string"}
RULE = {"id": "497f6eca-6276-4993-bfeb-53cbbbba6f08", "resource_type": "string", "resource_uuid": "string", "resource_id": 0,
        "resource_name": "string", "permission": "string", "user_id": 0, "user_email": "string",
        "group_id": "306db4e0-7449-4501-b76f-075576fe2d8f", "group_name": "string"}
JOB = {"id": "497f6eca-6276-4993-bfeb-53cbbbba6f08",
       "url": "https://studio.datachain.ai/team/team_name/datasets/jobs/0502eef6-a32e-45fa-8e3b-d20ecpabbcf0",
       "status": "CREATED", "created_at": "2021-01-01T00:00:00Z", "created_by": "username",
       "finished_at": "2021-01-01T00:00:00Z", "query": "print('Hello, World!')", "query_type": "PYTHON", "team": "TeamName",
       "name": "QueryName", "workers": 1, "python_version": "3.13", "requirements": "numpy==1.24.0",
       "repository": "https://github.com/user/repo", "environment": {"ENV_NAME": "ENV_VALUE"}, "exit_code": 0,
       "error_message": "Error message", "error_stack": "", "params": {}, "metrics": {},
       "parent_job_id": "550e8400-e29b-41d4-a716-446655440000", "rerun_from_job_id": "550e8400-e29b-41d4-a716-446655440000",
       "run_group_id": "550e8400-e29b-41d4-a716-446655440000"}
CLUSTER = {"id": 1, "name": "ComputeClusterName", "status": "ACTIVE", "cloud_provider": "AWS",
           "cloud_credentials": "CredentialsName", "is_active": True, "default": True, "max_workers": 1}
UPLOAD = {"id": 1, "filename": "file.txt", "size": 100, "state": "pending", "error": "Error message"}

#: Values the sandbox leaves null where the seed's example shows one: nothing failed, nothing ran
#: yet, no credentials were named (contract §1.5-1.7).
NULLABLE = {"error_message", "error_stack", "latest_run", "finished_at", "exit_code", "parent_job_id", "rerun_from_job_id",
            "python_version", "repository", "schedule_name", "created_job_id", "cloud_credentials", "error", "user_id",
            "user_email", "group_id", "group_name", "next_run"}


#: Free-form maps: their keys are data (the user's variables), not fields.
MAPS = {"environment", "environment_variables", "params", "metrics"}


def assert_shape(example: Any, actual: Any, where: str = "answer") -> None:
    """`actual` has every key of `example`, each of the same JSON type (recursively)."""
    if where.rsplit(".", 1)[-1] in MAPS:
        assert isinstance(actual, dict) and all(isinstance(v, type(next(iter(example.values()), ""))) for v in actual.values()), \
            f"{where}: expected a map like {example!r}, got {actual!r}"
    elif isinstance(example, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in example.items():
            assert key in actual, f"{where}: missing {key!r} in {sorted(actual)}"
            if actual[key] is None:
                assert key in NULLABLE, f"{where}.{key} is null"
                continue
            assert_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        for item in actual:
            assert_shape(example[0], item, f"{where}[]")
    elif isinstance(example, bool):
        assert isinstance(actual, bool), f"{where}: expected a boolean, got {actual!r}"
    elif isinstance(example, int):
        assert isinstance(actual, int) and not isinstance(actual, bool), f"{where}: expected an integer, got {actual!r}"
    else:
        assert isinstance(actual, str), f"{where}: expected a string, got {actual!r}"


@pytest.fixture
def seed_studio(studio_factory: StudioFactory) -> Studio:
    return studio_factory(team=SEED_TEAM)


@pytest.fixture
def api(seed_studio: Studio) -> httpx.Client:
    """The seed documents `Authorization: Bearer <token>`."""
    return seed_studio.client(scheme="Bearer")


def test_group_examples(api: httpx.Client):
    made = ok(api.post("/datachain/rbac/access-groups/", json={"name": "production-team", "description": ""}), 201)
    assert_shape(GROUP, made)
    assert_shape([GROUP], ok(api.get("/datachain/rbac/access-groups/")))
    path = f"/datachain/rbac/access-groups/{SEED_GROUP_ID}/".replace(SEED_GROUP_ID, made["id"])
    assert_shape(GROUP, ok(api.patch(path, json={"name": "string", "description": "string"})))
    response = api.delete(path)
    assert response.status_code == 204 and response.content == b""


def test_member_examples(seed_studio: Studio, api: httpx.Client):
    group = ok(api.post("/datachain/rbac/access-groups/", json={"name": "production-team", "description": ""}), 201)
    user_id, _ = seed_studio.user("alice")
    base = f"/datachain/rbac/access-groups/{group['id']}/members/"
    body = {"user_id": 0, "role": "write"} | {"user_id": user_id}
    assert_shape(MEMBER, ok(api.post(base, json=body), 201))
    assert_shape([MEMBER], ok(api.get(base)))
    assert_shape(MEMBER, ok(api.patch(f"{base}{user_id}/", json={"role": "write"})))
    assert api.delete(f"{base}{user_id}/").status_code == 204


def test_rule_examples(seed_studio: Studio, api: httpx.Client):
    group = ok(api.post("/datachain/rbac/access-groups/", json={"name": "production-team", "description": ""}), 201)
    user_id, _ = seed_studio.user("alice")
    body = {"resource_type": "namespace", "resource_id": "string", "permission": "write", "user_id": 0,
            "group_id": SEED_RULE_GROUP_ID} | {"user_id": user_id, "group_id": group["id"]}
    made = ok(api.post("/datachain/rbac/access-rules/", json=body), 201)
    assert_shape(RULE, made)
    assert made["user_id"] == user_id and made["group_id"] == group["id"] and made["resource_name"] == "string"
    assert_shape([RULE], ok(api.get("/datachain/rbac/access-rules/")))
    assert_shape(RULE, ok(api.patch(f"/datachain/rbac/access-rules/{made['id']}/", json={"permission": "write"})))
    assert api.delete(f"/datachain/rbac/access-rules/{made['id']}/").status_code == 204


def _definition(api: httpx.Client) -> dict[str, Any]:
    body = {"datasets": ["@amritghimire.project_name.dataset_name@v1.0.0", "@amritghimire.project_name.dataset_name",
                         "dataset_name", "dataset_name@v1.0.0"], "team_name": "team_name"}
    answer = ok(api.post("/datachain/pipeline/trigger", json=body))
    assert answer["ok"] is True
    assert_shape(PIPELINE, answer["pipeline"])
    return answer["pipeline"]


def test_schedule_examples(api: httpx.Client):
    definition = _definition(api)
    create = {"schedule_name": "schedule_name", "team_name": "team_name", "pipeline_id": "pipeline_id",
              "pipeline_name": "rathy-kyat", "start_after": "2019-08-24T14:15:22Z", "cron_expression": "0 0 * * *"}
    create |= {"pipeline_id": definition["pipeline_id"], "pipeline_name": definition["name"]}
    made = ok(api.post("/datachain/pipeline/create-schedule", json=create))
    assert made["ok"] is True
    ok(api.post("/datachain/pipeline/run", json={"team_name": "team_name", "definition_id": definition["pipeline_id"]}))
    update = {"schedule_name": "schedule_name", "team_name": "team_name", "schedule_id": 1, "start_after": "2019-08-24T14:15:22Z",
              "cron_expression": "0 0 * * *", "pause_pipeline": True} | {"schedule_id": made["schedule"]["id"]}
    updated = ok(api.post("/datachain/pipeline/update-schedule", json=update))
    assert updated["ok"] is True and updated["schedule"]["pipeline"]["status"] == "PAUSED"
    assert_shape(SCHEDULE, updated["schedule"])
    got = ok(api.get(f"/datachain/pipeline/schedule?team_name={SEED_TEAM}&schedule_id={made['schedule']['id']}"))
    assert_shape(SCHEDULE, got)
    assert_shape([SCHEDULE_ITEM], ok(api.get("/datachain/pipeline/schedules", params={"team_name": SEED_TEAM})))
    delete = {"team_name": "team_name", "schedule_id": 1} | {"schedule_id": made["schedule"]["id"]}
    assert ok(api.post("/datachain/pipeline/delete-schedule", json=delete)) == {"ok": True}


def test_pipeline_examples(api: httpx.Client):
    definition = _definition(api)
    job_id = definition["job_runs"][0]["job_id"]
    named = {"team_name": "team_name", "pipeline_id": "ec036e81-7903-4e4d-bbfa-ac8516341cf0", "name": "string"}
    named |= {"pipeline_id": definition["pipeline_id"]}
    settings = {"team_name": "team_name", "pipeline_name": "rathy-kyat", "python_version": "3.12",
                "requirements": "pandas==2.0.0", "repository": "git@github.com:user/repo.git", "workers": 4, "priority": 5,
                "environment": "TEST_ENV=1", "files": ["file_id_1", "file_id_2"], "credentials_names": ["cred_name_1"]}
    settings |= {"pipeline_name": definition["name"]}
    for path, body in (("settings", settings), ("pause", named), ("resume", named), ("duplicate", named),
                       ("remove-job", {**named, "job_id": "job_id"} | {"job_id": job_id}),
                       ("run", {"team_name": "team_name", "definition_id": definition["pipeline_id"]})):
        answer = ok(api.post(f"/datachain/pipeline/{path}", json=body))
        assert answer["ok"] is True, path
        assert_shape(PIPELINE, answer["pipeline"], path)
    assert_shape(PIPELINE, ok(api.get("/datachain/pipeline/status", params={"team_name": SEED_TEAM,
                                                                            "pipeline_id": definition["pipeline_id"]})))
    assert_shape([PIPELINE], ok(api.get("/datachain/pipeline/list", params={"team_name": SEED_TEAM})))


def test_job_file_and_cluster_examples(api: httpx.Client):
    clusters = ok(api.get("/datachain/clusters/"))  # the seed's example sends no team_name
    assert_shape([{**CLUSTER, "id": "1"}], clusters)  # ids are strings of digits (contract §5 #11)
    files = [str(ok(api.post("/datachain/jobs/files?team_name=string".replace("string", SEED_TEAM),
                              files={"file": ("file.txt", b"x" * 100)}))["id"]) for _ in range(2)]
    first = ok(api.post("/datachain/jobs/", json={"query": "print('Hello, World!')", "team_name": SEED_TEAM}))
    example = {"query": "print('Hello, World!')", "query_type": "PYTHON", "team_name": "TeamName",
               "environment": "ENV_NAME=ENV_VALUE", "workers": 1, "query_name": "QueryName",
               "rerun_from_job_id": "550e8400-e29b-41d4-a716-446655440000", "files": ["2", "3"], "python_version": "3.13",
               "requirements": "numpy==1.24.0", "repository": "https://github.com/user/repo", "priority": 1,
               "compute_cluster_name": "ComputeClusterName", "compute_cluster_id": 1, "start_after": "2021-01-01T00:00:00Z",
               "cron_expression": "0 0 * * *", "credentials_name": "CredentialsName", "reset": False}
    body = copy.deepcopy(example) | {"team_name": SEED_TEAM, "rerun_from_job_id": first["id"], "files": files,
                                     "compute_cluster_name": "default"}
    refused = api.post("/datachain/jobs/", json=body)  # the example sends both, which the seed calls exclusive
    assert refused.status_code == 400 and "mutually exclusive" in refused.json()["message"]
    job = ok(api.post("/datachain/jobs/", json={**body, "compute_cluster_id": None}))
    assert_shape(JOB, job)
    assert job["environment"] == {"ENV_NAME": "ENV_VALUE"} and job["rerun_from_job_id"] == first["id"]
    assert_shape([JOB], ok(api.get(f"/datachain/jobs/?team_name={SEED_TEAM}")))
    assert ok(api.post(f"/datachain/jobs/{first['id']}/cancel", json={"team_name": SEED_TEAM})) == \
        {"message": "Successfully canceled"}
    assert_shape(UPLOAD, ok(api.post("/datachain/jobs/files", params={"team_name": SEED_TEAM},
                                     files={"file": ("file.txt", b"y" * 100)})))
