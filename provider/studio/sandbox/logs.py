"""The log stream (contract §2 W1): `GET /api/logs/follow/?job_id=&team_name=` as a WebSocket.

The sandbox has no logs to stream (it runs nothing), so it refuses the upgrade with an HTTP
answer, checked like any other request: 401 without a valid token, 403 for a team the token may
not see, and otherwise 404. The client treats 401 and 403 as errors and any other refusal as
"no stream", and then polls `GET /api/datachain/jobs/?job_id=` until the job is finished
(§3.4 #2), which is what the sandbox serves. Without this route the server's own refusal of an
unknown WebSocket path is a 403, which the client reports as a bad token.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from .auth import current, team_of
from .errors import ENVELOPE, ApiError
from .store import store_of

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


@router.websocket("/api/logs/follow/")
async def follow(websocket: WebSocket) -> None:
    status, message = 404, "The sandbox does not stream logs: poll GET /api/datachain/jobs/?job_id=<id> for the status"
    try:
        principal = current(websocket)  # type: ignore[arg-type]  # a WebSocket carries headers and the app as a Request does
        team = team_of(websocket, principal)  # type: ignore[arg-type]
        job_id = websocket.query_params.get("job_id") or ""
        with store_of(websocket).read() as db:
            if db.scalar("SELECT 1 FROM st_jobs WHERE id = ? AND team_id = ?", (job_id, team.team_id)) is None:
                message = f"Job {job_id[:100]} not found"
    except ApiError as exc:
        status, message = exc.status, exc.message
    await websocket.send_denial_response(JSONResponse(ENVELOPE.body(status, message), status_code=status))
