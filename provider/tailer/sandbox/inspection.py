"""Test-only routes under `/_sandbox/` (WIRE.md §8): production Tailer has no API to read what
was deployed, so tests read it here. They need a valid ID token like every other route;
platforge's client never calls them. Sealed secrets are shown as fingerprints (the SHA-256 of
the plaintext and of the ciphertext), never in clear.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..._kit.sandbox.body import json_body
from .configurations import find, public
from .errors import BadRequest, NotFound
from .rules import canonical_type, valid_account, valid_environment, valid_id
from .runs import RUN_SELECT, STATUSES, launch, run_of
from .store import store_of

__all__ = ["router"]

router = APIRouter(prefix="/_sandbox", tags=["sandbox only (tests)"])


@router.get("/configurations")
def configurations(request: Request) -> JSONResponse:
    keys = request.app.state.keys
    with store_of(request).read() as db:
        rows = db.all("SELECT * FROM tl_configurations ORDER BY seq")
    return JSONResponse({"configurations": [public(r, keys) for r in rows]})


@router.get("/deploys")
def deploys(request: Request) -> JSONResponse:
    with store_of(request).read() as db:
        rows = db.all("SELECT payload FROM tl_deploys ORDER BY seq")
    return JSONResponse({"deploys": [json.loads(r["payload"]) for r in rows]})


@router.post("/runs", status_code=201)
async def seed_run(request: Request) -> JSONResponse:
    """A run of a deployed configuration, in the given status (default RUNNING), for tests of
    the alive probe; any type may have one here (T1 launches only TTT and TTS)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    account = valid_account(body.get("account"))
    environment = valid_environment(body.get("environment"))
    kind = canonical_type(body.get("configuration_type"))
    configuration_id = valid_id(body.get("configuration_id"))
    status = body.get("status", "RUNNING")
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    with store_of(request).tx() as db:
        row = find(db, account, environment, kind, configuration_id)
        if row is None:
            raise NotFound(f"Configuration {configuration_id} not found")
        # A seeded run keeps its status: it is not advanced (run_seconds does not apply).
        run_id = launch(db, row, execution_date=None, run_seconds=0.0, status=status)
        db.execute("UPDATE tl_runs SET finish_at = NULL WHERE run_id = ?", (run_id,))
        run = run_of(db.one(f"{RUN_SELECT} WHERE r.run_id = ?", (run_id,)))
    return JSONResponse(run, status_code=201)
