"""The `platforge` command line."""

from __future__ import annotations

import typer

from . import demo, sandbox, stacks

app = typer.Typer(
    name="platforge",
    help="Infrastructure as code for data platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(sandbox.app, name="sandbox")
stacks.register(app)
demo.register(app)


def main() -> None:
    app()
