"""The job tables and the version rows in them: reading, resolving `job_name`, saving, removing.

Every `job save` appends an immutable version of `(name, environment)`; `job modify` is the only
in-place edit, and `rm` only marks versions removed, so that `restore` can undo it. One row per
version holds the normalised definition as JSON; a workflow's tasks live inside it, and so does
the record of the version's simulated build (`build`), which keeps the table as it was. Each
version's ACL lives in the shared ACL tables under `resource(env, name, version)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from .. import cron
from ..acl import PERMISSIONS, delete_acl, require, write_acl
from ..auth import Principal
from ..errors import BadRequest, Conflict, NotFound
from ..store import Db
from .build import BUILD_KEY, new_build
from .definition import check_acl, check_run_as, job_id, normalize_name, parse_spec
from .models import SaveBody
from .values import now_us

DDL = """
CREATE TABLE IF NOT EXISTS job_versions (
    environment  TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    id           TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    removed      INTEGER NOT NULL DEFAULT 0,
    create_time  INTEGER NOT NULL,
    definition   TEXT    NOT NULL,
    PRIMARY KEY (environment, name, version)
);
-- `job_name` given as an id (`resolve`), within its environment and with the name it resolves
-- to: two equality columns, so SQLite picks it over the primary key's `environment` alone, and
-- the first name is its first entry. It replaces an index on `id` alone that SQLite passed over.
DROP INDEX IF EXISTS job_versions_by_id;
CREATE INDEX IF NOT EXISTS job_versions_by_env_id ON job_versions(environment, id, name);
-- `job ls` order (name, then environment): a page is read in order and stops at its end.
CREATE INDEX IF NOT EXISTS job_versions_by_name ON job_versions(name, environment, version);
-- `job_name` given as a display name (`resolve`).
CREATE INDEX IF NOT EXISTS job_versions_by_display ON job_versions(environment, display_name, name);
CREATE TABLE IF NOT EXISTS job_runs (
    pk                      INTEGER PRIMARY KEY,
    run_id                  INTEGER NOT NULL,
    job_name                TEXT    NOT NULL,
    job_id                  TEXT    NOT NULL,
    parent_name             TEXT    NOT NULL,
    child_number            INTEGER,
    environment             TEXT    NOT NULL,
    job_version             INTEGER NOT NULL,
    type                    TEXT    NOT NULL,
    state                   TEXT    NOT NULL,
    submit_time             INTEGER NOT NULL,
    start_provisioning_time INTEGER,
    start_time              INTEGER,
    end_time                INTEGER,
    scheduled_time          INTEGER,
    original_run_id         INTEGER NOT NULL DEFAULT -1,
    partial_rerun           INTEGER NOT NULL DEFAULT 0,
    run_date                TEXT
);
CREATE INDEX IF NOT EXISTS job_runs_by_run ON job_runs(run_id);
CREATE INDEX IF NOT EXISTS job_runs_by_job ON job_runs(environment, parent_name)
"""

_CHILD = re.compile(r"^(.+)-(\d+)$")


def resource(env: str, name: str, version: int) -> str:
    return f"job/{env}/{name}/{version}"


@dataclass(frozen=True)
class Target:
    """A resolved `job_name`: a top-level job, or task `child` of a workflow."""

    name: str
    child: int | None = None


def version_rows(db: Db, env: str, name: str) -> list[sqlite3.Row]:
    return db.all(
        "SELECT * FROM job_versions WHERE environment = ? AND name = ? ORDER BY version", (env, name)
    )


def current_version(rows: list[sqlite3.Row]) -> sqlite3.Row | None:
    """The highest version that has not been removed (the skills doc's "current")."""
    live = [r for r in rows if not r["removed"]]
    return live[-1] if live else None


def pick_version(rows: list[sqlite3.Row], version: int | None, what: str) -> sqlite3.Row:
    """The version to act on: the given one (any state) or the current one."""
    if version is None:
        row = current_version(rows)
        if row is None:
            raise NotFound(f"Job {what} has no version that is not removed")
        return row
    for row in rows:
        if row["version"] == version:
            return row
    raise NotFound(f"Job {what} has no version {version}")


def load_definition(row: sqlite3.Row) -> dict[str, Any]:
    return json.loads(row["definition"])


def _exists(db: Db, env: str, name: str) -> bool:
    return db.scalar("SELECT 1 FROM job_versions WHERE environment = ? AND name = ? LIMIT 1", (env, name)) is not None


def resolve(db: Db, job_name: str, env: str) -> list[Target]:
    """`job_name` is an internal name, an id, a child name `{name}-{n}`, a display name, or a
    name before normalisation - tried in that order (contract §2.6).

    Each way is an index search (the primary key, `job_versions_by_env_id`,
    `job_versions_by_display`), so resolving costs the same however many jobs there are, except
    a task's id: it is derived (`job_id` of `{name}-{n}`), not stored, so a uuid that is no job's
    id is looked for among every workflow's tasks."""
    text = job_name.strip()
    if not text:
        raise BadRequest("Invalid job_name: must not be empty")
    if _exists(db, env, text):
        return [Target(text)]
    try:
        wanted = str(uuid.UUID(text))
    except ValueError:
        wanted = None
    if wanted is not None:
        # The first match in (name, version) order: every version of a job has the job's id.
        name = db.scalar("SELECT MIN(name) FROM job_versions WHERE environment = ? AND id = ?", (env, wanted))
        if name is not None:
            return [Target(name)]
        for row in db.all(
            "SELECT name, definition FROM job_versions WHERE environment = ? AND type = 'batch' ORDER BY name, version",
            (env,),
        ):
            for task in load_definition(row)["tasks"]:
                if job_id(f"{row['name']}-{task['child_number']}", env) == wanted:
                    return [Target(row["name"], task["child_number"])]
    match = _CHILD.match(text)
    if match and _exists(db, env, match.group(1)):
        parent, number = match.group(1), int(match.group(2))
        for row in version_rows(db, env, parent):
            if row["type"] == "batch" and any(t["child_number"] == number for t in load_definition(row)["tasks"]):
                return [Target(parent, number)]
    # A job answers to the display name of its latest version: the current one, else the last.
    candidates = db.all(
        "SELECT DISTINCT name FROM job_versions WHERE environment = ? AND display_name = ? ORDER BY name", (env, text)
    )
    by_display = []
    for candidate in candidates:
        rows = version_rows(db, env, candidate["name"])
        if (current_version(rows) or rows[-1])["display_name"] == text:
            by_display.append(Target(candidate["name"]))
    if by_display:
        return by_display
    normalised = normalize_name(text)
    return [Target(normalised)] if _exists(db, env, normalised) else []


def resolve_one(db: Db, job_name: str, env: str) -> Target:
    targets = resolve(db, job_name, env)
    if not targets:
        raise NotFound(f"Job {job_name!r} not found in {env}")
    if len(targets) > 1:
        raise Conflict(
            f"Job name {job_name!r} is not unique in {env}: it matches "
            f"{', '.join(t.name for t in targets)}; use the name or the id"
        )
    return targets[0]


def save_version(db: Db, who: Principal, body: SaveBody, build_seconds: float = 0.0) -> list[sqlite3.Row]:
    """Append version N+1 (1 for a new job). Its image is `building` for `build_seconds`
    (see `build`): the record of when the build ends, and whether it fails, goes into the
    definition."""
    options = {h: getattr(body, h) for h in cron.HELPERS}
    options["timezone"] = body.timezone
    spec = parse_spec(body.data, options)
    definition = spec.definition
    definition["run_as"] = check_run_as(db, who, definition["run_as"] or who.name)
    acl = check_acl(db, spec.acl)
    bundle = _bundle(body)
    if bundle is not None:
        definition["bundle"] = bundle
    env, name = spec.environment, spec.name
    rows = version_rows(db, env, name)
    if rows:
        anchor = current_version(rows) or rows[-1]
        require(db, resource(env, name, anchor["version"]), who, "write", f"job {name} in {env}")
        if anchor["type"] != spec.type:
            if current_version(rows) is not None:
                raise Conflict(
                    f"Job {name} in {env} is a {anchor['type']}, not a {spec.type}: remove it "
                    "(all versions) before saving a job of another type under this name"
                )
            _purge(db, env, name, rows)
            rows = []
    version = rows[-1]["version"] + 1 if rows else 1
    image_id = int(db.get_meta("job_image_seq") or 0) + 1
    db.set_meta("job_image_seq", str(image_id))
    definition["image_id"] = image_id
    created = now_us()
    definition[BUILD_KEY] = new_build(definition["image"], created, build_seconds)
    db.execute(
        "INSERT INTO job_versions(environment, name, version, id, type, display_name, state, removed, "
        "create_time, definition) VALUES (?, ?, ?, ?, ?, ?, 'ready', 0, ?, ?)",
        (env, name, version, job_id(name, env), spec.type, definition["display_name"], created,
         json.dumps(definition)),
    )
    write_acl(db, resource(env, name, version), acl if acl is not None else
              {perm: {who.user_id} for perm in PERMISSIONS}, replace=True)
    return version_rows(db, env, name)


def _purge(db: Db, env: str, name: str, rows: list[sqlite3.Row]) -> None:
    for row in rows:
        delete_acl(db, resource(env, name, row["version"]))
    db.execute("DELETE FROM job_versions WHERE environment = ? AND name = ?", (env, name))


def _bundle(body: SaveBody) -> dict[str, Any] | None:
    """What the remote CLI uploaded (contract §3.1). The sandbox keeps a fingerprint, not the
    archive: builds are simulated and read no code, and a 100 MB blob per version would only bloat
    the database."""
    if body.repo_archive_b64 is None:
        return None
    try:
        raw = base64.b64decode(body.repo_archive_b64, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Invalid repo_archive_b64: not base64") from None
    return {
        "size": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "repo_dir_name": body.repo_dir_name,
        "repo_module_path": body.repo_module_path,
        "local_hostname": body.local_hostname,
    }


def mark_removed(db: Db, env: str, name: str, numbers: list[int], *, removed: bool) -> None:
    """Soft delete (or undo it) for the given versions; removed versions stay restorable."""
    db.execute(
        f"UPDATE job_versions SET removed = ? WHERE environment = ? AND name = ? "
        f"AND version IN ({','.join('?' * len(numbers))})",
        (int(removed), env, name, *numbers),
    )


def versions_text(numbers: list[int]) -> str:
    return f"version{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"
