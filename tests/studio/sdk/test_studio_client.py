"""`StudioClient`, the class under the CLI, in process: every call the sandbox serves for it, its
`Response(data, ok, message, status)`, and the errors it turns into messages (contract §2.2)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from tests.studio.sandbox.conftest import TEAM, Studio, ok

pytestmark = pytest.mark.sdk

#: `datachain.remote.studio.ClusterData`
CLUSTER_DATA = {"id", "name", "status", "cloud_provider", "cloud_credentials", "is_active", "default", "max_workers",
                "active_workers", "busy_workers", "cloud_region", "instance_type", "compute_class", "disk_size"}


def test_clusters(studio_client: Callable[..., Any]):
    response = studio_client().get_clusters()
    assert response.ok and response.status == 200
    assert set(response.data[0]) >= CLUSTER_DATA


def test_jobs_upload_create_list_cancel(studio_client: Callable[..., Any], box: Studio):
    client = studio_client()
    uploaded = client.upload_file(io.BytesIO(b"abc\n"), "data.txt")
    assert uploaded.ok and uploaded.data["filename"] == "data.txt" and uploaded.data["size"] == 4
    created = client.create_job("print(1)", "PYTHON", environment="A=1", workers=2, query_name="q.py",
                                files=[str(uploaded.data["id"])], python_version="3.12", requirements="numpy",
                                priority=3, cluster="default", start_time="2999-01-01T00:00:00+00:00", credentials_name="c")
    assert created.ok and created.data["status"] == "SCHEDULED" and created.data["environment"] == {"A": "1"}
    job_id = created.data["id"]
    listed = client.get_jobs(job_id=job_id, include_steps=True)
    assert listed.ok and [j["id"] for j in listed.data] == [job_id] and listed.data[0]["steps"][0]["name"] == "queued"
    assert client.cancel_job(job_id).data == {"message": "Successfully canceled"}
    assert client.get_jobs(status="CANCELED").data[0]["id"] == job_id
    again = client.cancel_job(job_id)
    assert not again.ok and again.status == 400 and "already CANCELED" in again.message
    assert client.dataset_job_versions(job_id).data == {"dataset_versions": []}
    missing = client.dataset_job_versions("no-such-job")
    assert not missing.ok and missing.status == 404 and "not found" in missing.message


def test_pipelines(studio_client: Callable[..., Any]):
    client = studio_client()
    made = client.create_pipeline(["@alice.proj.ds", "@alice.proj.other"], review=True)
    assert made.ok and made.data["ok"] is True
    name = made.data["pipeline"]["name"]
    assert client.get_pipeline(name).data["status"] == "PAUSED"
    assert [p["name"] for p in client.list_pipelines(status="paused", limit=3, search=name[:4]).data] == [name]
    assert client.resume_pipeline(name).data["pipeline"]["status"] == "RUNNING"
    assert client.pause_pipeline(name).data["pipeline"]["status"] == "PAUSED"
    job_id = made.data["pipeline"]["job_runs"][0]["job_id"]
    assert client.remove_job_from_pipeline(name, job_id).data["pipeline"]["total"] == 1
    gone = client.get_pipeline("no-such-name")
    assert not gone.ok and gone.status == 404


def test_team_and_token_errors(studio_client: Callable[..., Any], box: Studio):
    foreign = studio_client(team="someone-elses").get_clusters()
    assert not foreign.ok and foreign.status == 403 and foreign.message == "Not authorized for the team someone-elses"
    bad = studio_client(team=TEAM, token="isat_wrong-token-000000").get_jobs()
    assert not bad.ok and bad.status == 401 and bad.message == "Invalid token"


def test_a_member_token_of_a_second_team(studio_client: Callable[..., Any], box: Studio):
    box.team_named("other")
    made = ok(box.client().post("/sandbox/users", json={"username": "olga", "teams": ["other"]}), 201)
    client = studio_client(team="other", token=made["token"])
    assert client.create_pipeline(["@olga.p.d"]).ok
    assert [p["triggered_from"] for p in client.list_pipelines().data] == ["@olga.p.d"]
    assert not studio_client(team=TEAM, token=made["token"]).list_pipelines().ok
