"""`platforge state`: explicit moves of ownership that plan and apply never make on their own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ..core.engine import describe_target
from . import _console
from .stacks import Endpoint, StackDir, open_engine, run_guarded

app = typer.Typer(help="Inspect and move what a stack's state owns.", no_args_is_help=True, rich_markup_mode=None)


@app.command("retarget")
def retarget(stack_dir: StackDir = Path("."), endpoint: Endpoint = None) -> None:
    """Bind the state to the stack's current target (its [platform] endpoint and environment, or
    --endpoint): for a platform that moved to a new address. Plan, apply and drift refuse a
    state that belongs to another target."""

    def run() -> int:
        engine = open_engine(stack_dir, endpoint, check_target=False)
        before, after = engine.retarget()
        _console.stdout().print(Text(f"The state now belongs to {describe_target(after)} "
                                     f"(it belonged to {describe_target(before)})."))
        return 0

    raise typer.Exit(run_guarded(run))


@app.command("forget")
def forget(
    addresses: Annotated[list[str], typer.Argument(help="Addresses to stop owning, e.g. user.alice.")],
    stack_dir: Annotated[Path, typer.Option("--stack", help="Stack directory.")] = Path("."),
    endpoint: Endpoint = None,
) -> None:
    """Stop owning objects without touching them: they stay on the platform, become unmanaged,
    and --prune will never delete them."""

    def run() -> int:
        engine = open_engine(stack_dir, endpoint)
        forgotten = engine.forget(addresses)
        _console.stdout().print(Text(f"Forgotten: {', '.join(forgotten)}. They remain on the platform, unmanaged."))
        return 0

    raise typer.Exit(run_guarded(run))
