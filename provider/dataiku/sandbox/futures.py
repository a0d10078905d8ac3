"""DSS futures (`/futures/`): long work answered with a job id to poll (contract §2.7).

A job here (a code-env build or package update, a project deletion) does its writes at once, in
the request that starts it, and its future reports the result once `ready_at` has passed: so a
client that polls is exercised for real, the wait is bounded (`--build-seconds`), and nothing is
left half-done if nobody ever polls. Aborting a running future marks it aborted (its writes
stay, as DSS's would for work already done).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from .auth import Principal, current
from .docs import route
from .errors import Forbidden, NotFound
from .store import Db, doc_of, store_of, text_of
from .wire import flag, reply

__all__ = ["router", "start", "state_of"]

#: Finished futures older than this are forgotten when a new one starts.
KEEP_SECONDS = 24 * 3600

router = APIRouter(tags=["futures"])


def start(db: Db, owner: str, label: str, seconds: float, result: Any) -> dict[str, Any]:
    """Record a job whose result is ready in `seconds`; its first state, as DSS answers it."""
    now = time.time()
    db.execute("DELETE FROM dss_futures WHERE ready_at < ?", (now - KEEP_SECONDS,))
    job_id = secrets.token_hex(8)
    db.execute("INSERT INTO dss_futures(job_id, owner, label, created, ready_at, result) VALUES (?, ?, ?, ?, ?, ?)",
               (job_id, owner, label, now, now + seconds, text_of(result)))
    row = db.one("SELECT * FROM dss_futures WHERE job_id = ?", (job_id,))
    return state_of(row, peek=True)


def state_of(row: Any, peek: bool = False) -> dict[str, Any]:
    now = time.time()
    done = now >= row["ready_at"]
    body: dict[str, Any] = {"jobId": row["job_id"], "jobDisplayName": row["label"], "owner": row["owner"],
                            "startTime": int(row["created"] * 1000)}
    if row["aborted"]:
        body.update(alive=False, hasResult=False, aborted=True)
    elif done:
        body.update(alive=False, hasResult=True)
        if not peek:
            body["result"] = doc_of(row["result"])
    else:
        span = max(row["ready_at"] - row["created"], 1e-9)
        body.update(alive=True, hasResult=False,
                    progress={"states": [{"name": row["label"], "done": min(1.0, (now - row["created"]) / span)}]})
    return body


def _future_or_404(db: Db, job_id: str, principal: Principal) -> Any:
    row = db.one("SELECT * FROM dss_futures WHERE job_id = ?", (job_id,))
    if row is None:
        raise NotFound(f"Future {job_id} not found")
    if row["owner"] != principal.identity and not principal.is_admin:
        raise Forbidden(f"Future {job_id} belongs to another user")
    return row


@route(router, "GET", "/futures/")
def list_futures(request: Request, principal: Principal = Depends(current)) -> Any:
    """Running futures: the caller's, or everybody's (`allUsers`, administrators only)."""
    every = flag(request, "allUsers") and principal.is_admin
    with store_of(request).read() as db:
        if every:
            rows = db.all("SELECT * FROM dss_futures WHERE ready_at > ? AND aborted = 0 ORDER BY created, job_id",
                          (time.time(),))
        else:
            rows = db.all("SELECT * FROM dss_futures WHERE owner = ? AND ready_at > ? AND aborted = 0 "
                          "ORDER BY created, job_id", (principal.identity, time.time()))
    return reply([state_of(row, peek=True) for row in rows])


@route(router, "GET", "/futures/{job_id}")
def get_future(job_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    peek = flag(request, "peek")
    with store_of(request).read() as db:
        return reply(state_of(_future_or_404(db, job_id, principal), peek=peek))


@route(router, "DELETE", "/futures/{job_id}")
def abort_future(job_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row = _future_or_404(db, job_id, principal)
        if time.time() < row["ready_at"]:
            db.execute("UPDATE dss_futures SET aborted = 1 WHERE job_id = ?", (job_id,))
    return Response(status_code=204)
