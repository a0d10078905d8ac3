"""`platforge plan | apply | drift`: the GitOps front door over TOML stacks.

Exit codes (documented in the README):

    command | 0          | 1     | 2
    plan    | no changes | error | changes
    apply   | success    | error | -
    drift   | in sync    | error | drift found
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..core.engine import Engine, load_plan_file, make_backend
from ..core.errors import ApplyError, LockError, PlanError, StackError
from ..core.secrets import SecretUnavailable
from ..core.stack import load_stack
from ..provider import PlatformConnectionError, get_platform
from ..provider.transport import PlatformError
from ..report import markdown as md_report
from ..report import text as text_report

out = Console()
err = Console(stderr=True, soft_wrap=True)

StackDir = Annotated[Path, typer.Argument(help="Stack directory (default: the current directory).")]
Endpoint = Annotated[str | None, typer.Option("--endpoint", help="Override the stack's [platform] endpoint.")]


def open_engine(stack_dir: Path, endpoint: str | None) -> Engine:
    stack, platform = load_stack(stack_dir, get_platform)
    client = platform.connect(stack.platform_config, endpoint)
    return Engine(stack, platform, client, make_backend(stack, platform, client))


def fail(message: str) -> typer.Exit:
    err.print(f"[bold red]Error:[/bold red] {message}", highlight=False)
    return typer.Exit(1)


def run_guarded(fn):
    """Turn every expected failure into a clear message and exit code 1."""
    try:
        return fn()
    except StackError as exc:
        err.print(f"[bold red]Error:[/bold red] the stack is invalid ({len(exc.problems)} problem(s)); nothing was applied:",
                  highlight=False)
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except (PlanError, LockError, SecretUnavailable, PlatformConnectionError) as exc:
        raise fail(str(exc)) from None
    except ApplyError as exc:
        err.print(f"[bold red]Error:[/bold red] {exc}", highlight=False)
        for address, message in exc.failures:
            err.print(f"  {address}: {message}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except PlatformError as exc:
        raise fail(f"platform error: {exc}") from None


def register(app: typer.Typer) -> None:
    @app.command()
    def plan(
        stack_dir: StackDir = Path("."),
        endpoint: Endpoint = None,
        out_file: Annotated[Path | None, typer.Option("--out", help="Save the plan as JSON for `apply --plan`.")] = None,
        markdown: Annotated[Path | None, typer.Option("--markdown", help="Write a pull-request comment here.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON instead of text.")] = False,
        prune: Annotated[bool, typer.Option("--prune", help="Plan deletes of owned objects no longer declared.")] = False,
    ) -> None:
        """Show what apply would change. Exit 0: no changes, 2: changes, 1: error."""

        def run() -> int:
            engine = open_engine(stack_dir, endpoint)
            the_plan = engine.plan(prune=prune)
            document = the_plan.to_json()
            if out_file:
                out_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            if markdown:
                markdown.write_text(md_report.plan_markdown(document), encoding="utf-8")
            if as_json:
                sys.stdout.write(json.dumps(document, indent=2) + "\n")
            else:
                text_report.print_plan(out, document)
            return 2 if the_plan.has_changes else 0

        raise typer.Exit(run_guarded(run))

    @app.command()
    def apply(
        stack_dir: StackDir = Path("."),
        endpoint: Endpoint = None,
        plan_file: Annotated[Path | None, typer.Option("--plan", help="Apply this saved plan (refused if stale).")] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        prune: Annotated[bool, typer.Option("--prune", help="Delete owned objects that are no longer declared.")] = False,
    ) -> None:
        """Make the platform match the stack. Exit 0: success, 1: error."""

        def run() -> int:
            engine = open_engine(stack_dir, endpoint)
            saved = load_plan_file(plan_file) if plan_file else None
            preview = engine.plan(prune=bool(saved.get("prune")) if saved else prune)
            text_report.print_plan(out, preview.to_json())
            if not preview.has_changes:
                engine.apply(prune=preview.prune, saved_plan=saved, preview=preview)  # records adoption only
                return 0
            if not yes:
                if not sys.stdin.isatty():
                    raise fail("refusing to apply without confirmation: not a terminal; pass --yes")
                if not typer.confirm("Apply these changes?", default=False):
                    raise fail("apply cancelled; nothing was changed")
            with _progress() as progress:
                task = progress.add_task("applying", total=len(preview.changes))

                def hook(action, status: str) -> None:
                    if status in ("done", "failed"):
                        progress.advance(task)
                    progress.update(task, description=f"{action.op.value} {action.address}")

                _, result = engine.apply(prune=preview.prune, saved_plan=saved, progress=hook, preview=preview)
            out.print(f"[bold green]Apply complete:[/bold green] {len(result.applied)} applied"
                      + (f", {len(result.forgotten)} forgotten" if result.forgotten else "") + ".")
            return 0

        raise typer.Exit(run_guarded(run))

    @app.command()
    def drift(
        stack_dir: StackDir = Path("."),
        endpoint: Endpoint = None,
        fmt: Annotated[str, typer.Option("--format", help="text, json, markdown or html.")] = "text",
        output: Annotated[Path | None, typer.Option("--output", help="Write the report here instead of stdout.")] = None,
    ) -> None:
        """Report drift by cause. Exit 0: in sync, 2: drift found, 1: error."""
        if fmt not in ("text", "json", "markdown", "html"):
            raise fail(f"--format must be text, json, markdown or html, got {fmt!r}")

        def run() -> int:
            engine = open_engine(stack_dir, endpoint)
            report = engine.drift()
            document = report.to_json()
            rendered: str | None = None
            if fmt == "json":
                rendered = json.dumps(document, indent=2) + "\n"
            elif fmt == "markdown":
                rendered = md_report.drift_markdown(document)
            elif fmt == "html":
                from ..report import html as html_report

                rendered = html_report.drift_html(document)
            if rendered is None and output:
                with output.open("w", encoding="utf-8") as fh:
                    text_report.print_drift(Console(file=fh, width=120), document)
            elif rendered is None:
                text_report.print_drift(out, document)
            elif output:
                output.write_text(rendered, encoding="utf-8")
            else:
                sys.stdout.write(rendered)
            return 2 if report.drifted else 0

        raise typer.Exit(run_guarded(run))


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)
