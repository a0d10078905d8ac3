"""The `platforge` command line.

Exit codes CI can rely on: 0 nothing to do, 2 changes or drift, 1 any error (usage errors
included: click's default of 2 would read as "changes found"), 130 interrupted.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import _console, demo, export, lock, sandbox, stacks, state
from ._logging import setup_logging

try:  # typer vendors its own click since 0.2x; its exceptions are not `click`'s
    from typer import _click as _clicklib  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older typer over the real click
    import click as _clicklib

UsageError = _clicklib.exceptions.UsageError


class _Group(TyperGroup):
    """The root group: a usage error anywhere below exits 1."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            exc.exit_code = 1
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            exc.exit_code = 1
            raise


app = typer.Typer(
    name="platforge",
    cls=_Group,
    help="Infrastructure as code for data platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts name tables like [platform]; markup would eat them
)


def _version(value: bool) -> None:
    if value:
        try:
            found = version("platforge")
        except PackageNotFoundError:  # running from a source tree that was never installed
            found = "unknown"
        typer.echo(f"platforge {found}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour in the output (also: NO_COLOR=1).")] = False,
) -> None:
    """Infrastructure as code for data platforms: plan, apply and drift over TOML stacks."""
    _console.configure(no_color)


app.add_typer(sandbox.app, name="sandbox")
app.add_typer(state.app, name="state")
app.add_typer(lock.app, name="lock")
stacks.register(app)
demo.register(app)
export.register(app)


def main() -> None:
    setup_logging()  # retry lines on stderr
    app()
