"""Pipeline schedules (contract §1.4; routes S1-S5), all through POST-style RPC.

A schedule targets a pipeline *definition* of its team (§5 #9), named by `pipeline_id` or
`pipeline_name` (the id wins when both are given); the target never changes. `schedule_name` is
unique in the team (§5 #5: a duplicate is a 409). `start_after` defaults to the moment of
creation; `cron_expression` is checked (`cron`), and `next_run` is its first run after both now
and `start_after` (null for an expression that never runs). `pause_pipeline` is write-only: true
pauses the target pipeline, false resumes it, and it is read back as `pipeline.status`.
`latest_run` is the newest run of the target definition, or null: the sandbox never runs a
schedule by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request

from . import cron
from .auth import Principal, Team, current, team_of
from .errors import BadRequest, Conflict, NotFound
from .pipelines import find_pipeline, pipeline_json, set_status
from .store import Db, iso, iso_now, next_seq, store_of
from .wire import bool_field, int_field, int_text, json_body, name_field, obj, query_value, reply, str_field, time_field

__all__ = ["router"]

router = APIRouter(tags=["schedules"])
BASE = "/datachain/pipeline"
WHAT = "schedule"


def _next_run(row: Any) -> str | None:
    start = datetime.fromisoformat(row["start_after"].replace("Z", "+00:00"))
    after = max(start, datetime.now(UTC))
    moment = cron.parse(row["cron_expression"]).next_after(after)
    return None if moment is None else iso(moment.timestamp())


def _item(db: Db, row: Any) -> dict[str, Any]:
    user = db.one("SELECT username, first_name, last_name FROM st_users WHERE user_id = ?", (row["created_by"],))
    return {"id": row["id"], "schedule_name": row["schedule_name"], "created_at": row["created_at"],
            "updated_at": row["updated_at"], "start_after": row["start_after"], "cron_expression": row["cron_expression"],
            "next_run": _next_run(row),
            "created_by": {"username": user["username"], "first_name": user["first_name"], "last_name": user["last_name"]}}


def _full(db: Db, row: Any) -> dict[str, Any]:
    pipeline = db.one("SELECT * FROM st_pipelines WHERE id = ?", (row["pipeline_id"],))
    latest = db.one("SELECT * FROM st_pipelines WHERE definition_id = ? ORDER BY seq DESC LIMIT 1", (row["pipeline_id"],))
    return {**_item(db, row), "latest_run": None if latest is None else pipeline_json(db, latest),
            "pipeline": pipeline_json(db, pipeline)}


def _schedule(db: Db, team: Team, schedule_id: int) -> Any:
    row = db.one("SELECT * FROM st_schedules WHERE id = ? AND team_id = ?", (schedule_id, team.team_id))
    if row is None:
        raise NotFound(f"Schedule {schedule_id} not found")
    return row


def _unique(db: Db, team: Team, name: str, schedule_id: int = -1) -> None:
    if db.scalar("SELECT 1 FROM st_schedules WHERE team_id = ? AND schedule_name = ? AND id != ?",
                 (team.team_id, name, schedule_id)):
        raise Conflict(f"A schedule named {name!r} already exists in team {team.name}")


def _pause(db: Db, pipeline_id: str, pause: bool | None) -> None:
    if pause is not None:
        row = db.one("SELECT * FROM st_pipelines WHERE id = ?", (pipeline_id,))
        set_status(db, row, "PAUSED" if pause else "RUNNING")


def _schedule_id(body: dict[str, Any]) -> int:
    value = int_field(body, "schedule_id", WHAT)
    if value is None:
        raise BadRequest(f"Missing {WHAT}.schedule_id")
    return int(value)


@router.post(BASE + "/create-schedule")
async def create_schedule(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), WHAT)
    team = team_of(request, principal, body)
    name = name_field(body, "schedule_name", WHAT)
    pipeline_id = str_field(body, "pipeline_id", WHAT, max_len=100)
    pipeline_name = str_field(body, "pipeline_name", WHAT, max_len=256)
    cron_text = str_field(body, "cron_expression", WHAT, required=True, max_len=200).strip()
    cron.parse(cron_text)
    start = time_field(body, "start_after", WHAT)
    pause = bool_field(body, "pause_pipeline", WHAT)
    with store_of(request).tx() as db:
        pipeline = find_pipeline(db, team, pipeline_id, pipeline_name, WHAT)
        if not pipeline["is_definition"]:
            raise BadRequest(f"Invalid {WHAT}: pipeline {pipeline['name']} is a run; schedules target definitions")
        _unique(db, team, name)
        schedule_id = db.allocate("st_next_schedule", "st_schedules", "id", 1)
        stamp = iso_now()
        db.execute("INSERT INTO st_schedules(id, team_id, pipeline_id, schedule_name, start_after, cron_expression, "
                   "created_by, created_at, updated_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (schedule_id, team.team_id, pipeline["id"], name, stamp if start is None else iso(start.timestamp()),
                    cron_text, principal.user_id, stamp, stamp, next_seq(db)))
        _pause(db, pipeline["id"], pause)
        return reply({"ok": True, "schedule": _full(db, _schedule(db, team, schedule_id))})


@router.post(BASE + "/update-schedule")
async def update_schedule(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), WHAT)
    team = team_of(request, principal, body)
    schedule_id = _schedule_id(body)
    name = name_field(body, "schedule_name", WHAT, required=False)
    cron_text = str_field(body, "cron_expression", WHAT, max_len=200)
    if cron_text is not None:
        cron_text = cron_text.strip()
        cron.parse(cron_text)
    start = time_field(body, "start_after", WHAT)
    pause = bool_field(body, "pause_pipeline", WHAT)
    with store_of(request).tx() as db:
        row = _schedule(db, team, schedule_id)
        if name is not None:
            _unique(db, team, name, schedule_id)
        db.execute("UPDATE st_schedules SET schedule_name = ?, cron_expression = ?, start_after = ?, updated_at = ? "
                   "WHERE id = ?", (name or row["schedule_name"], cron_text or row["cron_expression"],
                                    row["start_after"] if start is None else iso(start.timestamp()), iso_now(), schedule_id))
        _pause(db, row["pipeline_id"], pause)
        return reply({"ok": True, "schedule": _full(db, _schedule(db, team, schedule_id))})


@router.post(BASE + "/delete-schedule")
async def delete_schedule(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), WHAT)
    team = team_of(request, principal, body)
    schedule_id = _schedule_id(body)
    with store_of(request).tx() as db:
        _schedule(db, team, schedule_id)
        db.execute("DELETE FROM st_schedules WHERE id = ?", (schedule_id,))
    return reply({"ok": True})


@router.get(BASE + "/schedule")
def get_schedule(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    text = query_value(request, "schedule_id")
    if text is None:
        raise BadRequest("Missing schedule_id")
    schedule_id = int_text(text, "schedule_id")
    with store_of(request).read() as db:
        return reply(_full(db, _schedule(db, team, schedule_id)))


@router.get(BASE + "/schedules")
def list_schedules(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    with store_of(request).read() as db:
        rows = db.all("SELECT * FROM st_schedules WHERE team_id = ? ORDER BY seq", (team.team_id,))
        return reply([_item(db, row) for row in rows])
