"""Show platforge's warnings (one line per retry, platform notices) on stderr when the command
line runs. Importing the library never installs a handler; only `main()` calls this.

`PLATFORGE_LOG=debug` (or `info`, `warning`, `error`) sets the level, as `TF_LOG` does for
Terraform: at `debug` every request is a line (method, path without its query, status, time).
No level ever shows a request or response body, so a secret cannot reach a log."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

LOGGER = "platforge"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record arrives, not when the handler was made:
    test runners capture stderr by swapping it, and Rich's live display redirects it so that a
    line lands above a progress bar instead of through it."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.setStream; nothing to keep
        pass


LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def level_from_environment(default: int = logging.WARNING) -> int:
    """`PLATFORGE_LOG`'s level; an unknown name is reported once and the default kept."""
    name = os.environ.get("PLATFORGE_LOG", "").strip().lower()
    if not name:
        return default
    if name not in LEVELS:
        print(f"platforge: ignoring PLATFORGE_LOG={name!r}: expected one of {', '.join(LEVELS)}", file=sys.stderr)
        return default
    return LEVELS[name]


def setup_logging(level: int | None = None) -> None:
    """Print `platforge` log records at `level` and above on stderr, message only, unless
    logging is already configured (a handler on the `platforge` logger or above it, e.g. a
    `logging.basicConfig()` of a program that runs the CLI in-process). Calling it again adds
    nothing."""
    logger = logging.getLogger(LOGGER)
    if logger.hasHandlers():
        return
    if level is None:
        level = level_from_environment()
    handler = StderrHandler(level)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(level)
