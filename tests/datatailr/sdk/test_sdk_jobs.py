"""The vendor SDK's jobs and schedules against the sandbox (contract §3, §4, §6).

Each snippet writes a tiny package (`proj/mypkg`) next to itself and imports its functions as
entrypoints, as a user's project would; `DATATAILR_ALLOW_UNSAFE_SCHEDULING=true` (set by the
harness) lets the SDK deploy from a directory that is not a clean git checkout.
"""

from __future__ import annotations

import textwrap
import uuid

import httpx
import pytest

from tests.datatailr.sdk.harness import SdkEnv

pytestmark = pytest.mark.sdk

NS = uuid.UUID("A3FB3D5A-1AD4-4341-AA66-BAC8A26ECBAD")

PROJECT = '''
import os, sys, textwrap
from pathlib import Path

root = Path.cwd() / "proj"
(root / "mypkg").mkdir(parents=True, exist_ok=True)
(root / "mypkg" / "__init__.py").write_text("")
(root / "mypkg" / "svc.py").write_text("def main():\\n    return 'serving'\\n")
(root / "mypkg" / "dash.py").write_text("def main():\\n    return 'dashboard'\\n")
(root / "mypkg" / "tasks.py").write_text(textwrap.dedent("""
    from datatailr import task

    @task()
    def get_number():
        return 42

    @task(memory="512m", cpu=2)
    def add(a, b=8):
        return a + b
"""))
sys.path.insert(0, str(root))
'''


def with_project(code: str) -> str:
    return PROJECT + textwrap.dedent(code)


def _id(name: str, env: str = "dev") -> str:
    return str(uuid.uuid5(NS, name + env))


def test_schedule_cron_strings_come_from_the_sandbox(sdk_env: SdkEnv) -> None:
    out = sdk_env.run(
        """
        from datatailr import Schedule
        examples = [
            Schedule(in_month=["Jul"], weekdays=["Sun"], every_minute=[24], at_hours=[2, 15]),
            Schedule(at_minutes=[0, 15, 30, 45], at_hours=[0, 12], weekdays=["Mon", "Wed", "Fri"],
                     day_of_month=15, in_month=["Jan", "Jul"]),
            Schedule(at_hours=[10, 22], at_minutes=[15]),
            Schedule(every_minute=15, weekdays=["monday", "FRIDAY"]),
        ]
        raw = Schedule(cron_expression="0 */2 * * *")
        try:
            Schedule(at_hours=[25]).get_cron_string()
            bad = None
        except RuntimeError as exc:
            bad = str(exc)
        emit({
            "crons": [s.get_cron_string() for s in examples],
            "texts": [s.schedule_expression for s in examples],
            "raw": [raw.get_cron_string(), raw.schedule_expression],
            "bad": bad,
        })
        """
    )
    assert out["crons"] == [
        "0 */24 2,15 * 7 7",
        "0 0,15,30,45 0,12 15 1,7 1,3,5",
        "0 15 10,22 * * *",
        "0 */15 * * * 1,5",
    ]
    assert all(isinstance(t, str) and t for t in out["texts"])
    assert out["texts"][2] == "At 10:15 and 22:15, every day"
    # The bare `job cron` reply does not match the SDK's regex, so a raw expression survives.
    assert out["raw"] == ["0 */2 * * *", None]
    assert out["bad"] is not None and "at-hours" in out["bad"] and "between 0 and 23" in out["bad"]


def test_service_saved_through_the_sdk_reads_back(sdk_env: SdkEnv) -> None:
    out = sdk_env.run(
        with_project(
            """
        from datatailr import Service, Resources, User
        from mypkg.svc import main

        svc = Service(name="Price Server", entrypoint=main, python_requirements="flask",
                      resources=Resources(memory="256m", cpu=0.5), env_vars={"MODE": "fast", "DEBUG": True})
        first = svc.save()
        second = svc.save()
        existing = Service(name="Price Server", entrypoint=main, get_existing=True)
        older = Service(name="Price Server", entrypoint=main, get_existing=True, version=1)
        listed = Service.ls(environment="dev")
        emit({
            "saved": [first[0], second[0]],
            "version": existing.version, "older": older.version,
            "id": existing.id, "state": existing.state,
            "memory": existing.resources.memory, "cpu": existing.resources.cpu,
            "run_as": existing.run_as.name, "me": User.signed_user().name,
            "acl": existing.acl.to_dict(),
            "entrypoint": existing.entrypoint,
            "image": {"requirements": existing.image.python_requirements,
                      "module": existing.image.path_to_module, "version": existing.image.python_version},
            "internal": existing._internal_name,
            "versions": existing.versions(),
            "listed": [(j["name"], j["type"], j["version"], j["memory"]) for j in listed],
        })
        """
        )
    )
    assert out["saved"] == [True, True]
    assert out["version"] == 2 and out["older"] == 1
    assert out["id"] == _id("price-server") == "95131336-1461-588d-af49-7a7bbae72a94"
    assert out["state"] == "ready"
    assert (out["memory"], out["cpu"]) == ("256m", 0.5)
    assert out["run_as"] == out["me"] == sdk_env.username
    me_id = next(iter(out["acl"]["read"]))
    assert out["acl"] == {p: [me_id] for p in ("read", "write", "operate", "access", "promote")}
    assert out["entrypoint"] == "mypkg.svc:main"
    assert out["image"] == {"requirements": "flask", "module": "mypkg", "version": "3.12"}
    assert out["internal"] == "price-server"
    assert out["versions"] == [1, 2]
    assert out["listed"] == [["price-server", "service", 2, 256 * 1024**2]]


def test_service_lifecycle_start_promote_stop_remove(sdk_env: SdkEnv) -> None:
    out = sdk_env.run(
        with_project(
            """
        from datatailr import Service
        from datatailr.wrapper import dt__Job
        from mypkg.svc import main

        svc = Service(name="Quote Feed", entrypoint=main)
        svc.save()
        started = svc.start()
        state_after_start = svc.state
        promoted = svc.promote(from_environment="dev", version=1)
        again = svc.promote(from_environment="dev", version=1)
        in_pre = Service(name="Quote Feed", entrypoint=main, environment="pre", get_existing=True)
        runs = svc.runs()
        stopped = svc.stop()
        after_stop = dt__Job().get("quote-feed", environment="dev")[0]["state"]
        removed = svc.remove()
        gone = dt__Job().get("quote-feed", environment="dev")
        emit({
            "started": started[0], "state": state_after_start,
            "promoted": [promoted[0], again[0]],
            "pre": [in_pre.version, str(in_pre.environment), in_pre.id],
            "runs": [(r["run_id"], r["state"], r["job_version"]) for r in runs],
            "stopped": stopped[0], "after_stop": after_stop,
            "removed": removed[0], "gone": gone,
        })
        """
        )
    )
    assert out["started"] is True and out["state"] == "running"
    assert out["promoted"] == [True, True]
    assert out["pre"] == [1, "pre", _id("quote-feed", "pre")]
    assert len(out["runs"]) == 1 and out["runs"][0][1:] == ["running", 1]
    assert out["stopped"] is True and out["after_stop"] == "stopped"
    assert out["removed"] is True and out["gone"] == []


def test_app_run_starts_it_and_reads_back(sdk_env: SdkEnv) -> None:
    out = sdk_env.run(
        with_project(
            """
        from datatailr import App, Resources
        from mypkg.dash import main

        app = App(name="Sales Dashboard", entrypoint=main, framework="streamlit",
                  python_requirements=["streamlit"], app_section="analytics",
                  resources=Resources(memory="1g", cpu=1, vram="2g"))
        ran = app.run()
        back = App(name="Sales Dashboard", entrypoint=main, get_existing=True)
        emit({
            "ran": ran[0], "result": ran[1], "state": back.state, "version": back.version,
            "memory": back.resources.memory, "vram": back.resources.vram, "cpu": back.resources.cpu,
            "listed": [(j["name"], j["app_section"], j["env"]) for j in App.ls()],
        })
        """
        )
    )
    assert out["ran"] is True
    assert out["result"]["running"][0]["Id"] == _id("sales-dashboard")
    assert isinstance(out["result"]["running"][0]["RunId"], int)
    assert out["state"] == "running" and out["version"] == 1
    assert (out["memory"], out["vram"], out["cpu"]) == ("1024m", "2048m", 1.0)
    assert out["listed"] == [
        ["sales-dashboard", "analytics", [{"DATATAILR_JOB_ENV_DATATAILR_FRAMEWORK": "streamlit"}]]
    ]


def test_workflow_deploys_with_schedule_and_reads_back(sdk_env: SdkEnv) -> None:
    out = sdk_env.run(
        with_project(
            """
        from datatailr import Schedule, Workflow, workflow
        from datatailr.wrapper import dt__Job
        from mypkg.tasks import add, get_number

        @workflow(name="My Flow", schedule=Schedule(at_hours=[8, 16], weekdays=["Mon", "Tue", "Wed", "Thu", "Fri"],
                                                    timezone="Europe/Berlin"),
                  fail_after="1h 30m")
        def my_flow():
            n = get_number()
            add(n)

        my_flow()
        raw = dt__Job().get("my-flow", environment="dev", show_children=True)[0]
        existing = Workflow(name="My Flow", get_existing=True)
        by_uuid = Workflow.from_uuid(raw["id"])
        tasks = [t for t in existing._Workflow__tasks]
        emit({
            "state": raw["state"], "schedule": raw["schedule"], "timezone": raw["timezone"],
            "schedule_args": raw["schedule_args"], "fail_after": raw["fail_after"],
            "children": [(c["name"], c["display_name"], c["child_number"], c["depends_on"], c["memory"], c["num_cpus"])
                         for c in raw["children_full"]],
            "tasks": [(t.name, str(t.entrypoint), t.resources.memory, t.resources.cpu) for t in tasks],
            "image_module": existing.image.path_to_module,
            "uuid_name": by_uuid.name, "version": existing.version,
            "runs": Workflow.ls(environment="dev")[0]["state"],
        })
        """
        )
    )
    assert out["state"] == "scheduled"
    assert out["schedule"] == "0 0 8,16 * * 1,2,3,4,5"
    assert out["timezone"] == "Europe/Berlin"
    assert out["schedule_args"] == {"at-hours": "8,16", "weekdays": "Mon,Tue,Wed,Thu,Fri"}
    assert out["fail_after"] == 90 * 60 * 10**6
    assert out["children"] == [
        ["my-flow-0", "get_number", 0, [], 100 * 1024**2, 1],
        ["my-flow-1", "add", 1, [0], 512 * 1024**2, 2],
    ]
    assert out["tasks"] == [
        ["get_number", "mypkg.tasks:get_number", "100m", 1.0],
        ["add", "mypkg.tasks:add", "512m", 2.0],
    ]
    assert out["image_module"] == "mypkg"
    assert out["uuid_name"] == "My Flow" and out["version"] == 1
    assert out["runs"] == "scheduled"


def test_unscheduled_workflow_run_completes_and_has_run_details(sdk_env: SdkEnv) -> None:
    out = sdk_env.run(
        with_project(
            """
        from datatailr import workflow
        from mypkg.tasks import add, get_number

        @workflow(name="Once")
        def once():
            add(get_number())

        once()
        from datatailr import Workflow
        wf = Workflow(name="Once", get_existing=True)
        runs = wf.runs()
        details = wf.run_details(runs[0]["run_id"])
        emit({
            "runs": [(r["state"], r["job_version"]) for r in runs],
            "details": [details["state"], details["name"],
                        sorted((t["id"], t["name"], t["state"]) for t in details["tasks"])],
        })
        """
        )
    )
    assert out["runs"] == [["completed", 1]]
    assert out["details"] == ["completed", "Once", [[0, "get_number", "completed"], [1, "add", "completed"]]]


def test_another_user_cannot_change_the_admins_job(sdk_env: SdkEnv) -> None:
    sdk_env.run(
        with_project(
            """
        from datatailr import Service
        from mypkg.svc import main
        emit(Service(name="Guarded", entrypoint=main).save()[0])
        """
        )
    )
    sdk_env.add_user("sdk-mallory", "mallory-pass-1")
    mallory = sdk_env.as_user("sdk-mallory", "mallory-pass-1")
    out = mallory.run(
        with_project(
            """
        from datatailr import Service
        from datatailr.wrapper import dt__Job
        from mypkg.svc import main
        saved = Service(name="Guarded", entrypoint=main).save()
        try:
            dt__Job().get("guarded", environment="dev")
            read = "allowed"
        except RuntimeError as exc:
            read = str(exc)
        emit({"saved": list(saved), "read": read, "listed": Service.ls()})
        """
        )
    )
    assert out["saved"][0] is False and "Permission denied" in out["saved"][1]
    assert "Permission denied" in out["read"]
    assert out["listed"] == []
    with sdk_env.api() as client:
        versions = client.get("/api/job/versions", params={"job_name": "guarded"}).json()
    assert versions == {"result": [1]}


def test_sdk_requests_never_produce_server_errors(sdk_env: SdkEnv) -> None:
    """A garbage job file through the real CLI is a clean 4xx, reported by the SDK."""
    out = sdk_env.run(
        """
        import json, subprocess, tempfile
        path = tempfile.mktemp(suffix=".json")
        json.dump({"type": "service", "display_name": "!!!"}, open(path, "w"))
        proc = subprocess.run(["dt", "job", "save", "file://" + path, "--json"], capture_output=True, text=True)
        emit({"code": proc.returncode, "err": proc.stderr})
        """
    )
    assert out["code"] == 1
    assert "no letters or digits" in out["err"]
    with httpx.Client(base_url=sdk_env.base_url) as client:
        assert client.get("/api/job/ls").status_code == 401
