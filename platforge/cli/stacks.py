"""`platforge plan | apply | drift`: the GitOps front door over TOML stacks.

Exit codes (documented in the README), the same for every command so CI can rely on them:

    0    nothing to do: no changes, applied, in sync
    1    error, including usage errors (an unknown flag or a bad option value)
    2    plan: changes (or owned objects waiting for --prune); drift: drift found
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from ..core.drift import DriftReport
from ..core.engine import Engine, load_plan_file, make_backend
from ..core.errors import ApplyError, LockError, PlanError, StackError
from ..core.model import Action, Cause
from ..core.secrets import SecretUnavailable, ShownOnceTarget, deliver_shown_once
from ..core.stack import load_stack
from ..provider import PlatformConnectionError, PlatformError, get_platform
from ..report import markdown as md_report
from ..report import text as text_report
from . import _console

StackDir = Annotated[Path, typer.Argument(help="Stack directory (default: the current directory).")]
Endpoint = Annotated[str | None, typer.Option(
    "--endpoint", envvar="PLATFORGE_ENDPOINT",
    help="Override the stack's [platform] endpoint (also: PLATFORGE_ENDPOINT, for CI jobs pointed at a sandbox).")]
Adopt = Annotated[list[str] | None, typer.Option(
    "--adopt", metavar="ADDRESS",
    help="Consent to take over this existing object (repeatable; patterns such as 'user.*', or '*').")]
RefreshSecrets = Annotated[bool, typer.Option(
    "--refresh-secrets",
    help="Read every managed secret's value to compare it (one request each); by default a plan trusts the "
         "fingerprints the last apply recorded, and drift always reads.")]
class Refresh(str, Enum):
    list = "list"
    per_object = "per-object"


RefreshMode = Annotated[Refresh, typer.Option(
    "--refresh", help="How live state is read: one list call per kind per page (default), or one read per "
                      "object, 10 at a time, as engines without list calls do (a baseline; it cannot see "
                      "unmanaged objects).")]
ConfirmDelete = Annotated[list[str] | None, typer.Option(
    "--confirm-delete", metavar="ADDRESS",
    help="Confirm a delete the platform protects beyond --yes, such as a job in prod (repeatable).")]

EXIT_INTERRUPTED = 130


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


class FailOn(str, Enum):
    unmanaged = "unmanaged"
    declared_change = "declared_change"
    out_of_band = "out_of_band"
    missing = "missing"


def _hand_over_shown_once(engine: Engine, shown: dict[str, dict[str, str]]) -> None:
    """Write each value the platform showed once where its resource's `shown_once_to` says;
    say where (never what). Without a target the value is gone: say that, so nobody waits for it."""
    by_address = {r.address: r for r in engine.stack.resources}
    for address, values in sorted(shown.items()):
        resource = by_address.get(address)
        raw = resource.spec.get("shown_once_to") if resource is not None else None
        if not raw:
            _console.note(f"Warning: {address}: the platform showed its secret once and platforge keeps no copy; declare "
                          "shown_once_to to receive it (the object works; a new secret needs a new object)", "yellow")
            continue
        target = ShownOnceTarget.model_validate(raw)
        base = resource.source.file if resource is not None and resource.source is not None else "."
        for value in values.values():
            path = deliver_shown_once(value, target, str(Path(base).parent))
            _console.stdout().print(f"{address}: its secret (shown once by the platform) was written to {path} (0600)")


def open_engine(stack_dir: Path, endpoint: str | None, check_target: bool = True) -> Engine:
    stack, platform = load_stack(stack_dir, get_platform)
    # A local state's problems (a directory as its path, a torn file) show before any login.
    local = make_backend(stack, platform, None) if stack.state_config.backend == "local" else None
    client = platform.connect(stack.platform_config, endpoint)
    backend = local or make_backend(stack, platform, client)
    return Engine(stack, platform, client, backend, check_target=check_target)


def fail(message: str) -> typer.Exit:
    _console.error(message)
    return typer.Exit(1)


def run_guarded(fn: Callable[[], int]) -> int:
    """Turn every expected failure into a clear message and exit code 1."""
    try:
        return fn()
    except StackError as exc:
        _console.error(f"the stack is invalid ({len(exc.problems)} problem(s)); nothing was applied:")
        err = _console.stderr()
        for problem in exc.problems:
            err.print(Text(f"  {problem}"))
        raise typer.Exit(1) from None
    except (PlanError, LockError, SecretUnavailable, PlatformConnectionError) as exc:
        raise fail(str(exc)) from None
    except ApplyError as exc:
        _console.error(str(exc))
        err = _console.stderr()
        for address, message in exc.failures:
            err.print(Text(f"  {address}: {message}"))
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
        adopt: Adopt = None,
        confirm_delete: ConfirmDelete = None,
        refresh_secrets: RefreshSecrets = False,
        refresh: RefreshMode = Refresh.list,
    ) -> None:
        """Show what apply would change. Exit 0: nothing to do; 2: changes, or owned objects no
        longer declared (apply --prune deletes them); 1: error."""

        def run() -> int:
            engine = open_engine(stack_dir, endpoint)
            engine.policy = engine.policy.with_confirmed_deletes(confirm_delete or ())
            engine.ctx.refresh_secrets = refresh_secrets
            engine.refresh = refresh.value
            the_plan = engine.plan(prune=prune, adopt=adopt or ())
            document = the_plan.to_json()
            if out_file:
                out_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
            if markdown:
                markdown.write_text(md_report.plan_markdown(document), encoding="utf-8")
            if as_json:
                sys.stdout.write(json.dumps(document, indent=2) + "\n")
            else:
                text_report.print_plan(_console.stdout(), document)
            pending = engine.records_pending(the_plan)
            if pending:  # not a change (exit 0), but why drift differs until the next apply
                shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
                _console.note(f"Note: the next apply records the declarations of {len(pending)} object(s) that already "
                              f"match the platform ({shown}): drift reports them as changed outside platforge until "
                              "then; nothing is written to the platform.")
            return 2 if the_plan.needs_attention else 0

        raise typer.Exit(run_guarded(run))

    @app.command()
    def apply(
        stack_dir: StackDir = Path("."),
        endpoint: Endpoint = None,
        plan_file: Annotated[Path | None, typer.Option("--plan", help="Apply this saved plan (refused if stale).")] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        prune: Annotated[bool, typer.Option("--prune", help="Delete owned objects that are no longer declared.")] = False,
        adopt: Adopt = None,
        confirm_delete: ConfirmDelete = None,
        refresh_secrets: RefreshSecrets = False,
        parallelism: Annotated[int | None, typer.Option(
            "--parallelism", min=1, max=64, help="Actions run at once (default: the stack's [platform] parallelism).")] = None,
        lock_timeout: Annotated[float, typer.Option(
            "--lock-timeout", min=0, metavar="SECONDS",
            help="Wait this long for another run of this stack to release its state lock, instead of failing at "
                 "once (CI jobs of one stack then queue).")] = 0.0,
    ) -> None:
        """Make the platform match the stack. Exit 0: success; 1: error; 130: interrupted."""

        def run() -> int:
            engine = open_engine(stack_dir, endpoint)
            engine.lock_timeout = lock_timeout
            engine.on_lock_wait = _LockWaitNotes()
            engine.policy = engine.policy.with_confirmed_deletes(confirm_delete or ())
            engine.ctx.refresh_secrets = refresh_secrets
            saved = load_plan_file(plan_file) if plan_file else None
            consent = list(adopt or ())
            preview = engine.preview(prune=prune, saved_plan=saved, adopt=consent)  # a stale saved plan: refused here
            out = _console.stdout()
            text_report.print_plan(out, preview.to_json())
            if not preview.has_changes:
                engine.apply(prune=preview.prune, saved_plan=saved, preview=preview, adopt=consent)  # records adoption only
                return 0
            if not yes:
                if not sys.stdin.isatty():
                    raise fail("refusing to apply without confirmation: not a terminal; pass --yes")
                if not typer.confirm("Apply these changes?", default=False):
                    raise fail("apply cancelled; nothing was changed")
            reporter = _Reporter(len(preview.changes))
            try:
                with reporter:
                    try:
                        applied, result = engine.apply(prune=preview.prune, saved_plan=saved, progress=reporter.hook,
                                                       preview=preview, adopt=consent, parallelism=parallelism)
                    except ApplyError as exc:
                        _hand_over_shown_once(engine, exc.shown_once)  # what did succeed keeps its secret
                        raise
            except KeyboardInterrupt:
                _console.error(
                    f"interrupted after {reporter.finished} of {reporter.total} action(s). What landed is recorded "
                    f"in the state, and writes in flight were journalled before they were sent. Run `platforge apply "
                    f"{stack_dir}` again to resume: it re-reads the platform and does only what is left.")
                return EXIT_INTERRUPTED
            if not applied.has_changes:
                out.print("Nothing to apply: the plan made again under the state lock is empty, so another apply "
                          "of this stack made these changes meanwhile.")
                return 0
            _hand_over_shown_once(engine, result.shown_once)
            out.print(Text.assemble(("Apply complete: ", "bold green"), f"{len(result.applied)} applied"
                                    + (f", {len(result.forgotten)} forgotten" if result.forgotten else "") + "."))
            return 0

        raise typer.Exit(run_guarded(run))

    @app.command()
    def drift(
        stack_dir: StackDir = Path("."),
        endpoint: Endpoint = None,
        fmt: Annotated[Format, typer.Option("--format", help="Report format.")] = Format.text,
        output: Annotated[Path | None, typer.Option("--output", help="Write the report here instead of stdout.")] = None,
        markdown: Annotated[Path | None, typer.Option(
            "--markdown", help="Also write the Markdown report here, from the same run (a job summary or a "
                               "pull-request comment next to an HTML page).")] = None,
        fail_on: Annotated[list[FailOn] | None, typer.Option(
            "--fail-on", help="Also exit 2 for unmanaged objects (by default they are reported, not failed).")] = None,
        accept: Annotated[list[str] | None, typer.Option(
            "--accept", metavar="ADDRESS",
            help="Accept this object's out-of-band changes: write their live values into the stack's TOML file in "
                 "place, keeping comments and layout (repeatable). Secrets are never written. Prints what it "
                 "wrote instead of the report.")] = None,
    ) -> None:
        """Report drift by cause. Exit 0: in sync; 2: drift found (changes not applied, changed
        outside platforge, missing; unmanaged only with --fail-on unmanaged); 1: error. With
        --accept: exit 0 when the live values were written, 1 when an address has nothing to
        accept (then nothing is written)."""

        def run() -> int:
            started = time.monotonic()
            engine = open_engine(stack_dir, endpoint)
            report = engine.drift(fail_on=[Cause(f.value) for f in fail_on or ()])
            report.requests = _requests_made(engine)
            report.duration_seconds = round(time.monotonic() - started, 3)
            if accept:
                return _accept(engine, report, accept, stack_dir)
            document = report.to_json()
            if markdown:
                markdown.write_text(md_report.drift_markdown(document), encoding="utf-8")
            rendered: str | None = None
            if fmt is Format.json:
                rendered = json.dumps(document, indent=2) + "\n"
            elif fmt is Format.markdown:
                rendered = md_report.drift_markdown(document)
            elif fmt is Format.html:
                from ..report import html as html_report

                rendered = html_report.drift_html(document)
            if rendered is None and output:
                with output.open("w", encoding="utf-8") as fh:
                    text_report.print_drift(_console.console_for(fh), document)
            elif rendered is None:
                text_report.print_drift(_console.stdout(), document)
            elif output:
                output.write_text(rendered, encoding="utf-8")
            else:
                sys.stdout.write(rendered)
            return 2 if report.drifted else 0

        raise typer.Exit(run_guarded(run))


def _accept(engine: Engine, report: DriftReport, addresses: list[str], stack_dir: Path) -> int:
    from .accept import SECRET_NOTE, AcceptError
    from .accept import accept as write_accepted

    try:
        results = write_accepted(report, engine.stack.resources, addresses, stack_dir)
    except AcceptError as exc:
        _console.error(f"nothing was accepted; no file was changed ({len(exc.problems)} problem(s)):")
        err = _console.stderr()
        for problem in exc.problems:
            err.print(Text(f"  {problem}"))
        return 1
    out = _console.stdout()
    for done in results:
        out.print(Text(f"{done.address}: accepted the live value of {', '.join(done.fields)} into {done.file}"))
        if done.secrets:
            out.print(Text(f"{done.address}: not written: {', '.join(done.secrets)} (a secret; {SECRET_NOTE}). "
                           "Update its source, or apply to put the stack's value back."))
    out.print(Text("The stack now declares what the platform has for these objects: `platforge plan` shows no "
                   "change for them. Review the diff and commit it; the next `platforge apply` records these values "
                   "as applied (it sends nothing for them), and drift stops reporting them."))
    return 0


class _LockWaitNotes:
    """Say on stderr why an apply is idle while it waits for the lock: at the first wait, then
    at most every 30 seconds (a CI log shows who holds the stack)."""

    def __init__(self) -> None:
        self._last: float | None = None

    def __call__(self, message: str, remaining: float) -> None:
        now = time.monotonic()
        if self._last is None or now - self._last >= 30:
            self._last = now
            _console.note(f"waiting for the state lock ({remaining:.0f} s left of --lock-timeout): {message}", "yellow")


def _requests_made(engine: Engine) -> int | None:
    """Requests this command's platform client sent (its counters start at zero with the
    command): the client's own, those of the clients it holds for other endpoints (Tailer's ops
    API), and logins a client sends outside its transport (`token_requests`). Each counter is
    read once, however many objects share it. None for a client that does not count."""
    def counter(holder: object) -> object | None:
        stats = getattr(holder, "stats", None)
        requests = getattr(stats, "requests", None)
        return stats if isinstance(requests, int) and not isinstance(requests, bool) else None

    client = engine.client
    own = counter(client)
    if own is None:
        return None
    counters = {id(own): own}
    for held in (vars(client).values() if hasattr(client, "__dict__") else ()):
        found = counter(held)
        if found is not None:
            counters.setdefault(id(found), found)
    total = sum(int(getattr(stats, "requests", 0)) for stats in counters.values())
    logins = getattr(client, "token_requests", 0)
    return total + (logins if isinstance(logins, int) and not isinstance(logins, bool) else 0)


class _Reporter:
    """Progress of an apply: a bar on a terminal; elsewhere (CI) one line per finished action,
    with its address, operation, outcome and duration."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.finished = 0
        self._started: dict[str, float] = {}
        self._terminal = _console.is_terminal(sys.stderr)
        self._out = _console.stdout()
        self._progress: Progress | None = None
        self._task: Any = None
        self._lock = threading.Lock()  # actions finish on worker threads

    def __enter__(self) -> _Reporter:
        if self._terminal:
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=_console.stderr(), transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("applying", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def hook(self, action: Action, status: str) -> None:
        with self._lock:
            if status == "start":
                self._started[action.address] = time.monotonic()
                if self._progress is not None:
                    self._progress.update(self._task, description=f"{action.op.value} {action.address}")
                return
            self.finished += 1
            elapsed = time.monotonic() - self._started.pop(action.address, time.monotonic())
            if self._progress is not None:
                self._progress.advance(self._task)
            else:
                self._out.print(Text(f"{action.address}  {action.op.value}  {status}  {elapsed:.2f}s"))
