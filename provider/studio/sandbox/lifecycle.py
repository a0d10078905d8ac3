"""How a job moves, since the sandbox runs nothing (see DECISIONS.md, "Jobs").

A job's status follows the clock from the moment it may start (`start_at`: its creation, or
its `start_after`): `QUEUED` for the first half of `--job-seconds`, `RUNNING` for the second,
then `COMPLETE` with exit code 0. Before `start_after` it is `SCHEDULED`; a job with a
`cron_expression` is a `TASK` (a finished status for the client: Studio runs the task's own
jobs). Cancelling ends a job that has not finished as `CANCELED`; the sandbox's own route can end
one as `COMPLETE` or `FAILED` at once. Nothing is written as time passes: the status is computed
whenever a job is read.
"""

from __future__ import annotations

import time
from typing import Any

from .store import doc_of, iso

__all__ = ["FINISHED", "STATUSES", "job_json", "state"]

FINISHED = ("COMPLETE", "FAILED", "CANCELED", "TASK")
STATUSES = ("CREATED", "SCHEDULED", "PROVISIONING", "QUEUED", "INIT", "RUNNING", "COMPLETE", "FAILED", "CANCELING",
            "CANCELED", "CANCELING_SCHEDULED", "TASK", "PENDING")


def state(row: Any, job_seconds: float, now: float | None = None) -> dict[str, Any]:
    """`status`, `started_at` and `finished_at` (epoch seconds or None) of a job row, now."""
    now = time.time() if now is None else now
    start, half = row["start_at"], job_seconds / 2
    if row["end_status"]:
        ended = row["ended"]
        began = start + half if ended >= start + half else None
        return {"status": row["end_status"], "started_at": began, "finished_at": ended}
    if row["cron"]:
        return {"status": "TASK", "started_at": None, "finished_at": None}
    if now < start:
        return {"status": "SCHEDULED", "started_at": None, "finished_at": None}
    if now < start + half:
        return {"status": "QUEUED", "started_at": None, "finished_at": None}
    if now < start + job_seconds:
        return {"status": "RUNNING", "started_at": start + half, "finished_at": None}
    return {"status": "COMPLETE", "started_at": start + half, "finished_at": start + job_seconds}


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else iso(epoch)


def _steps(now_state: dict[str, Any], row: Any) -> list[dict[str, Any]]:
    queued_end = now_state["started_at"] or now_state["finished_at"]
    steps = [{"name": "queued", "label": "Queued", "started_at": iso(row["start_at"]), "finished_at": _when(queued_end)}]
    if now_state["started_at"] is not None:
        steps.append({"name": "running", "label": "Running", "started_at": iso(now_state["started_at"]),
                      "finished_at": _when(now_state["finished_at"])})
    return steps


def job_json(row: Any, *, team: str, base_url: str, job_seconds: float, include_steps: bool = False) -> dict[str, Any]:
    doc = doc_of(row["doc"])
    now_state = state(row, job_seconds)
    status = now_state["status"]
    exit_code = doc.get("exit_code")
    if exit_code is None and status == "COMPLETE":
        exit_code = 0
    return {
        "id": row["id"], "url": f"{base_url}/team/{team}/datasets/jobs/{row['id']}", "status": status,
        "created_at": iso(row["created"]), "created_by": doc["created_by"], "started_at": _when(now_state["started_at"]),
        "finished_at": _when(now_state["finished_at"]), "query": doc["query"], "query_type": doc["query_type"],
        "team": team, "name": doc["name"], "workers": doc["workers"], "python_version": doc["python_version"],
        "requirements": doc["requirements"], "repository": doc["repository"], "environment": doc["environment"],
        "exit_code": exit_code, "error_message": doc.get("error_message") or "", "error_stack": "", "params": {},
        "metrics": {}, "parent_job_id": None, "rerun_from_job_id": row["rerun_from"], "run_group_id": doc["run_group_id"],
        "compute_cluster_id": None if row["cluster_id"] is None else str(row["cluster_id"]),
        "compute_cluster_name": doc.get("compute_cluster_name"), "priority": doc["priority"],
        "files": doc["files"], "start_after": doc["start_after"], "cron_expression": row["cron"],
        "credentials_name": doc["credentials_name"], "reset": doc["reset"],
        "steps": _steps(now_state, row) if include_steps else None,
    }
