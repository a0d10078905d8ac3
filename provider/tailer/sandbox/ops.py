"""The Tailer API, ops side (contract §2.2, T1-T7), under `/v1/`: every call a `POST` of a JSON
object naming its `action`; errors `{"code", "data": {}, "message"}` with the HTTP status.

A configuration is named by (account, environment, configuration type, deployed id), the type
by either of its names (`table-to-table` and `gbq-to-gbq` are one type). T1, T2, T5, T6 and T7
need the configuration to exist (404 otherwise); T3 and T4 read runs, and answer `[]` for a
configuration that never ran or does not exist.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..._kit.sandbox.body import json_body
from .configurations import find
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .rules import LAUNCHABLE, canonical_type, valid_account, valid_environment, valid_id
from .runs import RUN_SELECT, STATUSES, advance, launch, run_of
from .store import Db, now, store_of

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Tailer API (T1-T7)"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_RUN_ID = re.compile(r"[0-9]{8}(-[0-9]{6})?-[0-9a-f-]{36}")


async def _action(request: Request, allowed: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    action = body.get("action")
    if action is None:
        raise BadRequest("action is mandatory")
    if action not in allowed:
        raise BadRequest(f"action must be {' or '.join(allowed)}")
    return str(action), body


def _identity(body: dict[str, Any], *, environment: bool = True) -> tuple[str, str | None, str, str]:
    account = valid_account(body.get("account"))
    env = valid_environment(body.get("environment")) if environment or body.get("environment") is not None else None
    kind = canonical_type(body.get("configuration_type"))
    configuration_id = valid_id(body.get("configuration_id"))
    return account, env, kind, configuration_id


def _configuration(db: Db, body: dict[str, Any]) -> Any:
    account, environment, kind, configuration_id = _identity(body)
    assert environment is not None
    row = find(db, account, environment, kind, configuration_id)
    if row is None:
        raise NotFound(f"Configuration {configuration_id} not found")
    return row


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} is mandatory (true or false)")
    return value


def _limit(body: dict[str, Any]) -> int:
    value = body.get("limit", DEFAULT_LIMIT)
    if isinstance(value, str) and value.isdigit() and len(value) < 8:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer between 1 and {MAX_LIMIT}")
    return value


def _date(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise BadRequest(f"{name} must be a date such as 2024-01-31")
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError as exc:
        raise BadRequest(f"{name} must be a date such as 2024-01-31") from exc


def _status(body: dict[str, Any], *, required: bool) -> str | None:
    value = body.get("status")
    if value is None and not required:
        return None
    if value not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    return str(value)


def _run_id(body: dict[str, Any]) -> str:
    value = body.get("run_id")
    if not isinstance(value, str) or not value:
        raise BadRequest("run_id is mandatory")
    if not _RUN_ID.fullmatch(value):
        raise NotFound(f"Run {value[:80]} not found")
    return value


def ok(content: dict[str, Any]) -> JSONResponse:
    return JSONResponse(content)


@router.post("/dag/launch")
async def launch_job(request: Request) -> JSONResponse:  # T1
    _, body = await _action(request, ("launch_job",))
    execution_date = _date(body, "execution_date")
    config = request.app.state.config
    with store_of(request).tx() as db:
        row = _configuration(db, body)
        if row["configuration_type"] not in LAUNCHABLE:
            raise BadRequest("only table-to-table and table-to-storage configurations can be launched")
        if row["archived"]:
            raise Conflict(f"Configuration {row['configuration_id']} is archived")
        if not row["activated"]:
            raise Conflict(f"Configuration {row['configuration_id']} is deactivated")
        run_id = launch(db, row, execution_date=execution_date, run_seconds=config.run_seconds)
    return ok({"run_id": run_id})


def _runs(db: Db, where: list[str], params: list[Any], limit: int) -> list[dict[str, Any]]:
    advance(db)  # first, so that a status filter sees what the answer shows
    clause = " WHERE " + " AND ".join(where) if where else ""
    rows = db.all(f"{RUN_SELECT}{clause} ORDER BY r.seq DESC LIMIT ?", (*params, limit))
    return [run_of(r) for r in rows]


@router.post("/dag/status")
async def dag_status(request: Request) -> JSONResponse:  # T2-T5
    action, body = await _action(request, ("check_run_status", "get_last_status", "get_by_status", "set_run_status"))
    with store_of(request).tx() as db:
        if action == "check_run_status":  # T2
            row = _configuration(db, body)
            run_id = _run_id(body)
            job = body.get("job_id")
            results = _runs(db, ["r.config = ?", "r.run_id = ?"], [row["id"], run_id], 1)
            if not results or (job is not None and job != results[0]["job_id"]):
                raise NotFound(f"Run {run_id} not found")
            return ok({"results": results})
        if action == "get_last_status":  # T3
            account, environment, kind, configuration_id = _identity(body)
            where = ["c.account = ?", "c.environment = ?", "c.configuration_type = ?", "c.configuration_id = ?"]
            params: list[Any] = [account, environment, kind, configuration_id]
        elif action == "get_by_status":  # T4
            account = valid_account(body.get("account"))
            kind = canonical_type(body.get("configuration_type"))
            where, params = ["c.account = ?", "c.configuration_type = ?"], [account, kind]
            if body.get("environment") is not None:
                where.append("c.environment = ?")
                params.append(valid_environment(body.get("environment")))
        else:  # T5; `environment` optional (the docs' example omits it, §5 #6)
            account, environment, kind, configuration_id = _identity(body, environment=False)
            run_id = _run_id(body)
            status = _status(body, required=True)
            where = ["r.run_id = ?", "c.account = ?", "c.configuration_type = ?", "c.configuration_id = ?"]
            params = [run_id, account, kind, configuration_id]
            if environment is not None:
                where.append("c.environment = ?")
                params.append(environment)
            found = db.one(f"{RUN_SELECT} WHERE {' AND '.join(where)}", params)
            if found is None:
                raise NotFound(f"Run {run_id} not found")
            db.execute("UPDATE tl_runs SET status = ?, finish_at = NULL, updated = ? WHERE run_id = ?",
                       (status, now(), run_id))
            return ok({"results": _runs(db, ["r.run_id = ?"], [run_id], 1), "message": "ok"})
        status = _status(body, required=False)
        if status is not None:
            where.append("r.status = ?")
            params.append(status)
        execution_date = _date(body, "execution_date")
        if execution_date is not None:
            where.append("r.execution_date = ?")
            params.append(execution_date)
        return ok({"results": _runs(db, where, params, _limit(body))})


@router.post("/workflow/status")
async def reset_workflow(request: Request) -> JSONResponse:  # T6
    _, body = await _action(request, ("reset_workflow_status",))
    with store_of(request).tx() as db:
        row = _configuration(db, body)
        if row["configuration_type"] != "workflow":
            raise BadRequest("configuration_type must be workflow")
        db.execute("UPDATE tl_configurations SET resets = resets + 1, updated = ? WHERE id = ?", (now(), row["id"]))
    return ok({"code": 200, "data": {}, "message": "ok"})


@router.post("/configuration/status")
async def set_configuration_status(request: Request) -> JSONResponse:  # T7
    _, body = await _action(request, ("set_configuration_status",))
    activated, archived = _bool(body, "activated"), _bool(body, "archived")
    if activated and archived:
        raise BadRequest("an archived configuration cannot be activated: send activated false with archived true")
    with store_of(request).tx() as db:
        row = _configuration(db, body)
        if row["archived"] and not archived:
            raise Forbidden("only super-administrators can unarchive a configuration; deploy it again instead")
        db.execute("UPDATE tl_configurations SET activated = ?, archived = ?, updated = ? WHERE id = ?",
                   (int(activated), int(archived), now(), row["id"]))
    return ok({"message": "ok"})
