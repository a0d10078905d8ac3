"""Simulated image builds (DECISIONS.md "Jobs", "Builds"): a version saved with `build_seconds` > 0
is `building`, then `ready`; the `platforge-sandbox:fail-build` requirement makes it `failed`
with a build log naming why; start, promote and rerun wait for a successful build, and promoted
copies are never built. Also `job ls show-children`, which gives a workflow's tasks as `job get`
does, and databases written before builds were simulated."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import RunningSandbox, SandboxFactory
from tests.datatailr.sandbox.test_jobs import Api, service, workflow

FAIL = "platforge-sandbox:fail-build"
BUILD = 0.3  # seconds: long enough to be seen building, short enough to wait for


@pytest.fixture
def connect(sandbox_factory: SandboxFactory) -> Iterator[Callable[..., tuple[RunningSandbox, Api]]]:
    """`connect(build_seconds=0.3)`: a sandbox with those settings and the admin signed in."""
    clients: list[httpx.Client] = []

    def start(**settings) -> tuple[RunningSandbox, Api]:
        box = sandbox_factory(**settings)
        client = httpx.Client(base_url=box.url, timeout=30)
        clients.append(client)
        assert client.post("/login", auth=(box.admin_user, box.admin_password)).status_code == 200
        return box, Api(client, box.admin_user)

    yield start
    for client in clients:
        client.close()


@pytest.fixture
def slow(connect) -> Api:
    """A sandbox whose builds take `BUILD` seconds."""
    return connect(build_seconds=BUILD)[1]


def failing(job: dict) -> dict:
    job["image"]["python_requirements"] = f"flask\n  {FAIL}  \nrequests"
    return job


def wait_until_built(api: Api, name: str, env: str = "dev", timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = api.one(name, environment=env)
        if job["state"] != "building":
            return job
        assert time.monotonic() < deadline, f"{name} still building after {timeout} s"
        time.sleep(0.05)


def start_body(name: str, **extra) -> dict:
    return {"job_name": name, "environment": "dev", **extra}


# ── time ───────────────────────────────────────────────────────────────────────────────────


def test_by_default_a_saved_version_is_ready_at_once_with_a_successful_build_log(connect) -> None:
    _, api = connect()
    api.save(service())
    job = api.one("price-server")
    assert job["state"] == "ready"
    image = job["image"]
    assert image["last_build_succeeded"] is True
    assert image["build_stdout"].splitlines() == [
        "Building image price-server:1 with Python 3.12", "Collecting flask", "Successfully built price-server:1",
    ]
    assert image["build_stderr"] == ""
    assert "build" not in job  # the stored record is internal
    assert "running" in json.dumps(api.ok("POST", "start", body=start_body("price-server")))


def test_a_version_is_building_until_its_build_time_has_passed_then_ready(slow: Api) -> None:
    before = time.time_ns() // 1000
    slow.save(service())
    job = slow.one("price-server")
    assert job["state"] == "building"
    assert job["image"]["last_build_succeeded"] is None
    assert job["image"]["build_stdout"].splitlines() == ["Building image price-server:1 with Python 3.12",
                                                         "Collecting flask"]
    assert job["image"]["build_stderr"] == ""
    assert [j["state"] for j in slow.ls()] == ["building"]
    assert [j["name"] for j in slow.ls(filter="state=building")] == ["price-server"]
    done = wait_until_built(slow, "price-server")
    assert (time.time_ns() // 1000) - before >= BUILD * 1_000_000
    assert done["state"] == "ready" and done["image"]["last_build_succeeded"] is True
    assert done["image"]["build_stdout"].endswith("Successfully built price-server:1\n")
    assert slow.ls(filter="state=building") == []


def test_each_save_builds_anew_and_older_versions_stay_built(slow: Api) -> None:
    slow.save(service())
    wait_until_built(slow, "price-server")
    slow.save(service())
    assert slow.one("price-server")["state"] == "building"
    assert slow.one("price-server", version=1)["state"] == "ready"
    assert wait_until_built(slow, "price-server")["state"] == "ready"


def test_a_workflows_tasks_show_the_workflows_build_state(slow: Api) -> None:
    slow.save(workflow())
    full = slow.one("my-flow", **{"show-children": "True"})
    assert full["state"] == "building"
    assert {c["state"] for c in full["children_full"]} == {"building"}
    assert slow.one("my-flow-1")["state"] == "building"
    wait_until_built(slow, "my-flow")
    assert slow.one("my-flow-1")["state"] == "ready"


# ── failure ────────────────────────────────────────────────────────────────────────────────


def test_the_fail_hook_fails_the_build_once_its_time_has_passed(slow: Api) -> None:
    slow.save(failing(service()))
    building = slow.one("price-server")
    assert building["state"] == "building" and building["image"]["last_build_succeeded"] is None
    assert building["image"]["build_stderr"] == ""
    job = wait_until_built(slow, "price-server")
    assert job["state"] == "failed"
    image = job["image"]
    assert image["last_build_succeeded"] is False
    assert image["build_stdout"].splitlines() == [
        "Building image price-server:1 with Python 3.12", "Collecting flask", f"Collecting {FAIL}",
    ]  # pip stops at the requirement it cannot find
    tail = image["build_stderr"].splitlines()[-2:]
    assert tail == [f"ERROR: No matching distribution found for {FAIL}",
                    "ERROR: the build of image price-server:1 failed"]
    assert "Successfully built" not in image["build_stdout"]
    assert [j["state"] for j in slow.ls()] == ["failed"]
    time.sleep(BUILD)
    assert slow.one("price-server")["state"] == "failed"  # for good


def test_with_no_build_time_a_failing_build_is_failed_at_once(connect) -> None:
    _, api = connect()
    api.save(failing(workflow()))
    job = api.one("my-flow", **{"show-children": "True"})
    assert job["state"] == "failed" and job["image"]["last_build_succeeded"] is False
    assert {c["state"] for c in job["children_full"]} == {"failed"}
    assert {c["image"]["last_build_succeeded"] for c in job["children_full"]} == {False}


@pytest.mark.parametrize("requirements", [
    "platforge-sandbox:fail-build-not", "# platforge-sandbox:fail-build", "platforge-sandbox", "flask, requests",
])
def test_only_a_line_that_is_exactly_the_hook_fails(connect, requirements: str) -> None:
    _, api = connect()
    job = service()
    job["image"]["python_requirements"] = requirements
    api.save(job)
    got = api.one("price-server")
    assert got["state"] == "ready" and got["image"]["last_build_succeeded"] is True


def test_a_new_version_without_the_hook_fixes_a_failed_build(connect) -> None:
    _, api = connect()
    api.save(failing(service()))
    assert api.one("price-server")["state"] == "failed"
    api.save(service())
    assert api.one("price-server")["state"] == "ready"
    assert api.one("price-server", version=1)["state"] == "failed"


def test_build_outputs_sent_in_a_saved_image_are_replaced_by_the_sandboxs(connect) -> None:
    _, api = connect()
    job = failing(service())
    job["image"].update(build_stdout="forged", build_stderr="", last_build_succeeded=True)
    api.save(job)
    image = api.one("price-server")["image"]
    assert image["last_build_succeeded"] is False and image["build_stdout"] != "forged"
    assert FAIL in image["build_stderr"]


def test_build_logs_option_is_validated_and_the_log_is_always_there(connect) -> None:
    _, api = connect()
    api.save(failing(service()))
    plain = api.one("price-server")
    for stream in ("stdout", "stderr"):
        assert api.one("price-server", **{"build-logs": stream}) == plain
    assert FAIL in plain["image"]["build_stderr"]
    assert "stdout or stderr" in api.fail(400, "GET", "get", {"job_name": "price-server", "build-logs": "both"})


# ── what a build blocks ────────────────────────────────────────────────────────────────────


def test_start_promote_and_rerun_wait_for_the_build_then_work(slow: Api) -> None:
    slow.save(workflow())
    message = slow.fail(409, "POST", "start", body=start_body("my-flow"))
    assert "still building" in message and "version 1" in message.lower()
    assert "still building" in slow.fail(409, "POST", "promote", body=start_body("my-flow", version="1"))
    assert slow.runs() == []
    assert slow.get("my-flow", environment="pre") == []  # nothing was copied
    wait_until_built(slow, "my-flow")
    started = slow.ok("POST", "start", body=start_body("my-flow"))
    run_id = started["running"][0]["RunId"]
    slow.ok("POST", "promote", body=start_body("my-flow", version="1"))
    slow.save(workflow())  # version 2 builds; a rerun of the run on version 2 must wait
    assert "still building" in slow.fail(409, "POST", "rerun", body={"run-id": str(run_id), "version": "2"})
    slow.ok("POST", "rerun", body={"run-id": str(run_id)})  # its own version 1 is built


def test_start_promote_and_rerun_of_a_failed_build_name_the_failure(connect) -> None:
    _, api = connect()
    api.save(workflow())
    run_id = api.ok("POST", "start", body=start_body("my-flow"))["running"][0]["RunId"]
    api.save(failing(workflow()))
    for method, path, body in [
        ("POST", "start", start_body("my-flow")),
        ("POST", "promote", start_body("my-flow", version="2")),
        ("POST", "rerun", {"run-id": str(run_id), "version": "2"}),
    ]:
        message = api.fail(409, method, path, body=body)
        assert "failed to build" in message and f"No matching distribution found for {FAIL}" in message, path
    assert api.get("my-flow", environment="pre") == []
    assert api.one("my-flow")["state"] == "failed"


def test_job_run_of_a_version_that_would_be_building_or_failed_saves_nothing(connect) -> None:
    _, slow = connect(build_seconds=BUILD)
    assert "still building" in slow.fail(409, "POST", "run", body={"json": True, "data": service()})
    assert slow.get("price-server") == []
    _, quick = connect()
    assert "failed to build" in quick.fail(409, "POST", "run", body={"json": True, "data": failing(service())})
    assert quick.get("price-server") == []


def test_modify_rm_and_restore_work_while_building(slow: Api) -> None:
    slow.save(service())
    slow.ok("PUT", "modify", body={"job_name": "price-server", "memory": "1g"})
    job = slow.one("price-server")
    assert job["state"] == "building" and job["memory"] == 1024**3
    done = wait_until_built(slow, "price-server")
    assert done["state"] == "ready" and done["memory"] == 1024**3  # the edit kept the build record
    slow.save(service())
    slow.ok("DELETE", "rm", body={"job_name": "price-server", "version": "2"})
    slow.ok("POST", "restore", body={"job_name": "price-server", "version": "2"})
    assert slow.one("price-server")["version"] == 2
    assert wait_until_built(slow, "price-server")["state"] == "ready"


def test_promoted_copies_are_ready_and_carry_the_build(slow: Api) -> None:
    slow.save(service())
    built = wait_until_built(slow, "price-server")
    slow.ok("POST", "promote", body=start_body("price-server", version="1"))
    pre = slow.one("price-server", environment="pre")
    assert pre["state"] == "ready"  # at once, though builds take BUILD seconds here
    assert pre["create_time"] > built["create_time"]
    for key in ("build_stdout", "build_stderr", "last_build_succeeded"):
        assert pre["image"][key] == built["image"][key], key
    slow.ok("POST", "promote", body={"job_name": "price-server", "version": "1", "environment": "pre"})
    assert slow.one("price-server", environment="prod")["state"] == "ready"
    assert "running" in json.dumps(slow.ok("POST", "start", body={"job_name": "price-server", "environment": "prod"}))


# ── job ls show-children ───────────────────────────────────────────────────────────────────


def test_ls_show_children_gives_each_workflow_the_children_of_get(connect) -> None:
    _, api = connect()
    api.save(workflow())
    api.save(workflow(display="Other Flow", jobs=workflow()["jobs"][:1]))
    api.save(service())
    listed = {j["name"]: j for j in api.ls(**{"show-children": "True"})}
    assert set(listed) == {"my-flow", "other-flow", "price-server"}
    for name in ("my-flow", "other-flow"):
        got = api.one(name, **{"show-children": "True"})
        assert listed[name]["children_full"] == got["children_full"], name
        assert listed[name] == got
    assert [c["name"] for c in listed["my-flow"]["children_full"]] == ["my-flow-0", "my-flow-1", "my-flow-2"]
    assert "children_full" not in listed["price-server"]
    assert all("children_full" not in j for j in api.ls())  # without the flag: unchanged
    assert all("children_full" not in j for j in api.ls(**{"show-children": "False"}))


def test_ls_show_children_pages_and_filters_like_ls(connect) -> None:
    _, api = connect()
    for n in range(3):
        api.save(workflow(display=f"Flow {n}"))
    page = api.ls(**{"show-children": "True", "batch-size": "2", "offset": "1"})
    assert [j["name"] for j in page] == ["flow-1", "flow-2"]
    assert all(len(j["children_full"]) == 3 for j in page)
    only = api.ls(**{"show-children": "True", "filter": "name=flow-0"})
    assert [c["parent_name"] for c in only[0]["children_full"]] == ["flow-0"] * 3
    assert api.fail(400, "GET", "ls", {"show-children": "perhaps"})


def test_openapi_declares_show_children_on_ls(connect) -> None:
    box, _ = connect()
    spec = httpx.get(box.url + "/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/api/job/ls"]["get"]["parameters"]}
    assert {"show-children", "all", "filter", "batch-size"} <= params


# ── settings, command line, old databases ──────────────────────────────────────────────────


@pytest.mark.parametrize("value", [-0.1, float("inf"), float("nan")])
def test_a_bad_build_time_is_refused_naming_the_flag(value: float) -> None:
    from platforge.provider.datatailr.sandbox.config import SandboxConfig

    with pytest.raises(ValueError, match="--build-seconds"):
        SandboxConfig(build_seconds=value).validate()


def test_the_command_line_has_build_seconds_defaulting_to_the_setting() -> None:
    import typer
    from platforge.provider.datatailr.sandbox.config import SandboxConfig
    from typer.testing import CliRunner

    from platforge.cli.sandbox import app as cli

    output = CliRunner().invoke(cli, ["datatailr", "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"}).output
    assert "--build-seconds" in output and FAIL in output
    command = typer.main.get_command(cli)
    command = getattr(command, "commands", {}).get("datatailr", command)
    defaults = {param.name: param.default for param in command.params}
    assert defaults["build_seconds"] == SandboxConfig().build_seconds == 0.0


def test_a_bad_build_seconds_flag_is_a_clear_error(tmp_path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "platforge", "sandbox", "datatailr", "--db", str(tmp_path / "x.db"),
         "--admin-password", "pw", "--port", "0", "--build-seconds", "-1"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "--build-seconds must be a number >= 0" in result.stderr
    assert not (tmp_path / "x.db").exists()


@contextmanager
def raw_db(path: str) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()


def test_a_database_written_before_builds_were_simulated_still_serves(sandbox_factory: SandboxFactory,
                                                                     tmp_path) -> None:
    db_path = str(tmp_path / "old.db")
    box = sandbox_factory(db_path=db_path)
    with httpx.Client(base_url=box.url, timeout=30) as client:
        assert client.post("/login", auth=(box.admin_user, box.admin_password)).status_code == 200
        api = Api(client, box.admin_user)
        api.save(failing(workflow()))  # the hook did not exist then: an old row is a plain version
        api.save(service())
    box.stop()
    with raw_db(db_path) as db:
        rows = db.execute("SELECT environment, name, version, definition FROM job_versions").fetchall()
        assert len(rows) == 2
        for env, name, version, definition in rows:
            d = json.loads(definition)
            assert "build" in d
            del d["build"]
            db.execute("UPDATE job_versions SET definition = ? WHERE environment = ? AND name = ? AND version = ?",
                       (json.dumps(d), env, name, version))
    again = sandbox_factory(db_path=db_path, admin_password=box.admin_password, build_seconds=30)
    with httpx.Client(base_url=again.url, timeout=30) as client:
        assert client.post("/login", auth=(again.admin_user, again.admin_password)).status_code == 200
        api = Api(client, again.admin_user)
        flow = api.one("my-flow", **{"show-children": "True"})
        assert flow["state"] == "ready" and flow["image"]["last_build_succeeded"] is True
        assert flow["image"]["build_stdout"].endswith("Successfully built my-flow:1\n")
        assert {c["state"] for c in flow["children_full"]} == {"ready"}
        assert api.one("price-server")["state"] == "ready"  # build_seconds=30 does not reach old rows
        api.ok("POST", "start", body=start_body("my-flow"))
        api.ok("POST", "promote", body=start_body("price-server", version="1"))
        api.save(service())  # a new version after the restart builds for 30 s
        assert api.one("price-server")["state"] == "building"
