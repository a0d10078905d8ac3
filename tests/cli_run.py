"""The `platforge` CLI run in-process, as every end-to-end test drives it (one helper, not one
copy per platform's fixtures)."""

from __future__ import annotations

from dataclasses import dataclass

from typer.testing import CliRunner

from platforge.cli import app


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: object) -> CliResult:
    """`platforge ARGS...` in this process; an unexpected exception propagates (a traceback
    is a defect, never an exit code)."""
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)
