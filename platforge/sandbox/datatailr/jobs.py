"""Jobs: workflows (`batch`), services, apps and Excel add-ins (contract §2.6, §2.7, §3, §4).

Every `job save` appends an immutable version of `(name, environment)`; `job modify` is the only
in-place edit. The sandbox builds and executes nothing: a saved version is `ready` at once,
services and apps stay `running` until stopped, one-off workflow runs complete immediately, and a
scheduled workflow is merely `scheduled`. Everything the contract leaves open is decided in
DECISIONS.md ("Jobs"), and each decision is pinned by a test.

Storage: one row per version in `job_versions` holding the normalised definition as JSON; a
workflow's tasks live inside it and are presented as child jobs `{name}-{n}` on read. Each
version's ACL lives in the shared ACL tables under `job/{env}/{name}/{version}`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import sqlite3
import time
import unicodedata
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from . import cron
from .acl import (
    PERMISSIONS,
    allowed,
    delete_acl,
    read_acl,
    read_others,
    require,
    resolve_acl,
    write_acl,
)
from .auth import Principal, current_principal
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .fields import Paging, Text, unquote
from .listing import apply_listing
from .store import Db
from .wire import WireModel, environment, ok, sdk_list

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
CREATE INDEX IF NOT EXISTS job_versions_by_id ON job_versions(id);
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

JOB_NAMESPACE = uuid.UUID("A3FB3D5A-1AD4-4341-AA66-BAC8A26ECBAD")
TYPES = ("batch", "service", "app", "excel", "workstation")
NEXT_ENVIRONMENT = {"dev": "pre", "pre": "prod"}
ACTIVE_RUN_STATES = ("pending", "starting", "running")
ACTIVE_JOB_STATES = ("pending", "starting", "running", "scheduled")
DEFAULT_BATCH = 100
MAX_INT = 2**62  # SQLite integers are 64-bit; larger numbers would fail at the INSERT
# Attributes of the SDK's `Image`; anything else in `image` makes `Image.from_dict` raise.
IMAGE_KEYS = {
    "python_version", "python_requirements", "build_script_pre", "build_script_post",
    "build_secret_keys", "branch_name", "commit_hash", "path_to_repo", "path_to_module",
    "build_stdout", "build_stderr", "name", "last_build_succeeded", "bundle_name", "registry",
    "run_after_build", "tag", "id",
}
DEFINITION_KEYS = {
    "environment", "image", "type", "display_name", "name", "run_as", "memory", "num_cpus",
    "app_section", "vram", "acl", "entrypoint", "env", "budget_id", "jobs", "schedule",
    "fail_after", "expire_after", "timezone",
}
# Keys that `job get` adds; ignored on save so that a read-back dict can be saved again.
READ_ONLY_KEYS = {
    "id", "version", "state", "create_time", "children_full", "cpu", "deleted", "acl_others",
    "schedule_args",
}
JOB_FILTER_FIELDS = (
    "name", "display_name", "id", "type", "state", "environment", "run_as", "create_time",
    "cpu", "memory", "version",
)
RUN_FILTER_FIELDS = (
    "name", "state", "type", "environment", "job_id", "run_id", "submit_time", "start_time",
    "scheduled_time", "end_time", "job_name", "job_version",
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_CHILD = re.compile(r"^(.+)-(\d+)$")


# --------------------------------------------------------------------------------------------
# Small parsers. Every failure is a BadRequest naming the field, never an exception of our own.


def now_us() -> int:
    return time.time_ns() // 1000


def normalize_name(display_name: str) -> str:
    """The SDK's `normalize_name` (contract §0.5): the job's identity within an environment."""
    lowered = unicodedata.normalize("NFKC", display_name).lower()
    return re.sub(r"[^0-9a-z]+", "-", lowered).strip("-")


def job_id(name: str, env: str) -> str:
    """The id the platform assigns, `uuid5(ns, name + environment)` (`batch.platform_job_id`)."""
    return str(uuid.uuid5(JOB_NAMESPACE, f"{name}{env}"))


def parse_size(value: Any, field: str) -> int:
    """`"256m"`, `"2G"`, `"1g"`, `"512Mi"` or a byte count -> bytes, binary multipliers."""
    if isinstance(value, bool):
        raise BadRequest(f"Invalid {field} {value!r}: expected a size such as '256m' or '2G'")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        number = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    else:
        raise BadRequest(f"Invalid {field} {value!r}: expected a size such as '256m' or '2G'")
    if not 0 < number <= MAX_INT:
        raise BadRequest(f"Invalid {field} {value!r}: must be greater than zero and at most 4 EiB")
    return number


def parse_cpus(value: Any, field: str) -> float | int:
    if isinstance(value, bool) or value is None:
        raise BadRequest(f"Invalid {field} {value!r}: expected a positive number of CPUs")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid {field} {value!r}: expected a positive number of CPUs") from None
    if not (0 < number <= 1024):
        raise BadRequest(f"Invalid {field} {value!r}: must be greater than 0 and at most 1024")
    return int(number) if number.is_integer() else number


def parse_int(value: Any, field: str, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"Invalid {field} {value!r}: expected an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        number = int(value)
    else:
        raise BadRequest(f"Invalid {field} {value!r}: expected an integer")
    if minimum is not None and number < minimum:
        raise BadRequest(f"Invalid {field} {value!r}: must be at least {minimum}")
    if abs(number) > MAX_INT:
        raise BadRequest(f"Invalid {field} {value!r}: too large")
    return number


def parse_version(value: Any) -> int | None:
    """An explicit version, or None for "the latest" (`-1`, the api.json default, means latest)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "latest")):
        return None
    number = parse_int(value, "version")
    if number == -1:
        return None
    if number < 1:
        raise BadRequest(f"Invalid version {value!r}: versions start at 1")
    return number


def _text(value: Any, field: str, *, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"Invalid {field}: expected a string, got {type(value).__name__}")
    if "\x00" in value or not _encodable(value):
        raise BadRequest(f"Invalid {field}: must be valid UTF-8 text without NUL characters")
    if not allow_empty and not value.strip():
        raise BadRequest(f"Invalid {field}: must not be empty")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _entrypoint(value: Any, field: str) -> str:
    text = _text(value, field, allow_empty=False)
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise BadRequest(f"Invalid {field} {text!r}: expected 'module:function'")
    return text


def _env(value: Any, field: str) -> list | dict:
    """The list-of-single-key-dicts form the SDK sends, or a plain dict; kept as sent."""
    scalar = (str, int, float, bool)
    if value is None:
        return []
    if isinstance(value, dict):
        if not all(isinstance(k, str) and k and isinstance(v, scalar) for k, v in value.items()):
            raise BadRequest(f"Invalid {field}: expected string names with scalar values")
        return value
    if isinstance(value, list):
        for item in value:
            if not (isinstance(item, dict) and len(item) == 1):
                raise BadRequest(f"Invalid {field}: expected a list of single-key objects")
            ((k, v),) = item.items()
            if not (isinstance(k, str) and k and isinstance(v, scalar)):
                raise BadRequest(f"Invalid {field}: expected string names with scalar values")
        return value
    raise BadRequest(f"Invalid {field}: expected a list or an object")


def _duration(value: Any, field: str) -> int | None:
    if value is None:
        return None
    return parse_int(value, field, minimum=0)


def _timezone(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    name = _text(value, "timezone").strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"Unknown timezone {name!r}: expected an IANA name such as 'Europe/Berlin'") from None
    return name


def _run_date(value: str | None) -> str | None:
    if value is None or value.strip() in ("", "None"):
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise BadRequest(f"Invalid run-date {value!r}: expected YYYY-MM-DD") from None


# --------------------------------------------------------------------------------------------
# Users, run-as and ACLs.


def _check_run_as(db: Db, who: Principal, run_as: Any) -> str:
    name = _text(run_as, "run_as", allow_empty=False).strip()
    row = db.one("SELECT name, mimic FROM users WHERE name = ?", (name,))
    if row is None:
        raise BadRequest(f"Unknown run_as user {name!r}")
    if name != who.name and not who.is_admin and who.name not in sdk_list(row["mimic"]):
        raise Forbidden(f"Permission denied: {who.name} may not run jobs as {name}")
    return name


def _check_acl(db: Db, value: Any) -> dict[str, set[int]] | None:
    """The JSON ACL form; None (or `{}`, which the SDK reads as "default") means default."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise BadRequest("Invalid acl: expected an object like {\"read\": [1001, -101]}")
    acl: dict[str, set[int]] = {}
    for perm, ids in value.items():
        if perm not in PERMISSIONS:
            raise BadRequest(f"Invalid acl permission {perm!r}: expected one of {', '.join(PERMISSIONS)}")
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise BadRequest(f"Invalid acl[{perm!r}]: expected a list of integer ids")
        for pid in ids:
            if pid > 0 and db.scalar("SELECT 1 FROM users WHERE user_id = ?", (pid,)) is None:
                raise BadRequest(f"Unknown user id {pid} in acl")
            if pid < 0 and db.scalar("SELECT 1 FROM groups WHERE group_id = ?", (-pid,)) is None:
                raise BadRequest(f"Unknown group id {-pid} in acl")
            if pid == 0:
                raise BadRequest("Invalid id 0 in acl: ids are user ids (> 0) or negated group ids")
        acl[perm] = set(ids)
    return acl


def resource(env: str, name: str, version: int) -> str:
    return f"job/{env}/{name}/{version}"


# --------------------------------------------------------------------------------------------
# The job definition sent by `job save` / `job run`, validated and normalised.


@dataclass
class Spec:
    name: str
    environment: str
    type: str
    definition: dict[str, Any]
    acl: dict[str, set[int]] | None


def _image(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("Invalid image: expected an object")
    image = {k: v for k, v in value.items() if k not in ("image_id", "image_name")}
    unknown = sorted(set(image) - IMAGE_KEYS)
    if unknown:
        raise BadRequest(f"Invalid image: unknown keys {', '.join(unknown)}")
    keys = image.get("build_secret_keys")
    if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise BadRequest("Invalid image.build_secret_keys: expected a list of strings")
    for key, item in image.items():
        if key != "build_secret_keys" and item is not None and not isinstance(item, (str, int, float, bool)):
            raise BadRequest(f"Invalid image.{key}: expected a scalar value")
    return image


def _tasks(value: Any, defaults: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise BadRequest("Invalid jobs: a workflow needs a non-empty list of tasks")
    tasks: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        where = f"jobs[{index}]"
        if not isinstance(item, dict):
            raise BadRequest(f"Invalid {where}: expected an object")
        display = _text(item.get("display_name", item.get("name")), f"{where}.display_name", allow_empty=False)
        number = parse_int(item.get("child_number", index), f"{where}.child_number", minimum=0)
        depends = item.get("depends_on") or []
        if not isinstance(depends, list):
            raise BadRequest(f"Invalid {where}.depends_on: expected a list of child numbers")
        task = {
            "child_number": number,
            "display_name": display,
            "name": _text(item.get("name", display), f"{where}.name", allow_empty=False),
            "entrypoint": _entrypoint(item.get("entrypoint"), f"{where}.entrypoint"),
            "memory": parse_size(item.get("memory", defaults["memory"]), f"{where}.memory"),
            "num_cpus": parse_cpus(item.get("num_cpus", defaults["num_cpus"]), f"{where}.num_cpus"),
            "depends_on": [parse_int(d, f"{where}.depends_on", minimum=0) for d in depends],
            "env": _env(item.get("env"), f"{where}.env"),
        }
        if item.get("vram") is not None:
            task["vram"] = parse_size(item["vram"], f"{where}.vram")
        tasks.append(task)
    numbers = [t["child_number"] for t in tasks]
    if len(set(numbers)) != len(numbers):
        raise BadRequest("Invalid jobs: child_number values must be unique")
    known = set(numbers)
    for task in tasks:
        for dep in task["depends_on"]:
            if dep not in known or dep == task["child_number"]:
                raise BadRequest(
                    f"Invalid jobs: task {task['child_number']} depends on {dep}, "
                    "which is not another task of this workflow"
                )
    _check_acyclic(tasks)
    return sorted(tasks, key=lambda t: t["child_number"])


def _check_acyclic(tasks: list[dict[str, Any]]) -> None:
    remaining = {t["child_number"]: set(t["depends_on"]) for t in tasks}
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps & remaining.keys()]
        if not ready:
            raise BadRequest(f"Invalid jobs: the dependencies of tasks {sorted(remaining)} form a cycle")
        for n in ready:
            del remaining[n]


def parse_spec(data: Any, options: dict[str, Any]) -> Spec:
    """Validate the job JSON of `job save`/`job run` plus the schedule option keys."""
    if not isinstance(data, dict):
        raise BadRequest(
            "Invalid data: expected the job definition as a JSON object "
            "(a job file path the client could not read arrives as a string)"
        )
    unknown = sorted(set(data) - DEFINITION_KEYS - READ_ONLY_KEYS)
    if "per_user_job" in unknown:
        raise BadRequest("per_user_job (instant runs) is not supported by the sandbox")
    if unknown:
        raise BadRequest(f"Invalid data: unknown keys {', '.join(unknown)}")
    env = environment(_text(data.get("environment") or "dev", "environment"))
    if env != "dev":
        raise BadRequest(f"Jobs are saved in dev; use `job promote` to bring a version to {env}")
    kind = _text(data.get("type"), "type").strip().lower()
    kind = "batch" if kind == "workflow" else kind
    if kind not in TYPES:
        raise BadRequest(f"Invalid type {data.get('type')!r}: expected one of {', '.join(TYPES)}")
    display = data.get("display_name", data.get("name"))
    display = _text(display, "display_name", allow_empty=False).strip()
    name = normalize_name(display)
    if not name:
        raise BadRequest(f"Invalid display_name {display!r}: it has no letters or digits")
    if data.get("name") is not None and data["name"] != name:
        raise BadRequest(
            f"Invalid name {data['name']!r}: the name of {display!r} is {name!r} "
            "(the normalised display name)"
        )
    batch = kind == "batch"
    defaults = {"memory": "100m" if batch else "128m", "num_cpus": 1 if batch else 0.25}
    definition: dict[str, Any] = {
        "display_name": display,
        "type": kind,
        "run_as": data.get("run_as"),
        "memory": parse_size(data.get("memory", defaults["memory"]), "memory"),
        "num_cpus": parse_cpus(data.get("num_cpus", defaults["num_cpus"]), "num_cpus"),
        "app_section": _text(data.get("app_section") or "", "app_section"),
        "image": _image(data.get("image")),
        "budget_id": None if data.get("budget_id") is None else parse_int(data["budget_id"], "budget_id", 0),
    }
    if data.get("vram") is not None:
        definition["vram"] = parse_size(data["vram"], "vram")
    helpers = {h: options.get(h) for h in cron.HELPERS if options.get(h) is not None}
    timezone = _timezone(options.get("timezone") if options.get("timezone") is not None else data.get("timezone"))
    if batch:
        definition["tasks"] = _tasks(data.get("jobs"), definition)
        compiled = cron.compile_schedule(helpers)
        raw = data.get("schedule")
        if compiled is not None:
            definition["schedule"] = compiled  # helpers take precedence (DECISIONS.md)
        elif raw is None or (isinstance(raw, str) and raw.strip() in ("", "None")):
            definition["schedule"] = None
        else:
            definition["schedule"] = cron.validate_cron_expression(_text(raw, "schedule"))
        definition["schedule_args"] = {cron.wire_name(h): str(v) for h, v in helpers.items()}
        definition["timezone"] = timezone
        definition["fail_after"] = _duration(data.get("fail_after"), "fail_after")
        definition["expire_after"] = _duration(data.get("expire_after"), "expire_after")
    else:
        if helpers or data.get("schedule") not in (None, ""):
            raise BadRequest(f"Only workflows (type batch) take a schedule, not a {kind}")
        for key in ("jobs", "fail_after", "expire_after"):
            if data.get(key) is not None:
                raise BadRequest(f"Invalid data: {key} applies to workflows only, not a {kind}")
        definition["timezone"] = timezone
        entry = data.get("entrypoint")
        if entry is None and kind != "workstation":
            raise BadRequest(f"Invalid entrypoint: a {kind} needs 'module:function'")
        definition["entrypoint"] = None if entry is None else _entrypoint(entry, "entrypoint")
        definition["env"] = _env(data.get("env"), "env")
    return Spec(name=name, environment=env, type=kind, definition=definition, acl=data.get("acl"))


def _bundle(body: SaveBody) -> dict[str, Any] | None:
    """What the remote CLI uploaded (contract §3.1). The sandbox keeps a fingerprint, not the
    archive: nothing is built, and a 100 MB blob per version would only bloat the database."""
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


# --------------------------------------------------------------------------------------------
# Reading versions and resolving the `job_name` argument.


@dataclass(frozen=True)
class Target:
    """A resolved `job_name`: a top-level job, or task `child` of a workflow."""

    name: str
    child: int | None = None


def _versions(db: Db, env: str, name: str) -> list[sqlite3.Row]:
    return db.all(
        "SELECT * FROM job_versions WHERE environment = ? AND name = ? ORDER BY version", (env, name)
    )


def _current(rows: list[sqlite3.Row]) -> sqlite3.Row | None:
    """The highest version that has not been removed (the skills doc's "current")."""
    live = [r for r in rows if not r["removed"]]
    return live[-1] if live else None


def _pick(rows: list[sqlite3.Row], version: int | None, what: str) -> sqlite3.Row:
    """The version to act on: the given one (any state) or the current one."""
    if version is None:
        row = _current(rows)
        if row is None:
            raise NotFound(f"Job {what} has no version that is not removed")
        return row
    for row in rows:
        if row["version"] == version:
            return row
    raise NotFound(f"Job {what} has no version {version}")


def _definition(row: sqlite3.Row) -> dict[str, Any]:
    return json.loads(row["definition"])


def resolve(db: Db, job_name: str, env: str) -> list[Target]:
    """`job_name` is an internal name, an id, a child name `{name}-{n}`, a display name, or a
    name before normalisation - tried in that order (contract §2.6)."""
    text = job_name.strip()
    if not text:
        raise BadRequest("Invalid job_name: must not be empty")
    rows = db.all(
        "SELECT name, version, id, type, display_name, removed, definition FROM job_versions "
        "WHERE environment = ? ORDER BY name, version",
        (env,),
    )
    names = {r["name"] for r in rows}
    if text in names:
        return [Target(text)]
    try:
        wanted = str(uuid.UUID(text))
    except ValueError:
        wanted = None
    if wanted is not None:
        for row in rows:
            if row["id"] == wanted:
                return [Target(row["name"])]
        for row in rows:
            if row["type"] == "batch":
                for task in _definition(row)["tasks"]:
                    if job_id(f"{row['name']}-{task['child_number']}", env) == wanted:
                        return [Target(row["name"], task["child_number"])]
    match = _CHILD.match(text)
    if match and match.group(1) in names:
        parent, number = match.group(1), int(match.group(2))
        for row in rows:
            if row["name"] == parent and row["type"] == "batch" and any(
                t["child_number"] == number for t in _definition(row)["tasks"]
            ):
                return [Target(parent, number)]
    latest: dict[str, sqlite3.Row] = {}
    for row in rows:  # ordered by version: the last live one wins, else the last one
        if not row["removed"] or row["name"] not in latest or latest[row["name"]]["removed"]:
            latest[row["name"]] = row
    by_display = [Target(n) for n, r in sorted(latest.items()) if r["display_name"] == text]
    if by_display:
        return by_display
    normalised = normalize_name(text)
    return [Target(normalised)] if normalised in names else []


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


# --------------------------------------------------------------------------------------------
# Rendering what `job get` / `job ls` return (the shape `Job.from_dict` consumes).


def _child_dict(row: sqlite3.Row, parent: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    name = f"{row['name']}-{task['child_number']}"
    out = {
        "id": job_id(name, row["environment"]),
        "name": name,
        "display_name": task["display_name"],
        "environment": row["environment"],
        "type": row["type"],
        "version": row["version"],
        "state": row["state"],
        "create_time": row["create_time"],
        "run_as": parent["run_as"],
        "acl": parent["acl"],
        "acl_others": parent["acl_others"],
        "image": parent["image"],
        "child_number": task["child_number"],
        "parent_name": row["name"],
        "depends_on": task["depends_on"],
        "entrypoint": task["entrypoint"],
        "memory": task["memory"],
        "num_cpus": task["num_cpus"],
        "cpu": task["num_cpus"],
        "env": task["env"],
        "deleted": bool(row["removed"]),
    }
    if "vram" in task:
        out["vram"] = task["vram"]
    return out


def job_dict(db: Db, row: sqlite3.Row, *, show_children: bool = False) -> dict[str, Any]:
    d = _definition(row)
    where = resource(row["environment"], row["name"], row["version"])
    image = dict(d["image"])
    image["image_id"] = d["image_id"]
    image["image_name"] = f"{row['name']}:{row['version']}"
    out: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "display_name": row["display_name"],
        "environment": row["environment"],
        "type": row["type"],
        "version": row["version"],
        "state": row["state"],
        "create_time": row["create_time"],
        "run_as": d["run_as"],
        "acl": read_acl(db, where),
        "acl_others": read_others(db, where),
        "image": image,
        "memory": d["memory"],
        "num_cpus": d["num_cpus"],
        "cpu": d["num_cpus"],
        "app_section": d["app_section"],
        "schedule": d.get("schedule"),
        "timezone": d.get("timezone"),
        "deleted": bool(row["removed"]),
    }
    if "vram" in d:
        out["vram"] = d["vram"]
    if d.get("budget_id") is not None:
        out["budget_id"] = d["budget_id"]
    if row["type"] == "batch":
        out["schedule_args"] = d["schedule_args"]
        out["fail_after"] = d["fail_after"]
        out["expire_after"] = d["expire_after"]
        if show_children:
            out["children_full"] = [_child_dict(row, out, t) for t in d["tasks"]]
    else:
        out["entrypoint"] = d["entrypoint"]
        out["env"] = d["env"]
    return out


def _render(db: Db, row: sqlite3.Row, child: int | None, show_children: bool) -> dict[str, Any]:
    if child is None:
        return job_dict(db, row, show_children=show_children)
    parent = job_dict(db, row)
    for task in _definition(row)["tasks"]:
        if task["child_number"] == child:
            return _child_dict(row, parent, task)
    raise NotFound(f"Version {row['version']} of workflow {row['name']} has no task {child}")


# --------------------------------------------------------------------------------------------
# Runs.


def _next_run_id(db: Db) -> int:
    return (db.scalar("SELECT MAX(run_id) FROM job_runs") or 0) + 1


def _record_run(
    db: Db, row: sqlite3.Row, *, state: str, run_date: str | None = None,
    original_run_id: int = -1, partial: bool = False, only: Iterable[int] | None = None,
) -> int:
    """One run record for the job, plus one per task for a workflow (same run id), which is
    what `Workflow.run_details` reads back."""
    run_id = _next_run_id(db)
    now = now_us()
    end = now if state not in ACTIVE_RUN_STATES else None
    records = [(row["name"], row["id"], None)]
    if row["type"] == "batch":
        wanted = None if only is None else set(only)
        for task in _definition(row)["tasks"]:
            n = task["child_number"]
            if wanted is None or n in wanted:
                child = f"{row['name']}-{n}"
                records.append((child, job_id(child, row["environment"]), n))
    for name, jid, child in records:
        db.execute(
            "INSERT INTO job_runs(run_id, job_name, job_id, parent_name, child_number, environment, "
            "job_version, type, state, submit_time, start_provisioning_time, start_time, end_time, "
            "original_run_id, partial_rerun, run_date) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, name, jid, row["name"], child, row["environment"], row["version"], row["type"],
             state, now, now, now, end, original_run_id, int(partial), run_date),
        )
    return run_id


def run_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["run_id"],
        "run_id": row["run_id"],
        "job_name": row["job_name"],
        "name": row["job_name"],
        "job_id": row["job_id"],
        "job_version": row["job_version"],
        "type": row["type"],
        "environment": row["environment"],
        "state": row["state"],
        "submit_time": row["submit_time"],
        "start_provisioning_time": row["start_provisioning_time"],
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "scheduled_time": row["scheduled_time"],
        "tried_to_start_time": 0,
        "original_run_id": row["original_run_id"],
        "partial_rerun": bool(row["partial_rerun"]),
        "cost": 0.0,
        "priority": 0,
        "error_message": "",
        "run_date": row["run_date"],
    }


def _stop_runs(db: Db, env: str, name: str, versions: Iterable[int] | None = None, run_id: int | None = None) -> int:
    """Stop active runs (all, those of `versions`, or one run) and unschedule/stop versions."""
    clauses, params = ["environment = ?", "parent_name = ?"], [env, name]
    if versions is not None:
        versions = list(versions)
        if not versions:
            return 0
        clauses.append(f"job_version IN ({','.join('?' * len(versions))})")
        params += versions
    if run_id is not None:
        clauses.append("run_id = ?")
        params.append(run_id)
    marks = ",".join("?" * len(ACTIVE_RUN_STATES))
    stopped = db.execute(
        f"UPDATE job_runs SET state = 'stopped', end_time = ? WHERE {' AND '.join(clauses)} "
        f"AND state IN ({marks})",
        (now_us(), *params, *ACTIVE_RUN_STATES),
    ).rowcount
    touched = versions
    if run_id is not None:
        touched = [r["job_version"] for r in db.all(
            "SELECT DISTINCT job_version FROM job_runs WHERE run_id = ?", (run_id,))]
    marks = ",".join("?" * len(ACTIVE_JOB_STATES))
    sql = f"UPDATE job_versions SET state = 'stopped' WHERE environment = ? AND name = ? AND state IN ({marks})"
    params2: list[Any] = [env, name, *ACTIVE_JOB_STATES]
    if touched is not None:
        sql += f" AND version IN ({','.join('?' * len(touched))})"
        params2 += list(touched)
    changed = db.execute(sql, params2).rowcount
    return stopped + changed


def _start(db: Db, who: Principal, rows: list[sqlite3.Row], version: int | None, now: bool,
           run_date: str | None) -> dict[str, Any]:
    row = _pick(rows, version, f"{rows[0]['name']} in {rows[0]['environment']}")
    name, env = row["name"], row["environment"]
    if row["removed"]:
        raise Conflict(f"Version {row['version']} of job {name} in {env} is removed; restore it first")
    require(db, resource(env, name, row["version"]), who, "operate", f"job {name} in {env}")
    d = _definition(row)
    current = _current(rows)
    schedule_it = row["type"] == "batch" and d.get("schedule") and not now
    if schedule_it and current is not None and row["version"] != current["version"]:
        raise Conflict(
            f"Only the latest version of {name} can be scheduled; "
            f"start version {row['version']} with now to run it once"
        )
    busy = ("scheduled",) if row["type"] == "batch" else ACTIVE_JOB_STATES
    newer = [r["version"] for r in rows if r["version"] >= row["version"] and r["state"] in busy]
    if (schedule_it or row["type"] != "batch") and newer:
        raise Conflict(f"Job {name} in {env} is already {'scheduled' if schedule_it else 'running'} (version {newer[-1]})")
    older = [r["version"] for r in rows if r["version"] < row["version"]]
    if older and (schedule_it or row["type"] != "batch"):
        _stop_runs(db, env, name, older)  # the skills doc: runs of older versions are stopped first
    if schedule_it:
        db.execute("UPDATE job_versions SET state = 'scheduled' WHERE environment = ? AND name = ? AND version = ?",
                   (env, name, row["version"]))
        return {"running": [], "pending": [], "scheduled": [{"Id": row["id"], "Version": row["version"]}]}
    state = "completed" if row["type"] == "batch" else "running"
    run_id = _record_run(db, row, state=state, run_date=run_date)
    if row["state"] != "scheduled":  # a manual run of a scheduled workflow keeps it scheduled
        db.execute("UPDATE job_versions SET state = ? WHERE environment = ? AND name = ? AND version = ?",
                   (state, env, name, row["version"]))
    return {"running": [{"Id": row["id"], "RunId": run_id}], "pending": []}


# --------------------------------------------------------------------------------------------
# Saving.


def _save(db: Db, who: Principal, body: SaveBody) -> list[sqlite3.Row]:
    options = {h: getattr(body, h) for h in cron.HELPERS}
    options["timezone"] = body.timezone
    spec = parse_spec(body.data, options)
    definition = spec.definition
    definition["run_as"] = _check_run_as(db, who, definition["run_as"] or who.name)
    acl = _check_acl(db, spec.acl)
    bundle = _bundle(body)
    if bundle is not None:
        definition["bundle"] = bundle
    env, name = spec.environment, spec.name
    rows = _versions(db, env, name)
    if rows:
        anchor = _current(rows) or rows[-1]
        require(db, resource(env, name, anchor["version"]), who, "write", f"job {name} in {env}")
        if anchor["type"] != spec.type:
            if _current(rows) is not None:
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
    db.execute(
        "INSERT INTO job_versions(environment, name, version, id, type, display_name, state, removed, "
        "create_time, definition) VALUES (?, ?, ?, ?, ?, ?, 'ready', 0, ?, ?)",
        (env, name, version, job_id(name, env), spec.type, definition["display_name"], now_us(),
         json.dumps(definition)),
    )
    write_acl(db, resource(env, name, version), acl if acl is not None else
              {perm: {who.user_id} for perm in PERMISSIONS}, replace=True)
    return _versions(db, env, name)


def _purge(db: Db, env: str, name: str, rows: list[sqlite3.Row]) -> None:
    for row in rows:
        delete_acl(db, resource(env, name, row["version"]))
    db.execute("DELETE FROM job_versions WHERE environment = ? AND name = ?", (env, name))


# --------------------------------------------------------------------------------------------
# Request models (hyphenated wire keys; numbers may arrive as strings).


Number = Text | int


class SaveBody(WireModel):
    data: Any = None
    repo_archive_b64: str | None = None
    repo_dir_name: Text | None = None
    repo_module_path: Text | None = None
    local_hostname: Text | None = None
    at_minutes: Number | None = Field(None, alias="at-minutes")
    every_minute: Number | None = Field(None, alias="every-minute")
    at_hours: Number | None = Field(None, alias="at-hours")
    every_hour: Number | None = Field(None, alias="every-hour")
    weekdays: Text | None = None
    day_of_month: Number | None = Field(None, alias="day-of-month")
    in_month: Text | None = Field(None, alias="in-month")
    every_month: Number | None = Field(None, alias="every-month")
    timezone: Text | None = None


class JobRef(WireModel):
    job_name: Text
    environment: Text | None = None

    @property
    def name(self) -> str:
        """The SDK wraps a positional containing a space in literal quotes (contract §7.2.2)."""
        return unquote(self.job_name)


class StartBody(JobRef):
    version: Number | None = None
    now: bool = False
    run_date: Text | None = Field(None, alias="run-date")


class StopBody(JobRef):
    by_run_id: bool = Field(False, alias="by-run-id")


class RemoveBody(JobRef):
    version: Number | None = None
    all: bool = False


class PromoteBody(JobRef):
    version: Number
    environment: Text


class ModifyBody(JobRef):
    version: Number | None = None
    child: Number | None = None
    schedule: Text | None = None
    memory: Number | None = None
    num_cpus: Text | int | float | None = Field(None, alias="num-cpus")
    display_name: Text | None = Field(None, alias="display-name")
    app_section: Text | None = Field(None, alias="app-section")
    users: Text | None = None
    groups: Text | None = None
    others: Text | None = None
    run_as: Text | None = Field(None, alias="run-as")


class RerunBody(WireModel):
    run_id: Number = Field(alias="run-id")
    version: Number | None = None
    full: bool = False


class JobQuery(JobRef):
    version: Text | None = None
    show_children: bool = Field(False, alias="show-children")
    build_logs: Text | None = Field(None, alias="build-logs")


class LsQuery(Paging):
    all: bool = False


class CronQuery(WireModel):
    at_minutes: Text | None = Field(None, alias="at-minutes")
    every_minute: Text | None = Field(None, alias="every-minute")
    at_hours: Text | None = Field(None, alias="at-hours")
    every_hour: Text | None = Field(None, alias="every-hour")
    weekdays: Text | None = None
    day_of_month: Text | None = Field(None, alias="day-of-month")
    in_month: Text | None = Field(None, alias="in-month")
    every_month: Text | None = Field(None, alias="every-month")


# --------------------------------------------------------------------------------------------
# Routes.

router = APIRouter(prefix="/job", tags=["jobs"])


def _store(request: Request):
    return request.app.state.store


@router.get("/cron")
def cron_command(q: Annotated[CronQuery, Query()]) -> dict:
    """Compile schedule helpers into `"<6-field cron> (<description>)"`; `""` with no helpers."""
    return ok(cron.cron_reply(q.model_dump()))


@router.post("/save")
def save(body: SaveBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Upsert: a new `(name, environment)` gets version 1, an existing one version N+1."""
    with _store(request).tx() as db:
        rows = _save(db, who, body)
    last = rows[-1]
    return ok({"versions": {last["id"]: last["version"]}})


@router.post("/run")
def run(body: SaveBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Save a new version and start it, in one transaction: a refused start saves nothing."""
    with _store(request).tx() as db:
        rows = _save(db, who, body)
        result = _start(db, who, rows, rows[-1]["version"], False, None)
    return ok(result)


@router.get("/get")
def get(request: Request, q: Annotated[JobQuery, Query()], who: Principal = Depends(current_principal)) -> dict:
    """A list: `[]` when nothing matches, several entries when a display name is ambiguous."""
    env = environment(q.environment)
    wanted = parse_version(q.version)
    if q.build_logs not in (None, "", "stdout", "stderr"):
        raise BadRequest(f"Invalid build-logs {q.build_logs!r}: expected stdout or stderr")
    out = []
    with _store(request).read() as db:
        for target in resolve(db, q.name, env):
            rows = _versions(db, env, target.name)
            if wanted is None and _current(rows) is None:
                continue  # every version removed: hidden, like `job ls` without `all`
            row = _pick(rows, wanted, f"{target.name} in {env}")
            require(db, resource(env, row["name"], row["version"]), who, "read", f"job {row['name']} in {env}")
            out.append(_render(db, row, target.child, q.show_children))
    return ok(out)


@router.get("/ls")
def ls(request: Request, q: Annotated[LsQuery, Query()], who: Principal = Depends(current_principal)) -> dict:
    """The current version of every job the caller may read; removed jobs only with `all`."""
    with _store(request).read() as db:
        groups: dict[tuple[str, str], list[sqlite3.Row]] = {}
        for row in db.all("SELECT * FROM job_versions ORDER BY name, environment, version"):
            groups.setdefault((row["name"], row["environment"]), []).append(row)
        jobs = []
        for rows in groups.values():
            row = _current(rows) or (rows[-1] if q.all else None)
            if row is not None and allowed(db, resource(row["environment"], row["name"], row["version"]), who, "read"):
                jobs.append(job_dict(db, row))
    page, _ = apply_listing(
        jobs, filter=q.filter, sort=q.sort, offset=q.offset, batch_size=q.batch_size,
        default_batch=DEFAULT_BATCH, fields=JOB_FILTER_FIELDS,
    )
    return ok(page)


@router.get("/versions")
def versions(request: Request, q: Annotated[JobRef, Query()], who: Principal = Depends(current_principal)) -> dict:
    """The versions that are not removed, ascending."""
    env = environment(q.environment)
    with _store(request).read() as db:
        target = resolve_one(db, q.name, env)
        rows = _versions(db, env, target.name)
        anchor = _current(rows) or rows[-1]
        require(db, resource(env, target.name, anchor["version"]), who, "read", f"job {target.name} in {env}")
    return ok([r["version"] for r in rows if not r["removed"]])


@router.put("/modify")
def modify(body: ModifyBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Edit one version in place (default: the current one); `users`/`groups`/`others` each
    replace their part of the ACL."""
    env = environment(body.environment)
    changes = {k: v for k, v in body.model_dump(exclude={"job_name", "environment", "version", "child"}).items()
               if v is not None}
    if not changes:
        raise BadRequest("Nothing to modify: give schedule, memory, num-cpus, display-name, "
                         "app-section, users, groups, others or run-as")
    with _store(request).tx() as db:
        target = resolve_one(db, body.name, env)
        rows = _versions(db, env, target.name)
        row = _pick(rows, parse_version(body.version), f"{target.name} in {env}")
        if row["removed"]:
            raise Conflict(f"Version {row['version']} of job {target.name} is removed; restore it first")
        where = resource(env, target.name, row["version"])
        require(db, where, who, "write", f"job {target.name} in {env}")
        child = target.child if body.child is None else parse_int(body.child, "child", 0)
        d = _definition(row)
        if child is not None:
            _modify_task(row, d, child, changes)
        else:
            _modify_job(db, who, row, d, changes, where)
        db.execute(
            "UPDATE job_versions SET definition = ?, display_name = ? WHERE environment = ? AND name = ? AND version = ?",
            (json.dumps(d), d["display_name"], env, target.name, row["version"]),
        )
        if row["state"] == "scheduled" and not d.get("schedule"):
            db.execute("UPDATE job_versions SET state = 'stopped' WHERE environment = ? AND name = ? AND version = ?",
                       (env, target.name, row["version"]))
    return ok(f"Job {target.name} version {row['version']} in {env} modified")


def _modify_task(row: sqlite3.Row, d: dict[str, Any], child: int, changes: dict[str, Any]) -> None:
    if row["type"] != "batch":
        raise BadRequest(f"child applies to workflows only; {row['name']} is a {row['type']}")
    extra = sorted(set(changes) - {"memory", "num_cpus", "display_name"})
    if extra:
        raise BadRequest(f"Only memory, num-cpus and display-name can be changed for a task, not {', '.join(extra)}")
    task = next((t for t in d["tasks"] if t["child_number"] == child), None)
    if task is None:
        raise NotFound(f"Workflow {row['name']} version {row['version']} has no task {child}")
    if "memory" in changes:
        task["memory"] = parse_size(changes["memory"], "memory")
    if "num_cpus" in changes:
        task["num_cpus"] = parse_cpus(changes["num_cpus"], "num-cpus")
    if "display_name" in changes:
        task["display_name"] = _text(changes["display_name"], "display-name", allow_empty=False).strip()


def _modify_job(db: Db, who: Principal, row: sqlite3.Row, d: dict[str, Any], changes: dict[str, Any], where: str) -> None:
    if "schedule" in changes:
        if row["type"] != "batch":
            raise BadRequest(f"Only workflows (type batch) take a schedule, not a {row['type']}")
        raw = changes["schedule"].strip()
        d["schedule"] = None if raw in ("", "None") else cron.validate_cron_expression(raw)
        d["schedule_args"] = {}
    if "memory" in changes:
        d["memory"] = parse_size(changes["memory"], "memory")
    if "num_cpus" in changes:
        d["num_cpus"] = parse_cpus(changes["num_cpus"], "num-cpus")
    if "display_name" in changes:
        d["display_name"] = _text(changes["display_name"], "display-name", allow_empty=False).strip()
    if "app_section" in changes:
        d["app_section"] = changes["app_section"]
    if "run_as" in changes:
        d["run_as"] = _check_run_as(db, who, changes["run_as"])
    if {"users", "groups", "others"} & changes.keys():
        current = {perm: set(ids) for perm, ids in read_acl(db, where).items()}
        acl: dict[str, set[int]] = {}
        for perm, ids in current.items():
            keep = {i for i in ids if (i < 0 if "users" in changes else True) and (i > 0 if "groups" in changes else True)}
            if keep:
                acl[perm] = keep
        for part in (resolve_acl(db, changes.get("users"), None), resolve_acl(db, None, changes.get("groups"))):
            for perm, ids in part.items():
                acl.setdefault(perm, set()).update(ids)
        others = changes.get("others", read_others(db, where))
        write_acl(db, where, acl, replace=True, others=others)


@router.delete("/rm")
def rm(body: RemoveBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Soft delete (undone by `restore`): one version, the current one, or `all`. Stops what it
    removes, which needs `operate` as well as `write`."""
    env = environment(body.environment)
    wanted = parse_version(body.version)
    with _store(request).tx() as db:
        target = resolve_one(db, body.name, env)
        if target.child is not None:
            raise BadRequest("Tasks of a workflow cannot be removed on their own; remove the workflow")
        rows = _versions(db, env, target.name)
        live = [r for r in rows if not r["removed"]]
        if body.all:
            chosen = live
        elif wanted is None:
            chosen = live[-1:]
        else:
            _pick(rows, wanted, f"{target.name} in {env}")
            chosen = [r for r in live if r["version"] == wanted]
        if not chosen:
            raise NotFound(f"Job {target.name} in {env} has no matching version that is not removed")
        for row in chosen:
            where = resource(env, target.name, row["version"])
            require(db, where, who, "write", f"job {target.name} in {env}")
            active = row["state"] in ACTIVE_JOB_STATES or db.scalar(
                f"SELECT 1 FROM job_runs WHERE environment = ? AND parent_name = ? AND job_version = ? "
                f"AND state IN ({','.join('?' * len(ACTIVE_RUN_STATES))})",
                (env, target.name, row["version"], *ACTIVE_RUN_STATES))
            if active:
                require(db, where, who, "operate", f"job {target.name} in {env}")
        numbers = [r["version"] for r in chosen]
        _stop_runs(db, env, target.name, numbers)
        _mark_removed(db, env, target.name, numbers, removed=True)
    return ok(f"Removed {_versions_text(numbers)} of job {target.name} in {env}")


@router.post("/restore")
def restore(body: RemoveBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Undo `rm`: one version, the latest removed one, or `all` removed versions."""
    env = environment(body.environment)
    wanted = parse_version(body.version)
    with _store(request).tx() as db:
        target = resolve_one(db, body.name, env)
        rows = _versions(db, env, target.name)
        removed = [r for r in rows if r["removed"]]
        if body.all:
            chosen = removed
        elif wanted is None:
            chosen = removed[-1:]
        else:
            _pick(rows, wanted, f"{target.name} in {env}")
            chosen = [r for r in removed if r["version"] == wanted]
        if not chosen:
            raise NotFound(f"Job {target.name} in {env} has no matching removed version")
        for row in chosen:
            require(db, resource(env, target.name, row["version"]), who, "write", f"job {target.name} in {env}")
        numbers = [r["version"] for r in chosen]
        _mark_removed(db, env, target.name, numbers, removed=False)
    return ok(f"Restored {_versions_text(numbers)} of job {target.name} in {env}")


def _mark_removed(db, env: str, name: str, numbers: list[int], *, removed: bool) -> None:
    """Soft delete (or undo it) for the given versions; removed versions stay restorable."""
    db.execute(
        f"UPDATE job_versions SET removed = ? WHERE environment = ? AND name = ? "
        f"AND version IN ({','.join('?' * len(numbers))})",
        (int(removed), env, name, *numbers),
    )


def _versions_text(numbers: list[int]) -> str:
    return f"version{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"


@router.post("/promote")
def promote(body: PromoteBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Copy a version from `environment` to the next one, keeping its number. Promoting a version
    that is already there is a no-op, and one that was removed there is restored."""
    source = environment(body.environment)
    if source not in NEXT_ENVIRONMENT:
        raise BadRequest(f"Cannot promote from {source}: it is the last environment")
    dest = NEXT_ENVIRONMENT[source]
    number = parse_version(body.version)
    if number is None:
        raise BadRequest("promote needs an explicit version")
    with _store(request).tx() as db:
        target = resolve_one(db, body.name, source)
        if target.child is not None:
            raise BadRequest("Tasks of a workflow are promoted with their workflow")
        name = target.name
        row = _pick(_versions(db, source, name), number, f"{name} in {source}")
        if row["removed"]:
            raise Conflict(f"Version {number} of job {name} in {source} is removed; restore it first")
        require(db, resource(source, name, number), who, "promote", f"job {name} in {source}")
        existing = _versions(db, dest, name)
        if existing and existing[-1]["type"] != row["type"]:
            raise Conflict(f"Job {name} in {dest} is a {existing[-1]['type']}, not a {row['type']}")
        present = next((r for r in existing if r["version"] == number), None)
        if present is not None and not present["removed"]:
            return ok(f"Version {number} of job {name} is already in {dest}")
        if present is not None:
            db.execute("UPDATE job_versions SET removed = 0 WHERE environment = ? AND name = ? AND version = ?",
                       (dest, name, number))
            return ok(f"Version {number} of job {name} restored in {dest}")
        db.execute(
            "INSERT INTO job_versions(environment, name, version, id, type, display_name, state, removed, "
            "create_time, definition) VALUES (?, ?, ?, ?, ?, ?, 'ready', 0, ?, ?)",
            (dest, name, number, job_id(name, dest), row["type"], row["display_name"], now_us(), row["definition"]),
        )
        src = resource(source, name, number)
        write_acl(db, resource(dest, name, number),
                  {perm: set(ids) for perm, ids in read_acl(db, src).items()},
                  replace=True, others=read_others(db, src))
    return ok(f"Version {number} of job {name} promoted from {source} to {dest}")


@router.post("/start")
def start(body: StartBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Run a version (default: the current one); a workflow with a schedule is only scheduled
    unless `now`."""
    env = environment(body.environment)
    wanted = parse_version(body.version)
    run_date = _run_date(body.run_date)
    with _store(request).tx() as db:
        target = resolve_one(db, body.name, env)
        if target.child is not None:
            raise BadRequest("Tasks of a workflow are started with their workflow")
        rows = _versions(db, env, target.name)
        result = _start(db, who, rows, wanted, body.now, run_date)
    return ok(result)


@router.delete("/stop")
def stop(body: StopBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Stop every run and schedule of the job (or one run with `by-run-id`). Stopping a job
    that is not running succeeds and changes nothing."""
    env = environment(body.environment)
    with _store(request).tx() as db:
        if body.by_run_id:
            run_id = parse_int(body.job_name, "run id", 1)
            run = db.one("SELECT * FROM job_runs WHERE run_id = ? AND child_number IS NULL", (run_id,))
            if run is None:
                raise NotFound(f"Run {run_id} not found")
            name, env = run["parent_name"], run["environment"]
            require(db, resource(env, name, run["job_version"]), who, "operate", f"job {name} in {env}")
            changed = _stop_runs(db, env, name, run_id=run_id)
            return ok(f"Run {run_id} of job {name} {'stopped' if changed else 'was not running'}")
        target = resolve_one(db, body.name, env)
        rows = _versions(db, env, target.name)
        active = [r for r in rows if r["state"] in ACTIVE_JOB_STATES] or [_current(rows) or rows[-1]]
        for row in active:
            require(db, resource(env, target.name, row["version"]), who, "operate", f"job {target.name} in {env}")
        changed = _stop_runs(db, env, target.name)
    return ok(f"Job {target.name} in {env} {'stopped' if changed else 'was not running'}")


@router.post("/rerun")
def rerun(body: RerunBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Run a workflow run again: all tasks with `full`, else only those that did not complete."""
    original = parse_int(body.run_id, "run-id", 1)
    with _store(request).tx() as db:
        runs = db.all("SELECT * FROM job_runs WHERE run_id = ?", (original,))
        mother = next((r for r in runs if r["child_number"] is None), None)
        if mother is None:
            raise NotFound(f"Run {original} not found")
        if mother["type"] != "batch":
            raise BadRequest(f"Only workflow runs can be rerun; run {original} is a {mother['type']}")
        env, name = mother["environment"], mother["parent_name"]
        rows = _versions(db, env, name)
        row = _pick(rows, parse_version(body.version) or mother["job_version"], f"{name} in {env}")
        if row["removed"]:
            raise Conflict(f"Version {row['version']} of job {name} in {env} is removed")
        require(db, resource(env, name, row["version"]), who, "operate", f"job {name} in {env}")
        only = None
        if not body.full:
            only = [r["child_number"] for r in runs if r["child_number"] is not None and r["state"] != "completed"]
        run_id = _record_run(db, row, state="completed", original_run_id=original, partial=not body.full, only=only)
    return ok({"running": [{"Id": row["id"], "RunId": run_id}], "pending": []})


@router.get("/runs")
def runs(request: Request, q: Annotated[Paging, Query()], who: Principal = Depends(current_principal)) -> dict:
    """Run records (a workflow run has one per task too, sharing its run id) of readable jobs."""
    with _store(request).read() as db:
        readable: dict[tuple[str, str, int], bool] = {}
        records = []
        for row in db.all("SELECT * FROM job_runs ORDER BY run_id, child_number IS NOT NULL, child_number"):
            key = (row["environment"], row["parent_name"], row["job_version"])
            if key not in readable:
                readable[key] = allowed(db, resource(*key), who, "read")
            if readable[key]:
                records.append(run_dict(row))
    page, _ = apply_listing(
        records, filter=q.filter, sort=q.sort, offset=q.offset, batch_size=q.batch_size,
        default_batch=DEFAULT_BATCH, fields=RUN_FILTER_FIELDS,
    )
    return ok(page)
