"""`dataset_job_versions`: the one dataset route the sandbox serves (contract §3.4 #2, §4; see
DECISIONS.md).

`datachain job logs` (and `job run` without `--no-wait`) asks, once a job is finished, which
dataset versions the job created, and fails without an answer. The sandbox runs no job, so no
job ever creates a version: a job of the team answers `{"dataset_versions": []}`, any other id
a 404. The other dataset routes (`datachain/datasets*`, `datachain/ls`) stay out of scope.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Principal, current, team_of
from .errors import BadRequest, NotFound
from .store import store_of
from .wire import query_value, reply

__all__ = ["router"]

router = APIRouter(tags=["datasets"])


@router.get("/datachain/datasets/dataset_job_versions")
def dataset_job_versions(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    job_id = query_value(request, "job_id")
    if not job_id:
        raise BadRequest("Missing job_id")
    with store_of(request).read() as db:
        found = db.scalar("SELECT 1 FROM st_jobs WHERE id = ? AND team_id = ?", (job_id, team.team_id))
    if found is None:
        raise NotFound(f"Job {job_id[:100]} not found")
    return reply({"dataset_versions": []})
