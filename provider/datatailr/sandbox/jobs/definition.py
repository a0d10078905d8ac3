"""The job definition `job save` / `job run` send, validated and normalised; and `job modify`'s
in-place edits of a saved one.

A version stores its definition as JSON exactly as `parse_spec` leaves it, so everything that
reads it back (rendering, runs, modify) can trust its shape. A job's name and id are derived, as
the SDK derives them, from its display name and environment (contract §0.5, §2.6).
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from .. import cron
from ..acl import PERMISSIONS, read_acl, read_others, resolve_acl, write_acl
from ..auth import Principal
from ..errors import BadRequest, Forbidden, NotFound
from ..store import Db
from ..wire import environment, sdk_list
from .values import (
    parse_cpus,
    parse_duration,
    parse_entrypoint,
    parse_env,
    parse_int,
    parse_size,
    parse_text,
    parse_timezone,
)

JOB_NAMESPACE = uuid.UUID("A3FB3D5A-1AD4-4341-AA66-BAC8A26ECBAD")
TYPES = ("batch", "service", "app", "excel", "workstation")
# Attributes of the SDK's `Image`; anything else in `image` makes `Image.from_dict` raise.
IMAGE_KEYS = {
    "python_version", "python_requirements", "build_script_pre", "build_script_post",
    "build_secret_keys", "branch_name", "commit_hash", "path_to_repo", "path_to_module",
    "build_stdout", "build_stderr", "name", "last_build_succeeded", "bundle_name", "registry",
    "run_after_build", "tag", "id",
}
# What a build fills in (`build`); a read-back image carries them, a save ignores them.
BUILD_OUTPUT_KEYS = {"build_stdout", "build_stderr", "last_build_succeeded"}
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


def normalize_name(display_name: str) -> str:
    """The SDK's `normalize_name` (contract §0.5): the job's identity within an environment."""
    lowered = unicodedata.normalize("NFKC", display_name).lower()
    return re.sub(r"[^0-9a-z]+", "-", lowered).strip("-")


def job_id(name: str, env: str) -> str:
    """The id the platform assigns, `uuid5(ns, name + environment)` (`batch.platform_job_id`)."""
    return str(uuid.uuid5(JOB_NAMESPACE, f"{name}{env}"))


def check_run_as(db: Db, who: Principal, run_as: Any) -> str:
    name = parse_text(run_as, "run_as", allow_empty=False).strip()
    row = db.one("SELECT name, mimic FROM users WHERE name = ?", (name,))
    if row is None:
        raise BadRequest(f"Unknown run_as user {name!r}")
    if name != who.name and not who.is_admin and who.name not in sdk_list(row["mimic"]):
        raise Forbidden(f"Permission denied: {who.name} may not run jobs as {name}")
    return name


def check_acl(db: Db, value: Any) -> dict[str, set[int]] | None:
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
    image = {k: v for k, v in value.items() if k not in ("image_id", "image_name") and k not in BUILD_OUTPUT_KEYS}
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
        display = parse_text(item.get("display_name", item.get("name")), f"{where}.display_name", allow_empty=False)
        number = parse_int(item.get("child_number", index), f"{where}.child_number", minimum=0)
        depends = item.get("depends_on") or []
        if not isinstance(depends, list):
            raise BadRequest(f"Invalid {where}.depends_on: expected a list of child numbers")
        task = {
            "child_number": number,
            "display_name": display,
            "name": parse_text(item.get("name", display), f"{where}.name", allow_empty=False),
            "entrypoint": parse_entrypoint(item.get("entrypoint"), f"{where}.entrypoint"),
            "memory": parse_size(item.get("memory", defaults["memory"]), f"{where}.memory"),
            "num_cpus": parse_cpus(item.get("num_cpus", defaults["num_cpus"]), f"{where}.num_cpus"),
            "depends_on": [parse_int(d, f"{where}.depends_on", minimum=0) for d in depends],
            "env": parse_env(item.get("env"), f"{where}.env"),
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
    env = environment(parse_text(data.get("environment") or "dev", "environment"))
    if env != "dev":
        raise BadRequest(f"Jobs are saved in dev; use `job promote` to bring a version to {env}")
    kind = parse_text(data.get("type"), "type").strip().lower()
    kind = "batch" if kind == "workflow" else kind
    if kind not in TYPES:
        raise BadRequest(f"Invalid type {data.get('type')!r}: expected one of {', '.join(TYPES)}")
    display = data.get("display_name", data.get("name"))
    display = parse_text(display, "display_name", allow_empty=False).strip()
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
        "app_section": parse_text(data.get("app_section") or "", "app_section"),
        "image": _image(data.get("image")),
        "budget_id": None if data.get("budget_id") is None else parse_int(data["budget_id"], "budget_id", 0),
    }
    if data.get("vram") is not None:
        definition["vram"] = parse_size(data["vram"], "vram")
    helpers = {h: options.get(h) for h in cron.HELPERS if options.get(h) is not None}
    timezone = parse_timezone(options.get("timezone") if options.get("timezone") is not None else data.get("timezone"))
    if batch:
        definition["tasks"] = _tasks(data.get("jobs"), definition)
        compiled = cron.compile_schedule(helpers)
        raw = data.get("schedule")
        if compiled is not None:
            definition["schedule"] = compiled  # helpers take precedence (DECISIONS.md)
        elif raw is None or (isinstance(raw, str) and raw.strip() in ("", "None")):
            definition["schedule"] = None
        else:
            definition["schedule"] = cron.validate_cron_expression(parse_text(raw, "schedule"))
        definition["schedule_args"] = {cron.wire_name(h): str(v) for h, v in helpers.items()}
        definition["timezone"] = timezone
        definition["fail_after"] = parse_duration(data.get("fail_after"), "fail_after")
        definition["expire_after"] = parse_duration(data.get("expire_after"), "expire_after")
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
        definition["entrypoint"] = None if entry is None else parse_entrypoint(entry, "entrypoint")
        definition["env"] = parse_env(data.get("env"), "env")
    return Spec(name=name, environment=env, type=kind, definition=definition, acl=data.get("acl"))


def modify_task(row: sqlite3.Row, d: dict[str, Any], child: int, changes: dict[str, Any]) -> None:
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
        task["display_name"] = parse_text(changes["display_name"], "display-name", allow_empty=False).strip()


def modify_job(db: Db, who: Principal, row: sqlite3.Row, d: dict[str, Any], changes: dict[str, Any], where: str) -> None:
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
        d["display_name"] = parse_text(changes["display_name"], "display-name", allow_empty=False).strip()
    if "app_section" in changes:
        d["app_section"] = changes["app_section"]
    if "run_as" in changes:
        d["run_as"] = check_run_as(db, who, changes["run_as"])
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
