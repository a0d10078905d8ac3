"""The `datachain` CLI (0.62.0) drives jobs, clusters, pipelines and the device login against the
sandbox exactly as contract §3.2 runs it against Studio; every assertion is on what the CLI
printed or what the sandbox then holds."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.studio.sandbox.conftest import TEAM, Studio, ok
from tests.studio.sdk.conftest import Cli

pytestmark = pytest.mark.sdk


def test_job_clusters_shows_every_column(cli: Cli):
    out = cli.ok("job", "clusters")
    assert "default" in out and "us-east-1" in out and "0/0/4" in out


def test_job_run_with_everything_then_job_ls(cli: Cli, box: Studio):
    (cli.cwd / "hello.py").write_text('print("hello")\n')
    (cli.cwd / "data.txt").write_text("abc\n")
    out = cli.ok("job", "run", "hello.py", "--no-wait", "--files", "data.txt", "--env", "A=1", "--env", "B=2", "--req",
                 "numpy==1.0", "--workers", "2", "--python-version", "3.12", "--priority", "3", "--cluster", "default",
                 "--credentials-name", "mycreds")
    job_id = re.search(r"Job (\S+) created", out).group(1)
    job = ok(box.client().get("/datachain/jobs/", params={"job_id": job_id}))[0]
    assert job["environment"] == {"A": "1", "B": "2"} and job["requirements"] == "numpy==1.0"
    assert (job["workers"], job["priority"], job["python_version"], job["credentials_name"]) == (2, 3, "3.12", "mycreds")
    assert len(job["files"]) == 1 and job["query"] == 'print("hello")\n'
    second = re.search(r"Job (\S+) created", cli.ok("job", "run", "hello.py", "--no-wait")).group(1)
    assert second != job_id  # the CLI's own metastore refuses a repeated id (contract §3.4 #1)
    listing = cli.ok("job", "ls")
    assert job_id in listing and second in listing


def test_job_run_waits_for_the_job_and_reports_no_dataset_versions(cli: Cli):
    (cli.cwd / "q.py").write_text("print(1)\n")
    out = cli.ok("job", "run", "q.py")
    assert "COMPLETE" in out and "No dataset versions created during the job." in out


def test_a_cron_job_is_a_task(cli: Cli):
    (cli.cwd / "q.py").write_text("print(1)\n")
    out = cli.ok("job", "run", "q.py", "--cron", "0 0 * * *")
    assert "is scheduled as a task in Studio" in out


def test_pipeline_create_status_list_pause_resume_remove_job(cli: Cli, box: Studio):
    out = cli.ok("pipeline", "create", "@alice.proj.ds")
    name = re.search(r"Pipeline created under name: (\S+) from: @alice.proj.ds in paused state", out).group(1)
    status = cli.ok("pipeline", "status", name)
    assert f"Name: {name}" in status and "Status: PAUSED" in status and "Progress: 0/1" in status
    listed = cli.ok("pipeline", "list", "--status", "paused", "--limit", "3", "--search", name[:3])
    assert name in listed and "@alice.proj.ds" in listed
    assert f"Pipeline {name} resumed" in cli.ok("pipeline", "resume", name)
    assert "No pipelines found" in cli.ok("pipeline", "list", "--status", "paused")
    assert f"Pipeline {name} paused" in cli.ok("pipeline", "pause", name)
    job_id = ok(box.client().get("/datachain/pipeline/status", params={"name": name}))["job_runs"][0]["job_id"]
    assert f"Job {job_id} removed from pipeline {name}" in cli.ok("pipeline", "remove-job", name, job_id)
    assert "No job runs found" in cli.ok("pipeline", "status", name)
    missing = cli.run("pipeline", "status", "no-such-pipeline")
    assert missing.returncode != 0 and "Pipeline no-such-pipeline not found" in missing.stderr + missing.stdout


def test_errors_reach_the_user_as_studio_words_them(box: Studio, tmp_path: Path):
    from tests.studio.sdk.conftest import client_env

    wrong = Cli(client_env(box, tmp_path / "wrong", token="isat_not-a-real-token"), tmp_path / "wrong" / "work")
    result = wrong.run("job", "clusters")
    assert result.returncode != 0 and "Invalid token" in result.stderr + result.stdout
    right = Cli(client_env(box, tmp_path / "right"), tmp_path / "right" / "work")
    result = right.run("job", "ls", "--team", "someone-elses")
    assert result.returncode != 0 and "Not authorized for the team someone-elses" in result.stderr + result.stdout


def test_device_login_then_cancel_logs_and_logout(box: Studio, tmp_path: Path):
    from tests.studio.sdk.conftest import client_env

    cli = Cli(client_env(box, tmp_path / "login", token=""), tmp_path / "login" / "work")
    admin = box.client()
    running = ok(admin.post("/datachain/jobs/", json={"query": "x", "start_after": "2999-01-01T00:00:00Z"}))
    done = ok(admin.post("/datachain/jobs/", json={"query": "y"}))
    refused = cli.run("job", "cancel", running["id"])  # the config file holds no token yet (contract §3.1)
    assert refused.returncode != 0 and "Not logged in to Studio" in refused.stderr + refused.stdout

    login = cli.popen("auth", "login", "--no-open", "--hostname", box.url, "--team", TEAM, "--name", "ci-token",
                      "--scopes", "DATASETS")
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "?code=" not in line and time.monotonic() < deadline:
            line = login.stdout.readline()
        code = line.strip().rsplit("?code=", 1)[1]
        ok(admin.post("/sandbox/device-login", json={"user_code": code}))
        out, err = login.communicate(timeout=60)
    finally:
        if login.poll() is None:
            login.kill()
    assert login.returncode == 0, err
    assert "Authentication complete" in out and f"Set default team to '{TEAM}'" in out
    saved = cli.global_config.read_text()
    token = re.search(r'token = "([^"]+)"', saved).group(1)
    assert token.startswith("isat_") and box.url in saved

    assert f"Job {running['id']} canceled" in cli.ok("job", "cancel", running["id"])
    assert ok(admin.get("/datachain/jobs/", params={"job_id": running["id"]}))[0]["status"] == "CANCELED"
    time.sleep(0.3)  # job_seconds is 0.2: `done` is COMPLETE by now
    logs = cli.run("job", "logs", done["id"], timeout=120)
    assert logs.returncode == 0 and "No dataset versions created during the job." in logs.stdout, logs.stderr
    assert "Logged out from Studio" in cli.ok("auth", "logout")
    revoked = httpx.get(box.url + "/api/datachain/clusters/", headers={"authorization": f"token {token}"}, trust_env=False)
    assert revoked.status_code == 401
