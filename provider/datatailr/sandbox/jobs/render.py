"""What `job get`, `job ls` and `job runs` return: the dicts the SDK's `Job.from_dict` and run
records consume, built from version and run rows. A workflow's tasks, stored inside its
definition, are presented here as child jobs `{name}-{n}` with ids of their own.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..acl import read_acl, read_others
from ..errors import NotFound
from ..store import Db
from .build import build_fields, version_state
from .definition import job_id
from .values import now_us
from .versions import load_definition, resource

DEFAULT_BATCH = 100
JOB_FILTER_FIELDS = (
    "name", "display_name", "id", "type", "state", "environment", "run_as", "create_time",
    "cpu", "memory", "version",
)
RUN_FILTER_FIELDS = (
    "name", "state", "type", "environment", "job_id", "run_id", "submit_time", "start_time",
    "scheduled_time", "end_time", "job_name", "job_version",
)


def _child_dict(row: sqlite3.Row, parent: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """A task as a job: the workflow version's state, ACL and image, the task's own resources."""
    name = f"{row['name']}-{task['child_number']}"
    out = {
        "id": job_id(name, row["environment"]),
        "name": name,
        "display_name": task["display_name"],
        "environment": row["environment"],
        "type": row["type"],
        "version": row["version"],
        "state": parent["state"],
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


def job_dict(db: Db, row: sqlite3.Row, *, show_children: bool = False, now: int | None = None) -> dict[str, Any]:
    """The version as `Job.from_dict` reads it; its state and image build fields as of `now`
    (default: the clock), since a build's progress is derived when read (`build`)."""
    d = load_definition(row)
    now = now_us() if now is None else now
    where = resource(row["environment"], row["name"], row["version"])
    image = dict(d["image"])
    image.update(build_fields(row, d, now))
    image["image_id"] = d["image_id"]
    image["image_name"] = f"{row['name']}:{row['version']}"
    out: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "display_name": row["display_name"],
        "environment": row["environment"],
        "type": row["type"],
        "version": row["version"],
        "state": version_state(row, d, now),
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


def render(db: Db, row: sqlite3.Row, child: int | None, show_children: bool) -> dict[str, Any]:
    if child is None:
        return job_dict(db, row, show_children=show_children)
    parent = job_dict(db, row)
    for task in load_definition(row)["tasks"]:
        if task["child_number"] == child:
            return _child_dict(row, parent, task)
    raise NotFound(f"Version {row['version']} of workflow {row['name']} has no task {child}")


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
