"""`platforge lock status | release`: see who holds a stack's state lock, and release it.

Exit codes, as for the other commands:

    status   0 the lock is free        2 the lock is held        1 error
    release  0 released (or free)                                1 error (held, without --force)

Without `--force`, `release` only clears claims whose lease has expired (a killed run's), which
any run would clear anyway. With `--force` it also removes live claims and records who released
whose lock, and when, under the stack's `lock-events/` (shown by `status`). A run whose lock was
forced away notices at its next lease renewal and stops writing. A local lock is released by the
operating system when its process exits, so a held local lock cannot be forced: stop its process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from ..core.engine import make_backend
from ..core.stack import load_stack
from ..core.state import LockInfo, LockStatus, StateBackend
from ..provider import get_platform
from . import _console
from .stacks import Endpoint, StackDir, run_guarded

app = typer.Typer(help="See who holds a stack's state lock, or release it.", no_args_is_help=True,
                  rich_markup_mode=None)


def open_backend(stack_dir: Path, endpoint: str | None) -> StateBackend:
    """The stack's state backend; a local one needs no login."""
    stack, platform = load_stack(stack_dir, get_platform, declarations=False)  # no secret needed to see a lock
    if stack.state_config.backend == "local":
        return make_backend(stack, platform, None)
    client = platform.connect(stack.platform_config, endpoint)
    return make_backend(stack, platform, client)


def _holder_json(info: LockInfo) -> dict[str, Any]:
    return info.model_dump(mode="json")


def status_json(status: LockStatus) -> dict[str, Any]:
    return {"where": status.where, "held": status.held, "holders": [_holder_json(h) for h in status.holders],
            "stale": [_holder_json(h) for h in status.stale], "events": status.events, "notes": status.notes}


def _event_text(event: dict[str, Any]) -> str:
    by = event.get("by") or {}
    released = [LockInfo.model_validate(h).describe() for h in event.get("released") or [] if isinstance(h, dict)]
    whose = ", ".join(released) or "nobody"
    return f"{event.get('at', '?')}: {by.get('user', '?')} (on {by.get('host', '?')}) forced the release of {whose}"


@app.command("status")
def status(
    stack_dir: StackDir = Path("."),
    endpoint: Endpoint = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show who holds the stack's state lock and until when. Exit 0: free; 2: held; 1: error."""

    def run() -> int:
        result = open_backend(stack_dir, endpoint).lock_status()
        if as_json:
            sys.stdout.write(json.dumps(status_json(result), indent=2) + "\n")
            return 2 if result.held else 0
        out = _console.stdout()
        if result.held:
            for holder in result.holders:
                out.print(Text(f"The state in {result.where} is locked by {holder.describe()}."))
        else:
            out.print(Text(f"The state in {result.where} is not locked."))
        for holder in result.stale:
            out.print(Text(f"Expired claim (the next run removes it): {holder.describe()}"))
        for event in result.events:
            out.print(Text(f"Forced release: {_event_text(event)}"))
        for note in result.notes:
            out.print(Text(f"Note: {note}"))
        return 2 if result.held else 0

    raise typer.Exit(run_guarded(run))


@app.command("release")
def release(
    stack_dir: StackDir = Path("."),
    endpoint: Endpoint = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Also release a live lock (a run that was killed, or is stuck), and record who did.")] = False,
) -> None:
    """Release the stack's state lock. Without --force only expired claims are cleared. Exit 0:
    released or free; 1: error (the lock is held and --force was not given)."""

    def run() -> int:
        backend = open_backend(stack_dir, endpoint)
        released = backend.release_lock(force=force)
        out = _console.stdout()
        if not released:
            out.print(Text(f"The state in {backend.describe()} was not locked; nothing to release."))
        for holder in released:
            out.print(Text(f"Released the lock of {holder.describe()} on {backend.describe()}."))
        if force and released:
            out.print(Text("Recorded who released it (see `platforge lock status`)."))
        return 0

    raise typer.Exit(run_guarded(run))
