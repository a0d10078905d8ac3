"""Routes that define and read jobs: `cron`, `save`, `run`, `get`, `ls`, `versions`, `modify`.

Handlers stay thin: they parse the request, open one transaction, and leave validation, storage
and state changes to `definition`, `versions` and `runs`, so a refused request changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from .. import cron
from ..acl import allowed, allowed_sql, require
from ..auth import Principal, current_principal
from ..errors import BadRequest, Conflict
from ..listing import Column, apply_listing, sql_listing
from ..store import store_of
from ..wire import environment, ok
from .definition import modify_job, modify_task
from .models import CronQuery, JobQuery, JobRef, LsQuery, ModifyBody, SaveBody
from .render import DEFAULT_BATCH, JOB_FILTER_FIELDS, job_dict, render
from .runs import start_version
from .values import now_us, parse_int, parse_version
from .versions import (
    current_version,
    load_definition,
    pick_version,
    resolve,
    resolve_one,
    resource,
    save_version,
    version_rows,
)

router = APIRouter()


@router.get("/cron")
def cron_command(q: Annotated[CronQuery, Query()]) -> dict:
    """Compile schedule helpers into `"<6-field cron> (<description>)"`; `""` with no helpers."""
    return ok(cron.cron_reply(q.model_dump()))


@router.post("/save")
def save(body: SaveBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Upsert: a new `(name, environment)` gets version 1, an existing one version N+1."""
    with store_of(request).tx() as db:
        rows = save_version(db, who, body, request.app.state.config.build_seconds)
    last = rows[-1]
    return ok({"versions": {last["id"]: last["version"]}})


@router.post("/run")
def run(body: SaveBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Save a new version and start it, in one transaction: a refused start saves nothing, so
    with `build_seconds` > 0 (the version is still building) or a failing build this is a 409."""
    with store_of(request).tx() as db:
        rows = save_version(db, who, body, request.app.state.config.build_seconds)
        result = start_version(db, who, rows, rows[-1]["version"], False, None)
    return ok(result)


@router.get("/get")
def get(request: Request, q: Annotated[JobQuery, Query()], who: Principal = Depends(current_principal)) -> dict:
    """A list: `[]` when nothing matches, several entries when a display name is ambiguous."""
    env = environment(q.environment)
    wanted = parse_version(q.version)
    if q.build_logs not in (None, "", "stdout", "stderr"):
        raise BadRequest(f"Invalid build-logs {q.build_logs!r}: expected stdout or stderr")
    out = []
    with store_of(request).read() as db:
        for target in resolve(db, q.name, env):
            rows = version_rows(db, env, target.name)
            if wanted is None and current_version(rows) is None:
                continue  # every version removed: hidden, like `job ls` without `all`
            row = pick_version(rows, wanted, f"{target.name} in {env}")
            require(db, resource(env, row["name"], row["version"]), who, "read", f"job {row['name']} in {env}")
            out.append(render(db, row, target.child, q.show_children))
    return ok(out)


# `job ls` fields that are `job_versions` columns served unchanged; `state`, `run_as`, `cpu`
# and `memory` come from the definition (and the clock), so a filter or sort on them is Python's.
LS_COLUMNS = {
    "name": Column("v.name"), "display_name": Column("v.display_name"), "id": Column("v.id"),
    "type": Column("v.type"), "environment": Column("v.environment"), "version": Column("v.version", int),
    "create_time": Column("v.create_time", int),
}
# The version `job ls` shows of a job (`current_version`, else with `all` the last one), and its
# ACL resource (`resource()`), as SQL over a `job_versions v` row.
SHOWN_SQL = (
    "v.version = COALESCE("
    "(SELECT MAX(w.version) FROM job_versions w WHERE w.environment = v.environment AND w.name = v.name "
    "AND w.removed = 0), "
    "CASE WHEN ? THEN (SELECT MAX(w.version) FROM job_versions w WHERE w.environment = v.environment "
    "AND w.name = v.name) END)"
)
RESOURCE_SQL = "'job/' || v.environment || '/' || v.name || '/' || v.version"


@router.get("/ls")
def ls(request: Request, q: Annotated[LsQuery, Query()], who: Principal = Depends(current_principal)) -> dict:
    """The current version of every job the caller may read; removed jobs only with `all`;
    workflows with their tasks (`children_full`, as `get` gives them) with `show-children`.

    When the filter and sort name only columns (`LS_COLUMNS`), SQL picks each job's version,
    checks the caller's read permission (`allowed_sql`), filters, sorts and pages, walking
    `job_versions_by_name` in order, and only the page's jobs are rendered; otherwise every
    readable job is rendered and the listing is Python's."""
    now = now_us()
    with store_of(request).read() as db:
        plan = sql_listing(
            filter=q.filter, sort=q.sort, offset=q.offset, batch_size=q.batch_size, default_batch=DEFAULT_BATCH,
            fields=JOB_FILTER_FIELDS, columns=LS_COLUMNS, base=("v.name", "v.environment"),
        )
        if plan is not None:
            readable, readable_params = allowed_sql(RESOURCE_SQL, who, "read")
            rows = db.all(
                f"SELECT v.* FROM job_versions v WHERE {SHOWN_SQL} AND {readable} AND {plan.where} "
                f"{plan.order_by} LIMIT ? OFFSET ?",
                (int(q.all), *readable_params, *plan.params, *plan.window),
            )
            return ok([job_dict(db, row, show_children=q.show_children, now=now) for row in rows])
        groups: dict[tuple[str, str], list[sqlite3.Row]] = {}
        for row in db.all("SELECT * FROM job_versions ORDER BY name, environment, version"):
            groups.setdefault((row["name"], row["environment"]), []).append(row)
        jobs = []
        for rows in groups.values():
            row = current_version(rows) or (rows[-1] if q.all else None)
            if row is not None and allowed(db, resource(row["environment"], row["name"], row["version"]), who, "read"):
                jobs.append(job_dict(db, row, show_children=q.show_children, now=now))
    page, _ = apply_listing(
        jobs, filter=q.filter, sort=q.sort, offset=q.offset, batch_size=q.batch_size,
        default_batch=DEFAULT_BATCH, fields=JOB_FILTER_FIELDS,
    )
    return ok(page)


@router.get("/versions")
def versions(request: Request, q: Annotated[JobRef, Query()], who: Principal = Depends(current_principal)) -> dict:
    """The versions that are not removed, ascending."""
    env = environment(q.environment)
    with store_of(request).read() as db:
        target = resolve_one(db, q.name, env)
        rows = version_rows(db, env, target.name)
        anchor = current_version(rows) or rows[-1]
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
    with store_of(request).tx() as db:
        target = resolve_one(db, body.name, env)
        rows = version_rows(db, env, target.name)
        row = pick_version(rows, parse_version(body.version), f"{target.name} in {env}")
        if row["removed"]:
            raise Conflict(f"Version {row['version']} of job {target.name} is removed; restore it first")
        where = resource(env, target.name, row["version"])
        require(db, where, who, "write", f"job {target.name} in {env}")
        child = target.child if body.child is None else parse_int(body.child, "child", 0)
        d = load_definition(row)
        if child is not None:
            modify_task(row, d, child, changes)
        else:
            modify_job(db, who, row, d, changes, where)
        db.execute(
            "UPDATE job_versions SET definition = ?, display_name = ? WHERE environment = ? AND name = ? AND version = ?",
            (json.dumps(d), d["display_name"], env, target.name, row["version"]),
        )
        if row["state"] == "scheduled" and not d.get("schedule"):
            db.execute("UPDATE job_versions SET state = 'stopped' WHERE environment = ? AND name = ? AND version = ?",
                       (env, target.name, row["version"]))
    return ok(f"Job {target.name} version {row['version']} in {env} modified")
