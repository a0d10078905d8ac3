"""`platforge demo`: the whole loop on the embedded sandbox, with nothing to set up.

It starts a Datatailr sandbox on a free local port, copies the quickstart stack to a scratch
directory, plans, applies, proves the second plan is empty, changes the platform behind the
stack's back, and reports the drift by cause (also as JSON, Markdown and HTML files).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

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

DEMO_SECRETS = ("QUICKSTART_INITIAL_PASSWORD", "QUICKSTART_WAREHOUSE_PASSWORD_DEV", "QUICKSTART_WAREHOUSE_PASSWORD_PROD")


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        stack: Annotated[Path, typer.Option(help="The stack to demonstrate.")] = Path("examples/quickstart"),
        output: Annotated[Path, typer.Option(help="Where to write the drift reports.")] = Path(".platforge/demo"),
    ) -> None:
        """Start the embedded sandbox, then plan, apply, change something out of band and report drift."""
        if not (stack / "platform.toml").exists():
            _console.error(f"{stack} is not a stack directory (no platform.toml); "
                      "run the demo from the repository root or pass --stack")
            raise typer.Exit(1)
        raise typer.Exit(run_demo(stack, output))


def run_demo(stack_source: Path, output: Path) -> int:
    from ..provider.datatailr.sandbox import SandboxConfig, create_app
    from ..provider.sandbox import embedded

    scratch = Path(tempfile.mkdtemp(prefix="platforge-demo-"))
    admin_password = secrets.token_urlsafe(16)
    app = create_app(SandboxConfig(db_path=str(scratch / "sandbox.db"), admin_password=admin_password,
                                   access_log=str(scratch / "access.jsonl")))
    out = _console.stdout()

    def heading(title: str, style: str = "") -> None:
        # A rule spans a terminal; in a CI log it would be hundreds of dashes.
        out.print(Rule(Text(title, style=style)) if out.is_terminal else Text(f"== {title} ==", style=style or "bold"))

    def say(message: str, style: str = "") -> None:
        out.print(Text(message, style=style))

    with embedded(app) as server:
        stack_dir = scratch / "quickstart"
        shutil.copytree(stack_source, stack_dir, ignore=shutil.ignore_patterns(".platforge"))
        platform_toml = stack_dir / "platform.toml"
        platform_toml.write_text(re.sub(r'endpoint = ".*"', f'endpoint = "{server.url}"', platform_toml.read_text()))
        os.environ["DATATAILR_USER_NAME"] = "admin"
        os.environ["DATATAILR_USER_PASSWORD"] = admin_password
        for name in DEMO_SECRETS:
            os.environ.setdefault(name, secrets.token_urlsafe(12))

        heading(f"1. Embedded Datatailr sandbox at {server.url}")
        say(f"stack: {stack_source} (copied to {stack_dir}); state: {stack_dir / '.platforge/state.json'}")

        engine = _engine(stack_dir)
        heading("2. platforge plan")
        plan = engine.plan()
        text_report.print_plan(out, plan.to_json())

        heading("3. platforge apply --yes")
        _, result = engine.apply()
        say(f"Apply complete: {len(result.applied)} applied.", "bold green")
        writes_after_apply = _writes(scratch)

        heading("4. platforge plan (again): nothing to do")
        second = _engine(stack_dir)
        again = second.plan()
        text_report.print_plan(out, again.to_json())
        second.apply()
        say(f"second apply: {_writes(scratch) - writes_after_apply} write requests (from the sandbox's access log)")

        heading("5. Someone changes the platform by hand")
        client = engine.client
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

        heading("6. platforge drift")
        report = _engine(stack_dir).drift()
        document = report.to_json()
        text_report.print_drift(out, document)
        output.mkdir(parents=True, exist_ok=True)
        (output / "drift.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        (output / "drift.md").write_text(md_report.drift_markdown(document), encoding="utf-8")
        (output / "drift.html").write_text(html_report.drift_html(document), encoding="utf-8")
        say(f"reports written to {output}/drift.json, drift.md and drift.html")

        expected = {"out_of_band", "missing", "unmanaged"}
        found = {f["cause"] for f in document["findings"]}
        stopped = any(f["address"] == "service.feature-api" and "job stopped" in f["detail"]
                      for f in document["findings"])
        ok = not again.has_changes and expected <= found and stopped
        if ok:
            heading("demo complete", "bold green")
        else:
            heading("demo did not behave as expected", "bold red")
        return 0 if ok else 1


def _engine(stack_dir: Path) -> Engine:
    stack, platform = load_stack(stack_dir, get_platform)
    client = platform.connect(stack.platform_config)
    return Engine(stack, platform, client, make_backend(stack, platform, client))


def _writes(scratch: Path) -> int:
    lines = (scratch / "access.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return sum(1 for r in records if r["method"] != "GET" and r["path"] != "/login")
