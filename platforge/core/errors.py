"""Errors the core raises with enough context for the user to fix their stack."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One thing wrong with a stack: where, what was expected, what was found."""

    file: str
    message: str
    line: int | None = None
    path: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" [{self.path}]" if self.path else ""
        return f"{where}{key}: {self.message}"


class StackError(Exception):
    """The stack is invalid; nothing was sent to the platform."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(file="<stack>", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PlanError(Exception):
    """A plan could not be made or used (stale saved plan, wrong stack)."""


class ApplyError(Exception):
    """Some actions failed; the state records what did succeed."""

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


class LockError(Exception):
    """Another apply holds the stack's lock."""
