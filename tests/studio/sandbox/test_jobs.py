"""Jobs, uploaded files and clusters as the `datachain` client sends them (contract §1.6, §1.7,
§3.3, §3.4): fresh ids, the lifecycle the sandbox stands in for, and references checked within
the team."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.studio.sandbox.conftest import TEAM, Studio, StudioFactory, error, ok

JOBS = "/datachain/jobs/"
CLUSTER_KEYS = {"id", "name", "status", "cloud_provider", "cloud_credentials", "is_active", "default", "max_workers",
                "active_workers", "busy_workers", "cloud_region", "instance_type", "compute_class", "disk_size"}


def job_body(**changes: Any) -> dict[str, Any]:
    """The body `datachain job run` sends (contract §3.3)."""
    return {"query": 'print("hello")\n', "query_type": "PYTHON", "environment": "A=1\nB=2", "workers": 2,
            "query_name": "hello.py", "rerun_from_job_id": None, "reset": False, "files": [], "python_version": "3.12",
            "requirements": "numpy==1.0", "repository": None, "priority": 3, "compute_cluster_name": "default",
            "start_after": None, "cron_expression": None, "credentials_name": "mycreds", "team_name": TEAM, **changes}


def upload(client: httpx.Client, name: str = "data.txt", content: bytes = b"abc\n") -> dict[str, Any]:
    return ok(client.post("/datachain/jobs/files", params={"team_name": TEAM},
                          files={"file": (name, content, "application/octet-stream")}))


def test_clusters_carry_every_key_the_cli_indexes(admin: httpx.Client):
    clusters = ok(admin.get("/datachain/clusters/", params={"team_name": TEAM}))
    assert len(clusters) == 1 and set(clusters[0]) == CLUSTER_KEYS
    assert clusters[0]["id"] == "1" and clusters[0]["name"] == "default" and clusters[0]["default"] is True


def test_upload_then_run_a_job_with_the_file(admin: httpx.Client):
    uploaded = upload(admin)
    assert uploaded == {"id": uploaded["id"], "filename": "data.txt", "size": 4, "state": "pending", "error": None}
    job = ok(admin.post(JOBS, json=job_body(files=[str(uploaded["id"])])))
    assert job["environment"] == {"A": "1", "B": "2"} and job["files"] == [str(uploaded["id"])]
    assert job["status"] == "QUEUED" and job["team"] == TEAM and job["name"] == "hello.py"
    assert job["compute_cluster_name"] == "default" and job["compute_cluster_id"] == "1"
    assert job["url"].endswith(f"/team/{TEAM}/datasets/jobs/{job['id']}") and job["run_group_id"] == job["id"]
    again = ok(admin.post(JOBS, json=job_body()))
    assert again["id"] != job["id"]  # a fresh id each time (contract §3.4 #1)
    assert [j["id"] for j in ok(admin.get(JOBS, params={"team_name": TEAM}))] == [again["id"], job["id"]]


def test_job_references_must_be_of_the_team(studio: Studio, admin: httpx.Client):
    studio.team_named("other")
    foreign = ok(admin.post("/datachain/jobs/files", params={"team_name": "other"}, files={"file": ("x", b"x")}))
    assert "was not uploaded" in error(admin.post(JOBS, json=job_body(files=[str(foreign["id"])])), 400)["message"]
    error(admin.post(JOBS, json=job_body(files=["not-a-number"])), 400)
    error(admin.post(JOBS, json=job_body(compute_cluster_name="gpu")), 400)
    error(admin.post(JOBS, json=job_body(compute_cluster_id=1)), 400)  # both given: exclusive
    ok(admin.post(JOBS, json=job_body(compute_cluster_name=None, compute_cluster_id="1")))
    error(admin.post(JOBS, json=job_body(rerun_from_job_id="497f6eca-6276-4993-bfeb-53cbbbba6f08")), 400)
    for bad in ({"query_type": "RUST"}, {"environment": "NOEQUALS"}, {"workers": 0}, {"priority": -1},
                {"start_after": "yesterday"}, {"cron_expression": "every day"}, {"query": None}, {"environment": {"A": 1}}):
        error(admin.post(JOBS, json=job_body(**bad)), 400)


def test_a_rerun_joins_the_run_group_of_its_original(admin: httpx.Client):
    first = ok(admin.post(JOBS, json=job_body()))
    rerun = ok(admin.post(JOBS, json=job_body(rerun_from_job_id=first["id"])))
    assert rerun["rerun_from_job_id"] == first["id"] and rerun["run_group_id"] == first["run_group_id"]


def test_lifecycle_queued_running_complete(studio_factory: StudioFactory):
    studio = studio_factory(job_seconds=0.6)
    admin = studio.client()
    job = ok(admin.post(JOBS, json=job_body()))
    assert job["status"] == "QUEUED" and job["started_at"] is None
    time.sleep(0.35)
    assert ok(admin.get(JOBS, params={"job_id": job["id"]}))[0]["status"] == "RUNNING"
    time.sleep(0.4)
    done = ok(admin.get(JOBS, params={"job_id": job["id"], "include_steps": "True"}))[0]
    assert done["status"] == "COMPLETE" and done["exit_code"] == 0 and done["finished_at"]
    assert [s["name"] for s in done["steps"]] == ["queued", "running"]
    assert ok(admin.get(JOBS, params={"status": "COMPLETE", "limit": 5})) == [{**done, "steps": None}]
    assert ok(admin.get(JOBS, params={"status": "RUNNING"})) == []
    assert "already COMPLETE" in error(admin.post(f"{JOBS}{job['id']}/cancel", json={"team_name": TEAM}), 400)["message"]
    assert ok(admin.get("/datachain/datasets/dataset_job_versions", params={"job_id": job["id"]})) == {"dataset_versions": []}


def test_cancel_scheduled_and_cron_jobs(studio_factory: StudioFactory):
    studio = studio_factory(job_seconds=3600)
    admin = studio.client()
    running = ok(admin.post(JOBS, json=job_body()))
    later = ok(admin.post(JOBS, json=job_body(start_after="2999-01-01T00:00:00+00:00")))
    cron = ok(admin.post(JOBS, json=job_body(cron_expression="0 0 * * *")))
    assert (later["status"], cron["status"]) == ("SCHEDULED", "TASK")
    for job in (running, later, cron):
        assert ok(admin.post(f"{JOBS}{job['id']}/cancel", json={"team_name": TEAM})) == {"message": "Successfully canceled"}
        assert ok(admin.get(JOBS, params={"job_id": job["id"]}))[0]["status"] == "CANCELED"
    error(admin.post(f"{JOBS}{running['id']}/cancel", json={"team_name": TEAM}), 400)
    error(admin.post(f"{JOBS}no-such-job/cancel", json={"team_name": TEAM}), 404)


def test_the_sandbox_route_fails_a_job(studio_factory: StudioFactory):
    admin = studio_factory(job_seconds=3600).client()
    job = ok(admin.post(JOBS, json=job_body()))
    failed = ok(admin.post(f"/sandbox/jobs/{job['id']}/finish", json={"status": "FAILED", "error_message": "boom"}))
    assert failed["status"] == "FAILED" and failed["exit_code"] == 1 and failed["error_message"] == "boom"
    logs = ok(admin.get(f"{JOBS}{job['id']}/logs"))
    assert logs["job"] == {"status": "FAILED"} and logs["logs"][0]["message"].startswith("Job ")


def test_listing_limits_and_filters(admin: httpx.Client):
    ids = [ok(admin.post(JOBS, json=job_body()))["id"] for _ in range(4)]
    assert [j["id"] for j in ok(admin.get(JOBS, params={"limit": 2}))] == ids[::-1][:2]
    assert ok(admin.get(JOBS, params={"limit": 0})) == []
    assert ok(admin.get(JOBS, params={"job_id": "unknown"})) == []
    for bad in ({"limit": "-1"}, {"limit": "x"}, {"limit": str(10**30)}, {"status": "SLEEPING"}):
        error(admin.get(JOBS, params=bad), 400)


def test_upload_refuses_what_is_not_a_file(admin: httpx.Client):
    error(admin.post("/datachain/jobs/files", content=b"raw", headers={"content-type": "text/plain"}), 400)
    error(admin.post("/datachain/jobs/files", files={"other": ("x", b"x")}), 400)
    plain = ok(admin.post("/datachain/jobs/files", data={"file": "string"},
                          files={"ignored": ("y", b"")}))  # the seed's `curl --form file=string`
    assert plain["filename"] == "file" and plain["size"] == len("string")
    sneaky = upload(admin, name="../../etc/passwd")
    assert sneaky["filename"] == "passwd"


def test_the_log_stream_is_refused_so_that_the_client_polls(studio: Studio, admin: httpx.Client):
    """401 and 403 are errors to the client; any other refusal makes it poll (contract §3.4 #2)."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    job = ok(admin.post(JOBS, json=job_body()))
    base = studio.url.replace("http://", "ws://") + "/api/logs/follow/"
    for token, query, status in ((studio.token, f"job_id={job['id']}&team_name={TEAM}", 404),
                                 ("isat_wrong-token-00000", f"job_id={job['id']}&team_name={TEAM}", 401),
                                 (studio.token, f"job_id={job['id']}&team_name=elsewhere", 403)):
        try:
            with connect(f"{base}?{query}", additional_headers={"Authorization": f"token {token}"}, open_timeout=10):
                raise AssertionError("the upgrade was accepted")
        except InvalidStatus as exc:
            assert exc.response.status_code == status, (query, exc.response.status_code)
