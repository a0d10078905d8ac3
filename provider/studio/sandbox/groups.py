"""Access groups and their members (contract §1.1, §1.2; routes G1-G4, M1-M4).

A group belongs to the team the request acts in; its `name` is unique in that team (§5 #5: a
duplicate is a 409). Members must be members of the team. Reading is for every member of the
team; creating, changing and deleting is for the team's admins. A group of another team is a 404,
exactly like a group that does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Principal, Team, current, require_team_admin, team_of
from .errors import BadRequest, Conflict, NotFound
from .store import Db, iso_now, new_uuid, next_seq, store_of
from .wire import created, int_field, int_text, json_body, name_field, no_content, obj, reply, str_field

__all__ = ["group_json", "group_row", "member_of_team", "router"]

BASE = "/datachain/rbac/access-groups"
router = APIRouter(tags=["rbac"])


def group_json(db: Db, row: Any) -> dict[str, Any]:
    count = db.scalar("SELECT COUNT(*) FROM st_group_members WHERE group_id = ?", (row["id"],))
    return {"id": row["id"], "name": row["name"], "description": row["description"], "member_count": int(count or 0),
            "created_at": row["created_at"]}


def group_row(db: Db, team: Team, group_id: str) -> Any:
    row = db.one("SELECT * FROM st_groups WHERE id = ? AND team_id = ?", (group_id, team.team_id))
    if row is None:
        raise NotFound(f"Access group {group_id[:100]} not found")
    return row


def member_of_team(db: Db, team: Team, user_id: int, what: str) -> None:
    if db.scalar("SELECT 1 FROM st_team_members WHERE team_id = ? AND user_id = ?", (team.team_id, user_id)) is None:
        raise BadRequest(f"Invalid {what}: user {user_id} is not a member of team {team.name}")


def _unique_name(db: Db, team: Team, name: str, group_id: str = "") -> None:
    if db.scalar("SELECT 1 FROM st_groups WHERE team_id = ? AND name = ? AND id != ?", (team.team_id, name, group_id)):
        raise Conflict(f"An access group named {name!r} already exists in team {team.name}")


def _description(body: dict[str, Any]) -> Any:
    return str_field(body, "description", "access group", max_len=10_000)


@router.post(BASE + "/")
async def create_group(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "access group")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access groups")
    name = name_field(body, "name", "access group")
    description = _description(body) or ""
    with store_of(request).tx() as db:
        _unique_name(db, team, name)
        group_id = new_uuid()
        db.execute("INSERT INTO st_groups(id, team_id, name, description, created_at, seq) VALUES (?, ?, ?, ?, ?, ?)",
                   (group_id, team.team_id, name, description, iso_now(), next_seq(db)))
        return created(group_json(db, group_row(db, team, group_id)))


@router.get(BASE + "/")
def list_groups(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    with store_of(request).read() as db:
        rows = db.all("SELECT * FROM st_groups WHERE team_id = ? ORDER BY seq", (team.team_id,))
        return reply([group_json(db, row) for row in rows])


@router.patch(BASE + "/{group_id}/")
async def update_group(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "access group")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access groups")
    name = name_field(body, "name", "access group", required=False)
    description = _description(body)
    with store_of(request).tx() as db:
        row = group_row(db, team, group_id)
        if name is not None:
            _unique_name(db, team, name, row["id"])
        db.execute("UPDATE st_groups SET name = ?, description = ? WHERE id = ?",
                   (name if name is not None else row["name"],
                    description if description is not None else row["description"], row["id"]))
        return reply(group_json(db, group_row(db, team, group_id)))


@router.delete(BASE + "/{group_id}/")
async def delete_group(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "request")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access groups")
    with store_of(request).tx() as db:
        row = group_row(db, team, group_id)
        db.execute("DELETE FROM st_groups WHERE id = ?", (row["id"],))  # members and rules go by cascade
    return no_content()


# ── members ──────────────────────────────────────────────────────────────────────────────────


def _member_json(row: Any) -> dict[str, Any]:
    return {"user_id": row["user_id"], "username": row["username"], "email": row["email"], "role": row["role"]}


def _member(db: Db, group_id: str, user_id: int) -> Any:
    row = db.one("SELECT m.user_id, u.username, u.email, m.role FROM st_group_members m "
                 "JOIN st_users u ON u.user_id = m.user_id WHERE m.group_id = ? AND m.user_id = ?", (group_id, user_id))
    if row is None:
        raise NotFound(f"User {user_id} is not a member of this access group")
    return row


def _role(request: Request, body: dict[str, Any], required: bool) -> Any:
    return str_field(body, "role", "member", required=required, choices=request.app.state.config.role_values)


@router.get(BASE + "/{group_id}/members/")
def list_members(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    with store_of(request).read() as db:
        row = group_row(db, team, group_id)
        rows = db.all("SELECT m.user_id, u.username, u.email, m.role FROM st_group_members m "
                      "JOIN st_users u ON u.user_id = m.user_id WHERE m.group_id = ? ORDER BY m.seq", (row["id"],))
        return reply([_member_json(r) for r in rows])


@router.post(BASE + "/{group_id}/members/")
async def add_member(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "member")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access groups")
    user_id = int_field(body, "user_id", "member")
    if user_id is None:
        raise BadRequest("Missing member.user_id")
    values = request.app.state.config.role_values
    role = _role(request, body, required=False) or ("write" if "write" in values else values[0])
    with store_of(request).tx() as db:
        row = group_row(db, team, group_id)
        member_of_team(db, team, user_id, "member.user_id")
        if db.scalar("SELECT 1 FROM st_group_members WHERE group_id = ? AND user_id = ?", (row["id"], user_id)):
            raise Conflict(f"User {user_id} is already a member of access group {row['name']}")
        db.execute("INSERT INTO st_group_members(group_id, user_id, role, seq) VALUES (?, ?, ?, ?)",
                   (row["id"], user_id, role, next_seq(db)))
        return created(_member_json(_member(db, row["id"], user_id)))


@router.patch(BASE + "/{group_id}/members/{user_id}/")
async def update_member(group_id: str, user_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "member")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access groups")
    uid = int_text(user_id, "user_id")
    role = _role(request, body, required=True)
    with store_of(request).tx() as db:
        row = group_row(db, team, group_id)
        _member(db, row["id"], uid)
        db.execute("UPDATE st_group_members SET role = ? WHERE group_id = ? AND user_id = ?", (role, row["id"], uid))
        return reply(_member_json(_member(db, row["id"], uid)))


@router.delete(BASE + "/{group_id}/members/{user_id}/")
async def remove_member(group_id: str, user_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "request")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access groups")
    uid = int_text(user_id, "user_id")
    with store_of(request).tx() as db:
        row = group_row(db, team, group_id)
        _member(db, row["id"], uid)
        db.execute("DELETE FROM st_group_members WHERE group_id = ? AND user_id = ?", (row["id"], uid))
    return no_content()
