"""Image builds, simulated: how long a saved version is `building`, whether its build fails, and
its build log.

The sandbox builds nothing, yet a provider must wait after each `job save` until the version is
built and report a failed build with the tail of its log; tests need both to happen. So a build
is a record, not a process: `job save` writes into the version's definition when its build ends
(`create_time + build_seconds`) and whether it fails, and every read derives the state and the
log from that record and the clock. No background thread, nothing to resume after a restart,
changing `build_seconds` later does not touch saved versions, and a database written before
builds were simulated still serves: a version without the record was built, successfully, when
it was saved.

A build fails when the image's `python_requirements` has a line that is exactly `FAIL_HOOK`,
a test hook documented in DECISIONS.md ("Jobs"). The log is deterministic: one line per
requirement, then the outcome.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ..errors import Conflict
from .values import now_us

__all__ = ["BUILD_KEY", "FAIL_HOOK", "Build", "build_fields", "build_of", "new_build", "require_built",
           "version_state"]

FAIL_HOOK = "platforge-sandbox:fail-build"
BUILD_KEY = "build"  # the record's key in a version's definition JSON


@dataclass(frozen=True)
class Build:
    ends: int  # µs since the epoch
    fails: bool

    def status(self, now: int) -> str:
        """`building`, `failed` or `succeeded`."""
        if now < self.ends:
            return "building"
        return "failed" if self.fails else "succeeded"


def requirements(image: dict[str, Any]) -> list[str]:
    """The requirement lines as pip reads them: stripped, without blanks and comments."""
    text = image.get("python_requirements")
    if text is None:
        return []
    lines = (line.strip() for line in str(text).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def new_build(image: dict[str, Any], create_time: int, build_seconds: float) -> dict[str, Any]:
    """The record `job save` stores for a new version."""
    return {"ends": create_time + round(build_seconds * 1_000_000), "fails": FAIL_HOOK in requirements(image)}


def build_of(row: sqlite3.Row, definition: dict[str, Any]) -> Build:
    record = definition.get(BUILD_KEY)
    if not isinstance(record, dict):  # saved before builds were simulated: built at once
        return Build(ends=row["create_time"], fails=False)
    return Build(ends=int(record.get("ends", row["create_time"])), fails=bool(record.get("fails")))


def version_state(row: sqlite3.Row, definition: dict[str, Any], now: int) -> str:
    """The state a version shows: a stored `ready` is `building` until the build ends, then
    `failed` if it failed. Other stored states were reached by a start, which needs a build."""
    if row["state"] != "ready":
        return row["state"]
    status = build_of(row, definition).status(now)
    return "ready" if status == "succeeded" else status


def _log(row: sqlite3.Row, image: dict[str, Any], status: str) -> tuple[str, str]:
    tag = f"{row['name']}:{row['version']}"
    out = [f"Building image {tag} with Python {image.get('python_version') or '3.12'}"]
    if image.get("build_script_pre"):
        out.append("Running build_script_pre")
    err: list[str] = []
    for requirement in requirements(image):
        out.append(f"Collecting {requirement}")
        if requirement == FAIL_HOOK:
            err = [
                f"ERROR: Could not find a version that satisfies the requirement {FAIL_HOOK} (from versions: none)",
                f"ERROR: No matching distribution found for {FAIL_HOOK}",
                f"ERROR: the build of image {tag} failed",
            ]
            break
    if status == "building":
        err = []
    elif status == "succeeded":
        if image.get("build_script_post"):
            out.append("Running build_script_post")
        out.append(f"Successfully built {tag}")
    return "\n".join(out) + "\n", ("\n".join(err) + "\n") if err else ""


def build_fields(row: sqlite3.Row, definition: dict[str, Any], now: int) -> dict[str, Any]:
    """The `Image` attributes a build fills: `build_stdout`, `build_stderr` and
    `last_build_succeeded` (None while building). Logs so far while building: no outcome yet."""
    status = build_of(row, definition).status(now)
    stdout, stderr = _log(row, definition["image"], status)
    succeeded = None if status == "building" else status == "succeeded"
    return {"build_stdout": stdout, "build_stderr": stderr, "last_build_succeeded": succeeded}


def require_built(row: sqlite3.Row, definition: dict[str, Any], what: str) -> None:
    """409 unless the version's build succeeded: `start`, `promote` and `rerun` need an image."""
    now = now_us()
    build = build_of(row, definition)
    status = build.status(now)
    if status == "building":
        left = (build.ends - now) / 1_000_000
        raise Conflict(f"Version {row['version']} of job {what} is still building ({left:.1f} s left); "
                       "wait until its state is ready")
    if status == "failed":
        stderr = build_fields(row, definition, now)["build_stderr"].splitlines()
        reason = next((line for line in stderr if "No matching distribution" in line), stderr[-1] if stderr else "")
        raise Conflict(f"Version {row['version']} of job {what} failed to build: {reason} "
                       "(its build log is in image.build_stderr)")
