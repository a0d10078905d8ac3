"""Runs and the job states they drive: start, stop, and the run records a start leaves.

The sandbox executes nothing: services and apps stay `running` until stopped, one-off workflow
runs complete at once, and a scheduled workflow is merely `scheduled`. Only a version whose
(simulated) build succeeded can start. A workflow run
records one row for the workflow and one per task, sharing its run id, which is what
`Workflow.run_details` reads back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from ..acl import require
from ..auth import Principal
from ..errors import Conflict
from ..store import Db
from .build import require_built
from .definition import job_id
from .values import now_us
from .versions import current_version, load_definition, pick_version, resource

ACTIVE_RUN_STATES = ("pending", "starting", "running")
ACTIVE_JOB_STATES = ("pending", "starting", "running", "scheduled")


def _next_run_id(db: Db) -> int:
    return (db.scalar("SELECT MAX(run_id) FROM job_runs") or 0) + 1


def record_run(
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
        for task in load_definition(row)["tasks"]:
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


def stop_runs(db: Db, env: str, name: str, versions: Iterable[int] | None = None, run_id: int | None = None) -> int:
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


def start_version(db: Db, who: Principal, rows: list[sqlite3.Row], version: int | None, now: bool,
           run_date: str | None) -> dict[str, Any]:
    row = pick_version(rows, version, f"{rows[0]['name']} in {rows[0]['environment']}")
    name, env = row["name"], row["environment"]
    if row["removed"]:
        raise Conflict(f"Version {row['version']} of job {name} in {env} is removed; restore it first")
    require(db, resource(env, name, row["version"]), who, "operate", f"job {name} in {env}")
    d = load_definition(row)
    require_built(row, d, f"{name} in {env}")
    current = current_version(rows)
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
        stop_runs(db, env, name, older)  # the skills doc: runs of older versions are stopped first
    if schedule_it:
        db.execute("UPDATE job_versions SET state = 'scheduled' WHERE environment = ? AND name = ? AND version = ?",
                   (env, name, row["version"]))
        return {"running": [], "pending": [], "scheduled": [{"Id": row["id"], "Version": row["version"]}]}
    state = "completed" if row["type"] == "batch" else "running"
    run_id = record_run(db, row, state=state, run_date=run_date)
    if row["state"] != "scheduled":  # a manual run of a scheduled workflow keeps it scheduled
        db.execute("UPDATE job_versions SET state = ? WHERE environment = ? AND name = ? AND version = ?",
                   (state, env, name, row["version"]))
    return {"running": [{"Id": row["id"], "RunId": run_id}], "pending": []}
