"""Routes that move versions through their life: `rm`, `restore`, `promote`, `start`, `stop`,
`rerun`, and the `runs` listing. Each checks the permission the act needs (`write`, `promote`,
`operate`) on every version it touches before changing any.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from ..acl import allowed, read_acl, read_others, require, write_acl
from ..auth import Principal, current_principal
from ..errors import BadRequest, Conflict, NotFound
from ..fields import Paging
from ..listing import apply_listing
from ..store import store_of
from ..wire import environment, ok
from .build import require_built
from .definition import job_id
from .models import PromoteBody, RemoveBody, RerunBody, StartBody, StopBody
from .render import DEFAULT_BATCH, RUN_FILTER_FIELDS, run_dict
from .runs import ACTIVE_JOB_STATES, ACTIVE_RUN_STATES, record_run, start_version, stop_runs
from .values import now_us, parse_int, parse_run_date, parse_version
from .versions import (
    current_version,
    load_definition,
    mark_removed,
    pick_version,
    resolve_one,
    resource,
    version_rows,
    versions_text,
)

NEXT_ENVIRONMENT = {"dev": "pre", "pre": "prod"}

router = APIRouter()


@router.delete("/rm")
def rm(body: RemoveBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Soft delete (undone by `restore`): one version, the current one, or `all`. Stops what it
    removes, which needs `operate` as well as `write`."""
    env = environment(body.environment)
    wanted = parse_version(body.version)
    with store_of(request).tx() as db:
        target = resolve_one(db, body.name, env)
        if target.child is not None:
            raise BadRequest("Tasks of a workflow cannot be removed on their own; remove the workflow")
        rows = version_rows(db, env, target.name)
        live = [r for r in rows if not r["removed"]]
        if body.all:
            chosen = live
        elif wanted is None:
            chosen = live[-1:]
        else:
            pick_version(rows, wanted, f"{target.name} in {env}")
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
        stop_runs(db, env, target.name, numbers)
        mark_removed(db, env, target.name, numbers, removed=True)
    return ok(f"Removed {versions_text(numbers)} of job {target.name} in {env}")


@router.post("/restore")
def restore(body: RemoveBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Undo `rm`: one version, the latest removed one, or `all` removed versions."""
    env = environment(body.environment)
    wanted = parse_version(body.version)
    with store_of(request).tx() as db:
        target = resolve_one(db, body.name, env)
        rows = version_rows(db, env, target.name)
        removed = [r for r in rows if r["removed"]]
        if body.all:
            chosen = removed
        elif wanted is None:
            chosen = removed[-1:]
        else:
            pick_version(rows, wanted, f"{target.name} in {env}")
            chosen = [r for r in removed if r["version"] == wanted]
        if not chosen:
            raise NotFound(f"Job {target.name} in {env} has no matching removed version")
        for row in chosen:
            require(db, resource(env, target.name, row["version"]), who, "write", f"job {target.name} in {env}")
        numbers = [r["version"] for r in chosen]
        mark_removed(db, env, target.name, numbers, removed=False)
    return ok(f"Restored {versions_text(numbers)} of job {target.name} in {env}")


@router.post("/promote")
def promote(body: PromoteBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Copy a version from `environment` to the next one, keeping its number and its build (the
    copy is `ready`: nothing is built in pre or prod, so only a built version may be promoted).
    Promoting a version that is already there is a no-op, and one that was removed there is
    restored."""
    source = environment(body.environment)
    if source not in NEXT_ENVIRONMENT:
        raise BadRequest(f"Cannot promote from {source}: it is the last environment")
    dest = NEXT_ENVIRONMENT[source]
    number = parse_version(body.version)
    if number is None:
        raise BadRequest("promote needs an explicit version")
    with store_of(request).tx() as db:
        target = resolve_one(db, body.name, source)
        if target.child is not None:
            raise BadRequest("Tasks of a workflow are promoted with their workflow")
        name = target.name
        row = pick_version(version_rows(db, source, name), number, f"{name} in {source}")
        if row["removed"]:
            raise Conflict(f"Version {number} of job {name} in {source} is removed; restore it first")
        require(db, resource(source, name, number), who, "promote", f"job {name} in {source}")
        require_built(row, load_definition(row), f"{name} in {source}")  # the copy is never built
        existing = version_rows(db, dest, name)
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
    run_date = parse_run_date(body.run_date)
    with store_of(request).tx() as db:
        target = resolve_one(db, body.name, env)
        if target.child is not None:
            raise BadRequest("Tasks of a workflow are started with their workflow")
        rows = version_rows(db, env, target.name)
        result = start_version(db, who, rows, wanted, body.now, run_date)
    return ok(result)


@router.delete("/stop")
def stop(body: StopBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Stop every run and schedule of the job (or one run with `by-run-id`). Stopping a job
    that is not running succeeds and changes nothing."""
    env = environment(body.environment)
    with store_of(request).tx() as db:
        if body.by_run_id:
            run_id = parse_int(body.job_name, "run id", 1)
            run = db.one("SELECT * FROM job_runs WHERE run_id = ? AND child_number IS NULL", (run_id,))
            if run is None:
                raise NotFound(f"Run {run_id} not found")
            name, env = run["parent_name"], run["environment"]
            require(db, resource(env, name, run["job_version"]), who, "operate", f"job {name} in {env}")
            changed = stop_runs(db, env, name, run_id=run_id)
            return ok(f"Run {run_id} of job {name} {'stopped' if changed else 'was not running'}")
        target = resolve_one(db, body.name, env)
        rows = version_rows(db, env, target.name)
        active = [r for r in rows if r["state"] in ACTIVE_JOB_STATES] or [current_version(rows) or rows[-1]]
        for row in active:
            require(db, resource(env, target.name, row["version"]), who, "operate", f"job {target.name} in {env}")
        changed = stop_runs(db, env, target.name)
    return ok(f"Job {target.name} in {env} {'stopped' if changed else 'was not running'}")


@router.post("/rerun")
def rerun(body: RerunBody, request: Request, who: Principal = Depends(current_principal)) -> dict:
    """Run a workflow run again: all tasks with `full`, else only those that did not complete."""
    original = parse_int(body.run_id, "run-id", 1)
    with store_of(request).tx() as db:
        runs = db.all("SELECT * FROM job_runs WHERE run_id = ?", (original,))
        mother = next((r for r in runs if r["child_number"] is None), None)
        if mother is None:
            raise NotFound(f"Run {original} not found")
        if mother["type"] != "batch":
            raise BadRequest(f"Only workflow runs can be rerun; run {original} is a {mother['type']}")
        env, name = mother["environment"], mother["parent_name"]
        rows = version_rows(db, env, name)
        row = pick_version(rows, parse_version(body.version) or mother["job_version"], f"{name} in {env}")
        if row["removed"]:
            raise Conflict(f"Version {row['version']} of job {name} in {env} is removed")
        require(db, resource(env, name, row["version"]), who, "operate", f"job {name} in {env}")
        require_built(row, load_definition(row), f"{name} in {env}")
        only = None
        if not body.full:
            only = [r["child_number"] for r in runs if r["child_number"] is not None and r["state"] != "completed"]
        run_id = record_run(db, row, state="completed", original_run_id=original, partial=not body.full, only=only)
    return ok({"running": [{"Id": row["id"], "RunId": run_id}], "pending": []})


@router.get("/runs")
def runs(request: Request, q: Annotated[Paging, Query()], who: Principal = Depends(current_principal)) -> dict:
    """Run records (a workflow run has one per task too, sharing its run id) of readable jobs."""
    with store_of(request).read() as db:
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
