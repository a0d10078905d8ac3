"""Jobs round-trip between the vendor SDK and platforge: what the SDK saved, declared the same
way in a stack, plans as adoption with no change and is adopted without a save; what platforge
applied reads back through the SDK's own `from_dict` with the fields the stack declared."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from platforge.cli import app
from tests.datatailr.sdk.harness import SdkEnv
from tests.datatailr.sdk.test_sdk_jobs import with_project

pytestmark = pytest.mark.sdk

STACK = """
[service.price-server]
display_name = "Price Server"
entrypoint = "mypkg.svc:main"
memory = "256m"
cpus = 0.5
env = { MODE = "fast" }
state = "running"
[service.price-server.image]
python_version = "3.12"
requirements = ["flask"]

[app.sales-dashboard]
display_name = "Sales Dashboard"
entrypoint = "mypkg.dash:main"
framework = "streamlit"
app_section = "analytics"
memory = "1g"
cpus = 1
state = "running"

[workflow.my-flow]
display_name = "My Flow"
state = "scheduled"
[workflow.my-flow.schedule]
at_hours = [8, 16]
weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri"]
timezone = "Europe/Berlin"
[workflow.my-flow.tasks.get_number]
entrypoint = "mypkg.tasks:get_number"
[workflow.my-flow.tasks.add]
entrypoint = "mypkg.tasks:add"
depends_on = ["get_number"]
memory = "512m"
cpus = 2
"""


def cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def stack(sdk_env: SdkEnv, tmp_path, monkeypatch):
    monkeypatch.setenv("DATATAILR_USER_NAME", sdk_env.username)
    monkeypatch.setenv("DATATAILR_USER_PASSWORD", sdk_env.password)
    directory = tmp_path / "stack"
    directory.mkdir()
    (directory / "main.toml").write_text(
        f'[platform]\ntype = "datatailr"\nendpoint = "{sdk_env.base_url}"\n' + textwrap.dedent(STACK))
    return directory


def test_jobs_saved_with_the_sdk_are_adopted_as_declared_without_a_new_version(sdk_env: SdkEnv, stack) -> None:
    sdk_env.run(with_project(
        """
        from datatailr import App, Resources, Schedule, Service, workflow
        from mypkg.dash import main as dash
        from mypkg.svc import main
        from mypkg.tasks import add, get_number

        Service(name="Price Server", entrypoint=main, python_requirements="flask",
                resources=Resources(memory="256m", cpu=0.5), env_vars={"MODE": "fast"}).run()
        App(name="Sales Dashboard", entrypoint=dash, framework="streamlit", app_section="analytics",
            resources=Resources(memory="1g", cpu=1)).run()

        @workflow(name="My Flow", schedule=Schedule(at_hours=[8, 16], weekdays=["Mon", "Tue", "Wed", "Thu", "Fri"],
                                                    timezone="Europe/Berlin"))
        def my_flow():
            n = get_number()
            add(n)

        my_flow()
        emit({})
        """))
    code, out, err = cli("plan", stack, "--json")
    assert code == 2, err
    plan = json.loads(out)
    ops = {a["address"]: (a["op"], a["changes"]) for a in plan["actions"]}
    assert ops == {"service.price-server": ("import", []), "app.sales-dashboard": ("import", []),
                   "workflow.my-flow": ("import", [])}, ops
    code, out, err = cli("apply", stack, "--yes", "--adopt", "*")
    assert code == 0, out + err
    code, out, err = cli("plan", stack)
    assert code == 0, out
    versions = sdk_env.run(
        """
        from datatailr.wrapper import dt__Job
        emit([dt__Job().versions(n, environment="dev") for n in ("price-server", "sales-dashboard", "my-flow")])
        """)
    assert [json.loads(v) if isinstance(v, str) else v for v in versions] == [[1], [1], [1]]


def test_jobs_applied_by_platforge_read_back_through_the_sdk(sdk_env: SdkEnv, stack) -> None:
    code, out, err = cli("apply", stack, "--yes")
    assert code == 0, out + err
    back = sdk_env.run(with_project(
        """
        from datatailr import App, Service, Workflow
        from mypkg.dash import main as dash
        from mypkg.svc import main

        svc = Service(name="Price Server", entrypoint=main, get_existing=True)
        dashboard = App(name="Sales Dashboard", entrypoint=dash, get_existing=True)
        flow = Workflow(name="My Flow", get_existing=True)
        tasks = list(flow._Workflow__tasks)
        emit({
            "svc": [svc.state, svc.version, svc.resources.memory, svc.resources.cpu, str(svc.entrypoint),
                    svc.image.python_requirements, svc.image.python_version],
            "app": [dashboard.state, dashboard.resources.memory, dashboard.resources.cpu],
            "flow": [flow.state if hasattr(flow, "state") else None, flow.version],
            "tasks": sorted((t.name, str(t.entrypoint), t.resources.memory, t.resources.cpu) for t in tasks),
        })
        """))
    assert back["svc"] == ["running", 1, "256m", 0.5, "mypkg.svc:main", "flask", "3.12"]
    assert back["app"] == ["running", "1024m", 1.0]
    assert back["flow"][1] == 1
    assert back["tasks"] == [["add", "mypkg.tasks:add", "512m", 2.0],
                             ["get_number", "mypkg.tasks:get_number", "100m", 1.0]]


def test_every_cron_example_compiles_the_same_through_platforge_and_the_sdk(sdk_env: SdkEnv) -> None:
    """The contract's §6 examples: the schedule platforge plans with (helper fields compiled by
    the platform, through the workflow kind) equals what the SDK's `Schedule` produces."""
    from platforge.provider.datatailr.client import DatatailrClient, PasswordLogin
    from platforge.provider.datatailr.kinds import WorkflowKind

    from platforge.core.kind import Context

    examples = [
        {"in_month": ["Jul"], "weekdays": ["Sun"], "every_minute": 24, "at_hours": [2, 15]},
        {"at_minutes": [0, 15, 30, 45], "at_hours": [0, 12], "weekdays": ["Mon", "Wed", "Fri"], "day_of_month": 15,
         "in_month": ["Jan", "Jul"]},
        {"at_hours": [10, 22], "at_minutes": [15]},
        {"every_minute": 15, "weekdays": ["monday", "FRIDAY"]},
    ]
    sdk = sdk_env.run(
        f"""
        from datatailr import Schedule
        examples = {examples!r}
        emit([Schedule(**e).get_cron_string() for e in examples])
        """)
    client = DatatailrClient(sdk_env.base_url, PasswordLogin(sdk_env.username, sdk_env.password))
    client.login()
    kind = WorkflowKind()
    ctx = Context(client, fingerprinter=None)  # type: ignore[arg-type]
    ours = []
    for example in examples:
        resource = kind.declare("flow", {"tasks": {"t": {"entrypoint": "m.t:run"}}, "schedule": example}, None)
        ours.append(kind.desired(ctx, resource).spec["schedule"])
    assert ours == sdk == ["0 */24 2,15 * 7 7", "0 0,15,30,45 0,12 15 1,7 1,3,5", "0 15 10,22 * * *",
                           "0 */15 * * * 1,5"]


def test_changes_made_with_the_sdk_are_drift_under_their_cause(sdk_env: SdkEnv, stack) -> None:
    code, out, err = cli("apply", stack, "--yes")
    assert code == 0, out + err
    sdk_env.run(
        """
        from datatailr.wrapper import dt__Job
        jobs = dt__Job()
        jobs.modify("my-flow", schedule="0 0 3 * * *", environment="dev")
        jobs.stop("price-server", environment="dev")
        emit({})
        """)
    code, out, err = cli("drift", stack, "--format", "json")
    assert code == 2, err
    findings = {f["address"]: (f["cause"], f["detail"]) for f in json.loads(out)["findings"]}
    assert findings == {"workflow.my-flow": ("out_of_band", "schedule changed"),
                        "service.price-server": ("out_of_band", "job stopped")}, findings
    code, out, err = cli("apply", stack, "--yes")
    assert code == 0, out + err
    assert cli("plan", stack)[0] == 0
