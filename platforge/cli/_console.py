"""Consoles that suit where the output goes.

On a terminal: colour and the terminal's width. Anywhere else (a CI log, a file, a pipe): no
wrapping at 80 columns, since a wrapped address or value is harder to grep than a long line,
and no progress bar. `--no-color` and the `NO_COLOR` convention turn colour off everywhere.
Markup is never interpreted in what we print from data: messages are `Text`, not markup.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console
from rich.text import Text

#: Width used when the output is not a terminal and $COLUMNS does not say otherwise.
UNWRAPPED_WIDTH = 400

_settings = {"no_color": False}


def configure(no_color: bool) -> None:
    _settings["no_color"] = no_color


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console_for(stream: TextIO) -> Console:
    terminal = is_terminal(stream)
    width = None if terminal else int(os.environ.get("COLUMNS") or 0) or UNWRAPPED_WIDTH
    no_color = _settings["no_color"] or bool(os.environ.get("NO_COLOR"))
    # No colour means plain text: no bold or dim either, so logs and pipes read cleanly.
    return Console(file=stream, width=width, soft_wrap=not terminal, no_color=no_color, highlight=False,
                   force_terminal=terminal, emoji=False, color_system=None if no_color else "auto")


def stdout() -> Console:
    return console_for(sys.stdout)


def stderr() -> Console:
    return console_for(sys.stderr)


def error(message: str) -> None:
    """`Error: <message>` on stderr, the message taken literally (brackets and all)."""
    stderr().print(Text.assemble(("Error: ", "bold red"), message))


def note(message: str, style: str = "") -> None:
    stderr().print(Text(message, style=style))
