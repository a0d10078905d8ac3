"""Jobs (contract §1.6; routes J1-J4), and the sandbox's own route to end one.

`POST /jobs/` records a job and answers it with a fresh UUID each time (§3.4 #1); its status
then follows `lifecycle`. Input `environment` is a `K=V` lines string and comes back as a dict
(§5 #10). `files` must name files uploaded to the same team; `compute_cluster_name` and
`compute_cluster_id` are exclusive and name a cluster of the team (neither: the team's default);
`rerun_from_job_id` must name a job of the team, whose run group the new job joins.

`GET /jobs/` lists the team's jobs newest first, at most `limit` (default 20), optionally only
those with a `status`, or the one job `job_id` (an empty list when the team has no such job).

`POST /api/sandbox/jobs/{job_id}/finish {status: COMPLETE|FAILED, exit_code?, error_message?}`
is the sandbox's own (Studio has no such route): it ends a job at once, for tests of failures.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from . import cron
from .auth import Principal, Team, current, team_of
from .errors import BadRequest, NotFound
from .lifecycle import FINISHED, STATUSES, job_json, state
from .store import Db, doc_of, new_uuid, next_seq, store_of, text_of
from .wire import (
    bool_field,
    environment_dict,
    int_field,
    json_body,
    obj,
    query_int,
    query_value,
    reply,
    str_field,
    str_list_field,
    time_field,
)

__all__ = ["router"]

router = APIRouter(tags=["jobs"])
DEFAULT_LIMIT = 20
MAX_LIMIT = 10_000


def _config(request: Request) -> Any:
    return request.app.state.config


def _json(request: Request, team: Team, row: Any, include_steps: bool = False) -> dict[str, Any]:
    return job_json(row, team=team.name, base_url=str(request.base_url).rstrip("/"),
                    job_seconds=_config(request).job_seconds, include_steps=include_steps)


def _job(db: Db, team: Team, job_id: str) -> Any:
    row = db.one("SELECT * FROM st_jobs WHERE id = ? AND team_id = ?", (job_id, team.team_id))
    if row is None:
        raise NotFound(f"Job {job_id[:100]} not found")
    return row


def _cluster(db: Db, team: Team, body: dict[str, Any]) -> tuple[int, str]:
    name = str_field(body, "compute_cluster_name", "job", max_len=256)
    cluster_id = body.get("compute_cluster_id")
    if isinstance(cluster_id, str) and cluster_id.isascii() and cluster_id.isdigit() and len(cluster_id) < 19:
        cluster_id = int(cluster_id)  # ids are answered as strings (§5 #11); either comes back
    else:
        cluster_id = int_field(body, "compute_cluster_id", "job")
    if name is not None and cluster_id is not None:
        raise BadRequest("Invalid job: compute_cluster_name and compute_cluster_id are mutually exclusive")
    if name is not None:
        row = db.one("SELECT id, name FROM st_clusters WHERE team_id = ? AND name = ?", (team.team_id, name))
    elif cluster_id is not None:
        row = db.one("SELECT id, name FROM st_clusters WHERE team_id = ? AND id = ?", (team.team_id, cluster_id))
    else:
        row = db.one("SELECT id, name FROM st_clusters WHERE team_id = ? ORDER BY is_default DESC, id LIMIT 1",
                     (team.team_id,))
    if row is None:
        raise BadRequest(f"Invalid job: compute cluster {name or cluster_id} not found in team {team.name}")
    return int(row["id"]), row["name"]


def _files(db: Db, team: Team, body: dict[str, Any]) -> list[int]:
    names = body.get("files")
    if names is None:
        return []
    if not isinstance(names, list) or len(names) > 1000:
        raise BadRequest("Invalid job.files: expected a list of uploaded file ids")
    ids: list[int] = []
    for item in names:
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(text, str) or not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise BadRequest("Invalid job.files: expected a list of uploaded file ids")
        if db.scalar("SELECT 1 FROM st_files WHERE id = ? AND team_id = ?", (int(text), team.team_id)) is None:
            raise BadRequest(f"Invalid job.files: file {text} was not uploaded to team {team.name}")
        if int(text) not in ids:
            ids.append(int(text))
    return ids


@router.post("/datachain/jobs/")
async def create_job(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "job")
    team = team_of(request, principal, body)
    what = "job"
    query = str_field(body, "query", what, required=True, max_len=10_000_000)
    query_type = str_field(body, "query_type", what, choices=("PYTHON", "SHELL")) or "PYTHON"
    environment = environment_dict(body.get("environment"), "job.environment")
    workers = int_field(body, "workers", what, low=1, high=1000) or 1
    name = str_field(body, "query_name", what, max_len=256) or "untitled"
    rerun_from = str_field(body, "rerun_from_job_id", what, max_len=100)
    reset = bool_field(body, "reset", what) or False
    python_version = str_field(body, "python_version", what, max_len=32)
    requirements = str_field(body, "requirements", what, max_len=100_000) or ""
    repository = str_field(body, "repository", what, max_len=2048)
    priority = int_field(body, "priority", what, low=0, high=1000)
    start_after = time_field(body, "start_after", what)
    cron_text = str_field(body, "cron_expression", what, max_len=200) or None
    if cron_text is not None:
        cron.parse(cron_text, "job.cron_expression")
    credentials = str_field(body, "credentials_name", what, max_len=256)
    str_list_field(body, "credentials_names", what)  # not in JobInput; refused when malformed, else ignored
    now = time.time()
    with store_of(request).tx() as db:
        cluster_id, cluster_name = _cluster(db, team, body)
        files = _files(db, team, body)
        job_id = new_uuid()
        run_group = job_id
        if rerun_from is not None:
            original = db.one("SELECT doc FROM st_jobs WHERE id = ? AND team_id = ?", (rerun_from, team.team_id))
            if original is None:
                raise BadRequest(f"Invalid job.rerun_from_job_id: job {rerun_from[:100]} not found in team {team.name}")
            run_group = doc_of(original["doc"])["run_group_id"]
        doc = {"query": query, "query_type": query_type, "name": name, "workers": workers, "python_version": python_version,
               "requirements": requirements, "repository": repository, "environment": environment,
               "priority": 5 if priority is None else priority, "credentials_name": credentials, "reset": reset,
               "files": [str(f) for f in files], "start_after": None if start_after is None else start_after.isoformat(),
               "created_by": principal.username, "run_group_id": run_group, "compute_cluster_name": cluster_name}
        start_at = max(now, start_after.timestamp()) if start_after is not None else now
        db.execute("INSERT INTO st_jobs(id, team_id, seq, created_by, cluster_id, rerun_from, created, start_at, cron, doc) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (job_id, team.team_id, next_seq(db), principal.user_id, cluster_id, rerun_from, now, start_at, cron_text,
                    text_of(doc)))
        db.executemany("INSERT INTO st_job_files(job_id, file_id) VALUES (?, ?)", [(job_id, f) for f in files])
        return reply(_json(request, team, _job(db, team, job_id)))


def _flag(request: Request, name: str) -> bool:
    value = query_value(request, name)
    return value is not None and value.lower() in ("true", "1", "yes")


@router.get("/datachain/jobs/")
def list_jobs(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    limit = query_int(request, "limit", high=MAX_LIMIT)
    limit = DEFAULT_LIMIT if limit is None else limit
    wanted = {s.upper() for s in request.query_params.getlist("status") if s}
    unknown = wanted - set(STATUSES)
    if unknown:
        raise BadRequest(f"Invalid status {sorted(unknown)[0][:40]!r}: expected one of {', '.join(STATUSES)}")
    job_id = query_value(request, "job_id")
    steps = _flag(request, "include_steps")
    seconds = _config(request).job_seconds
    jobs: list[dict[str, Any]] = []
    with store_of(request).read() as db:
        if job_id is not None:
            rows = db.all("SELECT * FROM st_jobs WHERE id = ? AND team_id = ?", (job_id, team.team_id))
        else:
            rows = db.execute("SELECT * FROM st_jobs WHERE team_id = ? ORDER BY seq DESC", (team.team_id,))
        for row in rows:
            if len(jobs) >= limit:
                break
            if wanted and state(row, seconds)["status"] not in wanted:
                continue
            jobs.append(_json(request, team, row, steps))
    return reply(jobs)


@router.post("/datachain/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "request")
    team = team_of(request, principal, body)
    with store_of(request).tx() as db:
        row = _job(db, team, job_id)
        status = state(row, _config(request).job_seconds)["status"]
        if status in FINISHED and status != "TASK":
            raise BadRequest(f"Job {job_id} cannot be canceled: it is already {status}")
        db.execute("UPDATE st_jobs SET end_status = 'CANCELED', ended = ? WHERE id = ?", (time.time(), row["id"]))
    return reply({"message": "Successfully canceled"})


@router.get("/datachain/jobs/{job_id}/logs")
def job_logs(job_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    """The seed gives no schema; the sandbox answers the websocket's `logs` frame shape."""
    team = team_of(request, principal)
    with store_of(request).read() as db:
        row = _job(db, team, job_id)
    now = state(row, _config(request).job_seconds)
    lines = [f"Job {row['id']} created\n"]
    if now["started_at"] is not None:
        lines.append("Job is now running\n")
    if now["status"] in FINISHED:
        lines.append(f"Job is now in {now['status']} status\n")
    return reply({"logs": [{"id": i, "message": m} for i, m in enumerate(lines, 1)], "job": {"status": now["status"]}})


@router.post("/sandbox/jobs/{job_id}/finish")
async def finish_job(job_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "request")
    team = team_of(request, principal, body)
    status = str_field(body, "status", "request", choices=("COMPLETE", "FAILED")) or "COMPLETE"
    exit_code = int_field(body, "exit_code", "request", low=-(2**31), high=2**31)
    message = str_field(body, "error_message", "request", max_len=100_000)
    with store_of(request).tx() as db:
        row = _job(db, team, job_id)
        current_status = state(row, _config(request).job_seconds)["status"]
        if current_status in FINISHED and current_status != "TASK":
            raise BadRequest(f"Job {job_id} is already {current_status}")
        doc = doc_of(row["doc"])
        doc["exit_code"] = exit_code if exit_code is not None else (0 if status == "COMPLETE" else 1)
        doc["error_message"] = message or ("" if status == "COMPLETE" else "Failed")
        db.execute("UPDATE st_jobs SET end_status = ?, ended = ?, doc = ? WHERE id = ?",
                   (status, time.time(), text_of(doc), row["id"]))
        return reply(_json(request, team, _job(db, team, job_id)))
