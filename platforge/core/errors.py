"""Errors the core raises with enough context for the user to fix their stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    """Some actions failed; the state records what did succeed. `shown_once` carries the values
    the platform showed once to the actions that did succeed (a new API key's secret), so that a
    partial failure does not lose them; it is never part of the message."""

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None,
                 shown_once: dict[str, dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []
        self.shown_once = shown_once or {}

    def __reduce__(self) -> tuple[Any, ...]:  # a pickled error carries no shown-once value
        return (type(self), (str(self), self.failures))


class TemporaryError(Exception):
    """A failure a kind knows may pass (a build still running, a lock held elsewhere): apply
    decides again from live state, within its attempts."""


class PermanentError(Exception):
    """A failure a kind knows will not pass by trying again (a rejected definition, a build
    that failed): apply stops this action at once."""


class UnsafeWrite(PermanentError):
    """A write was stopped because it would put a value where someone else controls who reads
    it; permanent, never retried."""


class LockError(Exception):
    """Another apply holds the stack's lock."""


class AdoptionError(PlanError):
    """Apply would take over objects the stack does not own without consent, or write where
    it is unsafe; nothing was written."""

    def __init__(self, refusals: list[tuple[str, str]]) -> None:
        self.refusals = refusals
        lines = [f"  {address}: {why}" for address, why in refusals]
        needs_consent = any("needs consent" in why for _, why in refusals)
        hint = ("\nTo take existing objects over, pass --adopt ADDRESS (patterns like 'user.*' work; '*' adopts "
                "everything shown) or list them in the stack's [adopt] table." if needs_consent else "")
        super().__init__(f"refusing to apply: {len(refusals)} object(s) cannot be written; nothing was changed\n"
                         + "\n".join(lines) + hint)


class TargetMismatch(PlanError):
    """The state belongs to another platform, endpoint or environment than this run's."""

    def __init__(self, where: str, recorded: dict[str, Any], current: dict[str, Any]) -> None:
        def show(t: dict[str, Any]) -> str:
            return f"{t.get('platform')} at {t.get('endpoint')} (environment {t.get('environment')})"

        self.recorded = recorded
        self.current = current
        super().__init__(
            f"the state in {where} belongs to {show(recorded)}, but this run targets {show(current)}; "
            "nothing was changed. If the platform moved to a new address, run "
            "`platforge state retarget STACK_DIR --endpoint URL`; if this is another platform, give the stack "
            "its own state ([state] path or prefix)")


class StateError(PlanError):
    """The stack's state, lock or fingerprint key cannot be used safely: damaged, unreadable, or
    writable by someone the stack does not trust. Nothing was written."""
