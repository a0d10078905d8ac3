"""`platforge demo`: the whole loop on the embedded sandbox, with nothing to set up.

It starts a platform's sandbox on a free local port (Datatailr unless `--platform` says
otherwise), copies that platform's example stack to a scratch directory, plans, applies, proves
the second plan is empty, changes the platform behind the stack's back, and reports the drift by
cause (also as JSON, Markdown and HTML files).

What differs per platform is data (`DEMOS`): how to build its sandbox and with which generated
credential, the example it runs, the secrets that example reads from the environment, the changes
made by hand through the platform's own client, and the finding that proves drift saw them. The
loop itself is one, so a platform cannot demo a weaker version of it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.rule import Rule
from rich.text import Text

from ..core.engine import Engine, make_backend
from ..core.stack import load_stack
from ..provider import get_platform
from ..report import html as html_report
from ..report import markdown as md_report
from ..report import text as text_report
from . import _console

if TYPE_CHECKING:
    from fastapi import FastAPI

DEMO_SECRETS = ("QUICKSTART_INITIAL_PASSWORD", "QUICKSTART_WAREHOUSE_PASSWORD_DEV", "QUICKSTART_WAREHOUSE_PASSWORD_PROD")
DATAIKU_DEMO_SECRETS = ("DATAIKU_EXAMPLE_INITIAL_PASSWORD", "DATAIKU_EXAMPLE_WAREHOUSE_PASSWORD")
#: The example's one secret is a JSON document, which `_dataloop_prepare` generates.
DATALOOP_DEMO_SECRETS: tuple[str, ...] = ()

Say = Callable[[str], None]


def _plain_read(record: dict[str, Any]) -> bool:
    """A request that changes nothing: a GET, or the login."""
    return record["method"] == "GET" or record["path"] == "/login"


@dataclass(frozen=True)
class Demo:
    """One platform's part of the demo."""

    title: str
    example: Path
    #: The scratch copy's directory name.
    copy_name: str
    #: Variables the example reads its secrets from; set to generated values unless already set.
    secrets: tuple[str, ...]
    #: (scratch dir) -> the sandbox app and the credentials it accepts, as the stack's variables.
    sandbox: Callable[[Path], tuple[FastAPI, dict[str, str]]]
    #: Changes made by hand through the platform's client, each announced with `say`.
    change: Callable[[Any, Say], None]
    #: Whether the drift findings show the platform-specific change (beyond the three causes).
    shows_change: Callable[[list[dict[str, Any]]], bool]
    #: (stack copy, sandbox URL, say) -> makes on the sandbox what the example needs and the
    #: stack does not manage, and points the copy at it (None: nothing is needed).
    prepare: Callable[[Path, str, Say], None] | None = None
    #: Whether an access-log record changes nothing, for counting the second apply's writes.
    reads: Callable[[dict[str, Any]], bool] = _plain_read
    #: The causes drift must report after the changes (a platform with no read API cannot see
    #: a change made by hand: what it can show is different, and the demo says so).
    expected_causes: frozenset[str] = frozenset({"out_of_band", "missing", "unmanaged"})
    #: (stack copy, say) -> a change made to the stack and not applied (a teammate's edit).
    edit_stack: Callable[[Path, Say], None] | None = None


# ---- Datatailr --------------------------------------------------------------------------------


def _datatailr_sandbox(scratch: Path) -> tuple[FastAPI, dict[str, str]]:
    from ..provider.datatailr.sandbox import SandboxConfig, create_app

    admin_password = secrets.token_urlsafe(16)
    app = create_app(SandboxConfig(db_path=str(scratch / "sandbox.db"), admin_password=admin_password,
                                   access_log=str(scratch / "access.jsonl")))
    return app, {"DATATAILR_USER_NAME": "admin", "DATATAILR_USER_PASSWORD": admin_password}


def _datatailr_change(client: Any, say: Say) -> None:
    client.users.modify("alice", email="alice@personal.example")
    say("  - alice's email changed")
    client.secrets.put("warehouse/password", secrets.token_urlsafe(12), environment="prod")
    say("  - the prod warehouse password rotated outside platforge")
    client.kv.rm("feature-flags", environment="dev")
    say("  - the dev feature-flags entry deleted")
    client.groups.add("shadow-it")
    say("  - a group nobody declared created")
    client.jobs.stop("feature-api", environment="dev")
    say("  - the Feature API service stopped in dev")


def _datatailr_shows_change(findings: list[dict[str, Any]]) -> bool:
    return any(f["address"] == "service.feature-api" and "job stopped" in f["detail"] for f in findings)


# ---- Dataiku DSS ------------------------------------------------------------------------------


def _dataiku_sandbox(scratch: Path) -> tuple[FastAPI, dict[str, str]]:
    from ..provider.dataiku.sandbox import SandboxConfig, create_app

    # URL-safe characters only: the key travels as the HTTP Basic user name (no ':' or space).
    api_key = secrets.token_urlsafe(24)
    app = create_app(SandboxConfig(db_path=str(scratch / "sandbox.db"), admin_api_key=api_key,
                                   access_log=str(scratch / "access.jsonl")))
    return app, {"DATAIKU_API_KEY": api_key}


DATAIKU_PROJECT = "SALES_MARTS"


def _dataiku_change(client: Any, say: Say) -> None:
    user = client.get_user("alice")
    client.put_user("alice", {**user, "email": "alice@personal.example"})
    say("  - alice's email changed")
    (scenario,) = [s for s in client.list_scenarios(DATAIKU_PROJECT) if s.get("name") == "Nightly build"]
    document = client.get_scenario(DATAIKU_PROJECT, scenario["id"])
    for trigger in document.get("triggers") or ():
        if trigger.get("type") == "temporal":
            trigger["params"]["hour"] = 5
    client.put_scenario(DATAIKU_PROJECT, scenario["id"], document)
    say("  - the nightly build moved from 02:30 to 05:30 in the scenario's settings")
    permissions = client.get_permissions(DATAIKU_PROJECT)
    for entry in permissions["permissions"]:
        if entry.get("group") == "analysts":
            entry["runScenarios"] = False
    client.put_permissions(DATAIKU_PROJECT, permissions)
    say("  - analysts may no longer run the project's scenarios")
    variables = client.get_instance_variables()
    client.put_instance_variables({k: v for k, v in variables.items() if k != "warehouse_host"})
    say("  - the warehouse_host instance variable deleted")
    client.create_group({"name": "shadow-it", "description": None, "sourceType": "LOCAL"})
    say("  - a group nobody declared created")


def _dataiku_shows_change(findings: list[dict[str, Any]]) -> bool:
    return any(f["address"] == "scenario.nightly-build" and f["cause"] == "out_of_band" for f in findings)


# ---- Dataloop --------------------------------------------------------------------------------


DATALOOP_ADMIN = "admin@sandbox.local"
DATALOOP_PROJECT = "vision-prod"


def _dataloop_sandbox(scratch: Path) -> tuple[FastAPI, dict[str, str]]:
    from ..provider.dataloop.sandbox import SandboxConfig, create_app

    admin_password = secrets.token_urlsafe(16)
    app = create_app(SandboxConfig(db_path=str(scratch / "sandbox.db"), admin_password=admin_password,
                                   admin_email=DATALOOP_ADMIN, org="acme", access_log=str(scratch / "access.jsonl")))
    return app, {"DATALOOP_EMAIL": DATALOOP_ADMIN, "DATALOOP_PASSWORD": admin_password}


def _dataloop_prepare(stack_dir: Path, url: str, say: Say) -> None:
    """The example adopts a project that holds a package (platforge does not manage packages):
    both are made the way the vision team makes them, through the gate as dtlpy does, and the
    package's id goes into the copy. The integration's options are a JSON document."""
    import httpx

    from ..provider.dataloop.sandbox import login

    os.environ.setdefault("DATALOOP_EXAMPLE_OPENAI_OPTIONS",
                          json.dumps({"key": "OPENAI_API_KEY", "value": "sk-demo-" + secrets.token_urlsafe(12)}))
    token = login(url, os.environ["DATALOOP_EMAIL"], os.environ["DATALOOP_PASSWORD"])["id_token"]
    with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, trust_env=False) as gate:
        project = gate.post("/projects", json={"name": DATALOOP_PROJECT}).raise_for_status().json()
        package = gate.post("/packages", json={
            "name": "detector", "projectId": project["id"], "version": "1.0.0",
            "codebase": {"type": "git", "gitUrl": "https://github.com/acme/detector.git", "gitTag": "v1.0.0"},
            "modules": [{"name": "default_module", "entryPoint": "main.py", "className": "ServiceRunner",
                         "functions": [{"name": "run", "input": [{"name": "item", "type": "Item"}], "output": []}],
                         "initInputs": []}]}).raise_for_status().json()
    project_toml = stack_dir / "project.toml"
    project_toml.write_text(re.sub(r'package_id = "[0-9a-f]{24}"', f'package_id = "{package["id"]}"',
                                   project_toml.read_text()))
    say(f"project {DATALOOP_PROJECT} created by hand and package detector pushed into it (id {package['id']}), "
        "as dtlpy's push does: the stack adopts the project and runs the package")


def _dataloop_project_id(client: Any) -> str:
    (project,) = [p for p in client.list_projects() if p.get("name") == DATALOOP_PROJECT]
    return str(project["id"])


def _dataloop_change(client: Any, say: Say) -> None:
    pid = _dataloop_project_id(client)
    client.update_project_member(pid, "bob@example.com", "annotator")
    say("  - bob demoted from engineer to annotator in vision-prod")
    (trigger,) = [t for t in client.list_triggers(pid) if t.get("name") == "nightly"]
    client.patch_trigger(trigger["id"], {**trigger, "spec": {**trigger["spec"], "cron": "0 5 * * *"}})
    say("  - the nightly detector run moved from 02:00 to 05:00")
    (pipeline,) = [p for p in client.list_pipelines(pid) if p.get("name") == "ingest"]
    client.uninstall_pipeline(pipeline["id"])
    say("  - the ingest pipeline paused (uninstalled)")
    client.remove_project_member(pid, "carol@example.com")
    say("  - carol removed from vision-prod")
    client.create_dataset({"name": "scratch", "projects": [pid]})
    say("  - a dataset nobody declared created")


def _dataloop_shows_change(findings: list[dict[str, Any]]) -> bool:
    return any(f["address"] == "trigger.nightly" and f["cause"] == "out_of_band"
               and any(c["path"] == "cron" and c["new"] == "0 5 * * *" for c in f.get("changes") or ())
               for f in findings)


def _dataloop_read(record: dict[str, Any]) -> bool:
    """Dataloop's listings are POSTs (`…/query`, `/query/faas`), and so is its login (`/token`)."""
    path = str(record["path"])
    return record["method"] == "GET" or path.endswith(("/query", "/query/faas")) or path.startswith("/token")


# ---- DataChain Studio -------------------------------------------------------------------------


STUDIO_TEAM = "acme"
STUDIO_USERS = ("alice", "bob", "carol")


def _studio_sandbox(scratch: Path) -> tuple[FastAPI, dict[str, str]]:
    from ..provider.studio.sandbox import SandboxConfig, create_app

    token = "isat_" + secrets.token_urlsafe(32)  # the shape of Studio's tokens
    app = create_app(SandboxConfig(db_path=str(scratch / "sandbox.db"), token=token, team=STUDIO_TEAM,
                                   access_log=str(scratch / "access.jsonl")))
    return app, {"DATACHAIN_STUDIO_TOKEN": token}


def _studio_prepare(stack_dir: Path, url: str, say: Say) -> None:
    """What the example names and platforge does not manage, made as the team makes it: the
    users (the sandbox's own route: Studio has no API for users) in the `everyone` group its
    administrators keep, since Studio shows a user only through a group or a rule, and a
    pipeline definition from a dataset's lineage, as `datachain pipeline create` does. Studio
    names the pipeline, so its name goes into the copy."""
    import httpx

    headers = {"Authorization": f"token {os.environ['DATACHAIN_STUDIO_TOKEN']}"}
    team = {"team_name": STUDIO_TEAM}
    with httpx.Client(base_url=f"{url}/api", headers=headers, trust_env=False) as studio:
        everyone = studio.post("/datachain/rbac/access-groups/", params=team,
                               json={"name": "everyone"}).raise_for_status().json()["id"]
        for name in STUDIO_USERS:
            user = studio.post("/sandbox/users", json={**team, "username": name, "email": f"{name}@example.com"})
            studio.post(f"/datachain/rbac/access-groups/{everyone}/members/", params=team,
                        json={"user_id": user.raise_for_status().json()["user_id"], "role": "read"}).raise_for_status()
        pipeline = studio.post("/datachain/pipeline/trigger", json={
            **team, "datasets": ["@alice.models.training-set"], "review": True}).raise_for_status().json()["pipeline"]
    schedules = stack_dir / "pipelines.toml"
    if schedules.exists():
        schedules.write_text(re.sub(r'pipeline = "[^"]*"', f'pipeline = "{pipeline["name"]}"', schedules.read_text()))
    say(f"users {', '.join(STUDIO_USERS)} added to team {STUDIO_TEAM} and its everyone group, and pipeline "
        f"{pipeline['name']} created for review, as Studio's administrators and `datachain pipeline create` do: "
        "the stack names them and does not manage them")


def _studio_change(client: Any, say: Say) -> None:
    (group,) = [g for g in client.list_groups() if g.get("name") == "ml-engineers"]
    (bob,) = [m for m in client.list_members(group["id"]) if m.get("email") == "bob@example.com"]
    client.update_member(group["id"], int(bob["user_id"]), "read")
    say("  - bob demoted from write to read in ml-engineers")
    (schedule,) = [s for s in client.list_schedules() if s.get("schedule_name") == "nightly-training"]
    client.update_schedule(schedule["id"], {"schedule_name": "nightly-training", "cron_expression": "0 5 * * *"})
    say("  - the nightly training moved from 02:00 to 05:00")
    (rule,) = [r for r in client.list_rules() if r.get("user_email") == "carol@example.com"]
    client.delete_rule(str(rule["id"]))
    say("  - carol's read access to the models namespace revoked")
    client.create_group("shadow-it")
    say("  - an access group nobody declared created")


def _studio_shows_change(findings: list[dict[str, Any]]) -> bool:
    return any(f["address"] == "pipeline_schedule.nightly-training" and f["cause"] == "out_of_band"
               and any(c["path"] == "cron_expression" and c["new"] == "0 5 * * *" for c in f.get("changes") or ())
               for f in findings)


def _studio_read(record: dict[str, Any]) -> bool:
    """Studio reads with GETs only (listings, `pipeline/schedule`); its POSTs all write (RBAC
    creates and the pipeline RPCs), and platforge never sends the device login's."""
    return record["method"] == "GET"


# ---- Tailer -----------------------------------------------------------------------------------


TAILER_SECRETS = ("RETAIL_LOADER_SA_JSON", "RETAIL_VM_SA_JSON")


def _tailer_sandbox(scratch: Path) -> tuple[FastAPI, dict[str, str]]:
    from ..provider.tailer.sandbox import SandboxConfig, create_app, public_key_pem

    refresh_token, api_key = "rt-" + secrets.token_urlsafe(24), "key-" + secrets.token_urlsafe(24)
    app = create_app(SandboxConfig(db_path=str(scratch / "sandbox.db"), refresh_token=refresh_token,
                                   firebase_api_key=api_key, project_profiles="retail-dev",
                                   access_log=str(scratch / "access.jsonl")))
    home = scratch / "tailer-home"  # $TAILER_HOME, where the SDK keeps the key secrets are sealed with
    home.mkdir()
    (home / "tailer_public_key.pem").write_bytes(public_key_pem(app))
    return app, {"PLATFORGE_TAILER_REFRESH_TOKEN": refresh_token, "PLATFORGE_TAILER_FIREBASE_API_KEY": api_key,
                 "TAILER_HOME": str(home)}


def _tailer_prepare(stack_dir: Path, url: str, say: Say) -> None:
    """The token exchange is on the sandbox's port too (Google's, in production)."""
    platform_toml = stack_dir / "platform.toml"
    platform_toml.write_text(re.sub(r'securetoken_url = "[^"]*"', f'securetoken_url = "{url}/securetoken/v1/token"',
                                    platform_toml.read_text()))
    os.environ.pop("PLATFORGE_TAILER_ID_TOKEN", None)
    for name in TAILER_SECRETS:
        os.environ.setdefault(name, json.dumps({"type": "service_account", "private_key": secrets.token_hex(24)}))
    say("Tailer has no read API: platforge plans every configuration from its state (a plan sends nothing), "
        "and drift can only say `not observable`, with the status of each one's last run")


def _tailer_change(client: Any, say: Say) -> None:
    import httpx

    client.set_status(account="000099", environment="DEV", configuration_type="workflow",
                      configuration_id="export_after_load", activated=False, archived=False)
    say("  - the export workflow paused by hand in Tailer Studio: platforge cannot see this (no read API); "
        "drift will still say `not observable`, never `in sync`")
    with httpx.Client(base_url=str(client.ops_base_url).rstrip("/"), trust_env=False) as tailer:
        token = tailer.post("/securetoken/v1/token", params={"key": os.environ["PLATFORGE_TAILER_FIREBASE_API_KEY"]},
                            json={"grantType": "refresh_token",
                                  "refreshToken": os.environ["PLATFORGE_TAILER_REFRESH_TOKEN"]})
        tailer.post("/_sandbox/runs", headers={"Authorization": f"Bearer {token.raise_for_status().json()['id_token']}"},
                    json={"account": "000099", "environment": "DEV", "configuration_type": "storage-to-tables",
                          "configuration_id": "orders_load", "status": "FAILED"}).raise_for_status()
    say("  - last night's orders load failed (a run, seeded through the sandbox's test route): the alive "
        "probe shows it")


def _tailer_edit(stack_dir: Path, say: Say) -> None:
    exports = stack_dir / "exports.toml"
    text = exports.read_text()
    exports.write_text(text.replace('destination_format = "CSV"', 'destination_format = "PARQUET"', 1))
    say("  - a teammate switched the sales export to PARQUET in exports.toml, not applied yet: a declared change")


def _tailer_shows_change(findings: list[dict[str, Any]]) -> bool:
    by_address = {f["address"]: f for f in findings}
    load = by_address.get("storage_to_tables.orders_load") or {}
    paused = by_address.get("workflow.export_after_load") or {}
    export = by_address.get("table_to_storage.sales_export") or {}
    return ((load.get("run_status") or {}).get("status") == "FAILED" and paused.get("cause") == "not_observable"
            and export.get("cause") == "declared_change")


def _tailer_read(record: dict[str, Any]) -> bool:
    """Tailer's reads are POSTs too: the token exchange and the run-status probe."""
    return str(record["path"]).split("?")[0] in ("/securetoken/v1/token", "/v1/dag/status")


DEMOS: dict[str, Demo] = {
    "datatailr": Demo("Datatailr", Path("examples/quickstart"), "quickstart", DEMO_SECRETS, _datatailr_sandbox,
                      _datatailr_change, _datatailr_shows_change),
    "dataiku": Demo("Dataiku DSS", Path("examples/dataiku"), "dataiku", DATAIKU_DEMO_SECRETS, _dataiku_sandbox,
                    _dataiku_change, _dataiku_shows_change),
    "dataloop": Demo("Dataloop", Path("examples/dataloop"), "dataloop", DATALOOP_DEMO_SECRETS, _dataloop_sandbox,
                     _dataloop_change, _dataloop_shows_change, prepare=_dataloop_prepare, reads=_dataloop_read),
    "studio": Demo("DataChain Studio", Path("examples/studio"), "studio", (), _studio_sandbox, _studio_change,
                   _studio_shows_change, prepare=_studio_prepare, reads=_studio_read),
    "tailer": Demo("Tailer", Path("examples/tailer"), "tailer", TAILER_SECRETS, _tailer_sandbox, _tailer_change,
                   _tailer_shows_change, prepare=_tailer_prepare, reads=_tailer_read,
                   expected_causes=frozenset({"not_observable", "declared_change"}), edit_stack=_tailer_edit),
}


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        stack: Annotated[Path | None, typer.Option(
            help="The stack to demonstrate [default: the platform's example, examples/quickstart for Datatailr].",
            show_default=False)] = None,
        output: Annotated[Path, typer.Option(help="Where to write the drift reports.")] = Path(".platforge/demo"),
        platform: Annotated[str, typer.Option(
            help=f"The platform whose sandbox and example to run: {', '.join(DEMOS)}.")] = "datatailr",
    ) -> None:
        """Start the embedded sandbox, then plan, apply, change something out of band and report drift."""
        if platform not in DEMOS:
            _console.error(f"--platform {platform!r}: no demo for that platform; choose one of {', '.join(DEMOS)}")
            raise typer.Exit(1)
        stack = DEMOS[platform].example if stack is None else stack
        if not (stack / "platform.toml").exists():
            _console.error(f"{stack} is not a stack directory (no platform.toml); "
                      "run the demo from the repository root or pass --stack")
            raise typer.Exit(1)
        raise typer.Exit(run_demo(stack, output, platform))


def run_demo(stack_source: Path, output: Path, platform: str = "datatailr") -> int:
    from ..provider.sandbox import embedded

    spec = DEMOS[platform]
    scratch = Path(tempfile.mkdtemp(prefix="platforge-demo-"))
    app, credentials = spec.sandbox(scratch)
    out = _console.stdout()

    def heading(title: str, style: str = "") -> None:
        # A rule spans a terminal; in a CI log it would be hundreds of dashes.
        out.print(Rule(Text(title, style=style)) if out.is_terminal else Text(f"== {title} ==", style=style or "bold"))

    def say(message: str, style: str = "") -> None:
        out.print(Text(message, style=style))

    with embedded(app) as server:
        stack_dir = scratch / spec.copy_name
        shutil.copytree(stack_source, stack_dir, ignore=shutil.ignore_patterns(".platforge"))
        platform_toml = stack_dir / "platform.toml"
        platform_toml.write_text(re.sub(r'endpoint = ".*"', f'endpoint = "{server.url}"', platform_toml.read_text()))
        os.environ.update(credentials)
        for name in spec.secrets:
            os.environ.setdefault(name, secrets.token_urlsafe(12))

        heading(f"1. Embedded {spec.title} sandbox at {server.url}")
        say(f"stack: {stack_source} (copied to {stack_dir}); state: {stack_dir / '.platforge/state.json'}")
        if spec.prepare is not None:
            spec.prepare(stack_dir, server.url, say)

        engine = _engine(stack_dir)
        heading("2. platforge plan")
        plan = engine.plan()
        text_report.print_plan(out, plan.to_json())

        heading("3. platforge apply --yes")
        _, result = engine.apply()
        say(f"Apply complete: {len(result.applied)} applied.", "bold green")
        writes_after_apply = _writes(scratch, spec.reads)

        heading("4. platforge plan (again): nothing to do")
        second = _engine(stack_dir)
        again = second.plan()
        text_report.print_plan(out, again.to_json())
        second.apply()
        say(f"second apply: {_writes(scratch, spec.reads) - writes_after_apply} write requests (from the sandbox's access log)")

        heading("5. Someone changes the platform by hand")
        spec.change(engine.client, say)
        if spec.edit_stack is not None:
            spec.edit_stack(stack_dir, say)

        heading("6. platforge drift")
        report = _engine(stack_dir).drift()
        document = report.to_json()
        text_report.print_drift(out, document)
        output.mkdir(parents=True, exist_ok=True)
        (output / "drift.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        (output / "drift.md").write_text(md_report.drift_markdown(document), encoding="utf-8")
        (output / "drift.html").write_text(html_report.drift_html(document), encoding="utf-8")
        say(f"reports written to {output}/drift.json, drift.md and drift.html")

        found = {f["cause"] for f in document["findings"]}
        ok = not again.has_changes and spec.expected_causes <= found and spec.shows_change(document["findings"])
        if ok:
            heading("demo complete", "bold green")
        else:
            heading("demo did not behave as expected", "bold red")
        return 0 if ok else 1


def _engine(stack_dir: Path) -> Engine:
    stack, platform = load_stack(stack_dir, get_platform)
    client = platform.connect(stack.platform_config)
    return Engine(stack, platform, client, make_backend(stack, platform, client))


def _writes(scratch: Path, reads: Callable[[dict[str, Any]], bool]) -> int:
    lines = (scratch / "access.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return sum(1 for r in records if not reads(r))
