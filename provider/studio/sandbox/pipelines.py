"""Pipelines (contract §1.5; routes P1-P9).

`trigger` makes a definition from datasets (the DAG is lineage Studio knows and the sandbox does
not: one pending job run per dataset named, in the order given); with `review: true` (what the
CLI sends) it is `PAUSED` for review, otherwise `RUNNING` (§5 #8). `run` starts a run of a
definition (a new pipeline, `is_definition: false`); `duplicate` copies a definition. Names are
generated, unique in the team, and never change. Nothing progresses by itself: the sandbox
executes no pipeline. There is no delete (the API has none).

A pipeline is named by `pipeline_id` or `name` (the client sends only `name`); with both, the id
wins (§5 #6). `list` takes the query form the client sends: `status` (repeatable, upper case),
`limit` (default 20) and `search` (a substring of the name or of `triggered_from`), newest
first (§5 #7).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Principal, Team, current, team_of
from .errors import BadRequest, NotFound
from .names import pipeline_name
from .store import Db, doc_of, iso_now, new_uuid, next_seq, store_of, text_of
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
)

__all__ = ["find_pipeline", "pipeline_json", "router", "set_status"]

router = APIRouter(tags=["pipelines"])
BASE = "/datachain/pipeline"
STATUSES = ("PENDING", "RUNNING", "PAUSED", "COMPLETE", "FAILED", "CANCELED")


def pipeline_json(db: Db, row: Any) -> dict[str, Any]:
    doc = doc_of(row["doc"])
    schedule = db.scalar("SELECT schedule_name FROM st_schedules WHERE pipeline_id = ? ORDER BY seq DESC LIMIT 1",
                         (row["id"],))
    runs = doc["job_runs"]
    return {
        "pipeline_id": row["id"], "status": row["status"], "job_runs": runs,
        "completed": sum(1 for r in runs if r["status"] == "COMPLETE"), "total": len(runs),
        "error_message": None, "error_stack": None, "triggered_from": doc["triggered_from"], "name": row["name"],
        "created_at": row["created_at"], "updated_at": row["updated_at"], "is_definition": bool(row["is_definition"]),
        "schedule_name": schedule, "python_version": doc["python_version"], "requirements": doc["requirements"],
        "repository": doc["repository"], "workers": doc["workers"], "priority": doc["priority"],
        "environment_variables": doc["environment_variables"], "created_via": doc["created_via"],
    }


def _wrapped(db: Db, pipeline_id: str) -> Any:
    row = db.one("SELECT * FROM st_pipelines WHERE id = ?", (pipeline_id,))
    return reply({"ok": True, "pipeline": pipeline_json(db, row)})


def find_pipeline(db: Db, team: Team, pipeline_id: Any, name: Any, what: str = "pipeline") -> Any:
    if pipeline_id is not None:
        row = db.one("SELECT * FROM st_pipelines WHERE id = ? AND team_id = ?", (pipeline_id, team.team_id))
    elif name is not None:
        row = db.one("SELECT * FROM st_pipelines WHERE name = ? AND team_id = ?", (name, team.team_id))
    else:
        raise BadRequest(f"Invalid {what}: give pipeline_id or name")
    if row is None:
        raise NotFound(f"Pipeline {str(pipeline_id or name)[:100]} not found")
    return row


def _named(db: Db, team: Team, body: dict[str, Any], name_key: str = "name") -> Any:
    pipeline_id = str_field(body, "pipeline_id", "pipeline", max_len=100)
    name = str_field(body, name_key, "pipeline", max_len=256)
    return find_pipeline(db, team, pipeline_id, name)


def set_status(db: Db, row: Any, status: str) -> None:
    db.execute("UPDATE st_pipelines SET status = ?, updated_at = ? WHERE id = ?", (status, iso_now(), row["id"]))


def _fresh_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same DAG with new job ids (for a run or a copy of a definition)."""
    ids = {r["job_id"]: new_uuid() for r in runs}
    return [{**r, "job_id": ids[r["job_id"]], "status": "PENDING", "created_job_id": None,
             "parent_job_ids": [ids.get(p, p) for p in r["parent_job_ids"]]} for r in runs]


def _insert(db: Db, team: Team, principal: Principal, doc: dict[str, Any], *, status: str, is_definition: bool,
            definition_id: str | None = None) -> str:
    pipeline_id = new_uuid()
    stamp = iso_now()
    db.execute("INSERT INTO st_pipelines(id, team_id, name, seq, status, is_definition, definition_id, created_by, "
               "created_at, updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (pipeline_id, team.team_id, pipeline_name(db, team.team_id), next_seq(db), status, int(is_definition),
                definition_id, principal.user_id, stamp, stamp, text_of(doc)))
    return pipeline_id


@router.post(BASE + "/trigger")
async def trigger(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "pipeline")
    team = team_of(request, principal, body)
    datasets = str_list_field(body, "datasets", "pipeline", max_items=100, max_len=500)
    if not datasets or any(not d.strip() or any(c in d for c in "\r\n\t") for d in datasets):
        raise BadRequest("Invalid pipeline.datasets: a list of 1 to 100 dataset names is required")
    review = bool_field(body, "review", "pipeline") or False
    runs = [{"job_id": new_uuid(), "status": "PENDING", "parent_job_ids": [], "name": d, "created_job_id": None}
            for d in datasets]
    doc = {"job_runs": runs, "triggered_from": datasets[0], "datasets": datasets, "python_version": None,
           "requirements": "", "repository": None, "workers": 1, "priority": 5, "environment_variables": {},
           "created_via": "manual", "files": [], "credentials_names": []}
    with store_of(request).tx() as db:
        pipeline_id = _insert(db, team, principal, doc, status="PAUSED" if review else "RUNNING", is_definition=True)
        return _wrapped(db, pipeline_id)


@router.post(BASE + "/run")
async def run(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "pipeline run")
    team = team_of(request, principal, body)
    definition_id = str_field(body, "definition_id", "pipeline run", required=True, max_len=100)
    with store_of(request).tx() as db:
        row = find_pipeline(db, team, definition_id, None)
        if not row["is_definition"]:
            raise BadRequest(f"Pipeline {row['name']} is a run, not a definition")
        doc = doc_of(row["doc"])
        doc["job_runs"] = _fresh_runs(doc["job_runs"])
        pipeline_id = _insert(db, team, principal, doc, status="RUNNING", is_definition=False, definition_id=row["id"])
        return _wrapped(db, pipeline_id)


@router.post(BASE + "/settings")
async def settings(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "pipeline settings")
    team = team_of(request, principal, body)
    what = "pipeline settings"
    changes: dict[str, Any] = {
        "python_version": str_field(body, "python_version", what, max_len=32),
        "requirements": str_field(body, "requirements", what, max_len=100_000),
        "repository": str_field(body, "repository", what, max_len=2048),
        "workers": int_field(body, "workers", what, low=1, high=1000),
        "priority": int_field(body, "priority", what, low=0, high=1000),
        "files": str_list_field(body, "files", what, max_len=100),
        "credentials_names": str_list_field(body, "credentials_names", what, max_len=256),
    }
    if body.get("environment") is not None:
        changes["environment_variables"] = environment_dict(body["environment"], f"{what}.environment")
    with store_of(request).tx() as db:
        row = _named(db, team, body, "pipeline_name")
        doc = doc_of(row["doc"])
        doc.update({k: v for k, v in changes.items() if v is not None})
        db.execute("UPDATE st_pipelines SET doc = ?, updated_at = ? WHERE id = ?", (text_of(doc), iso_now(), row["id"]))
        return _wrapped(db, row["id"])


@router.get(BASE + "/status")
def status(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    with store_of(request).read() as db:
        row = find_pipeline(db, team, query_value(request, "pipeline_id"), query_value(request, "name"))
        return reply(pipeline_json(db, row))


async def _change_status(request: Request, principal: Principal, new_status: str) -> Any:
    body = obj(await json_body(request), "pipeline")
    team = team_of(request, principal, body)
    with store_of(request).tx() as db:
        row = _named(db, team, body)
        set_status(db, row, new_status)
        return _wrapped(db, row["id"])


@router.post(BASE + "/pause")
async def pause(request: Request, principal: Principal = Depends(current)) -> Any:
    return await _change_status(request, principal, "PAUSED")


@router.post(BASE + "/resume")
async def resume(request: Request, principal: Principal = Depends(current)) -> Any:
    return await _change_status(request, principal, "RUNNING")


@router.post(BASE + "/duplicate")
async def duplicate(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "pipeline")
    team = team_of(request, principal, body)
    with store_of(request).tx() as db:
        row = _named(db, team, body)
        doc = doc_of(row["doc"])
        doc["job_runs"] = _fresh_runs(doc["job_runs"])
        pipeline_id = _insert(db, team, principal, doc, status="PAUSED", is_definition=True)
        return _wrapped(db, pipeline_id)


@router.post(BASE + "/remove-job")
async def remove_job(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "pipeline")
    team = team_of(request, principal, body)
    job_id = str_field(body, "job_id", "pipeline", required=True, max_len=100)
    with store_of(request).tx() as db:
        row = _named(db, team, body)
        doc = doc_of(row["doc"])
        runs = doc["job_runs"]
        gone = [r for r in runs if job_id in (r["job_id"], r["created_job_id"])]
        if not gone:
            raise NotFound(f"Job {job_id[:100]} is not in pipeline {row['name']}")
        removed = {r["job_id"] for r in gone}
        doc["job_runs"] = [{**r, "parent_job_ids": [p for p in r["parent_job_ids"] if p not in removed]}
                           for r in runs if r["job_id"] not in removed]
        db.execute("UPDATE st_pipelines SET doc = ?, updated_at = ? WHERE id = ?", (text_of(doc), iso_now(), row["id"]))
        return _wrapped(db, row["id"])


@router.get(BASE + "/list")
def list_pipelines(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    wanted = sorted({s.upper() for s in request.query_params.getlist("status") if s})
    if len(wanted) > len(STATUSES):
        raise BadRequest(f"Invalid status: at most {len(STATUSES)} values")
    limit = query_int(request, "limit", high=10_000)
    search = query_value(request, "search") or ""
    sql = "SELECT * FROM st_pipelines WHERE team_id = ?"
    params: list[Any] = [team.team_id]
    if wanted:
        sql += f" AND status IN ({', '.join('?' for _ in wanted)})"
        params += wanted
    if search:
        sql += " AND (instr(lower(name), lower(?)) > 0 OR instr(lower(json_extract(doc, '$.triggered_from')), lower(?)) > 0)"
        params += [search, search]
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(20 if limit is None else limit)
    with store_of(request).read() as db:
        return reply([pipeline_json(db, row) for row in db.all(sql, params)])
