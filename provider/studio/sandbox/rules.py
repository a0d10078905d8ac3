"""Access rules (contract §1.3; routes R1-R4).

A rule gives a permission on a resource (a namespace, project or dataset) to a user of the team,
a group of the team, or both (the seed's own example sends both; at least one is required). The
sandbox holds no namespaces or datasets, so a resource is registered the first time a rule names
it (§5 #4): the input `resource_id` is a string; an existing resource's integer id or UUID names
that resource, anything else is taken as the resource's name. Answers carry the integer
`resource_id`, `resource_uuid` and `resource_name`, as Studio's do. The same principal cannot
hold two rules on one resource (a 409). Only `permission` changes in place.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Principal, Team, current, require_team_admin, team_of
from .errors import BadRequest, Conflict, NotFound
from .groups import member_of_team
from .store import Db, new_uuid, next_seq, store_of
from .wire import created, int_field, json_body, name_field, no_content, obj, reply, str_field

__all__ = ["router"]

BASE = "/datachain/rbac/access-rules"
router = APIRouter(tags=["rbac"])

_SELECT = ("SELECT r.id, r.permission, r.user_id, r.group_id, s.id AS resource_id, s.resource_type, s.uuid, s.name, "
           "u.email AS user_email, g.name AS group_name FROM st_rules r JOIN st_resources s ON s.id = r.resource_id "
           "LEFT JOIN st_users u ON u.user_id = r.user_id LEFT JOIN st_groups g ON g.id = r.group_id ")


def _rule_json(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "resource_type": row["resource_type"], "resource_uuid": row["uuid"],
            "resource_id": row["resource_id"], "resource_name": row["name"], "permission": row["permission"],
            "user_id": row["user_id"], "user_email": row["user_email"], "group_id": row["group_id"],
            "group_name": row["group_name"]}


def _rule(db: Db, team: Team, rule_id: str) -> Any:
    row = db.one(_SELECT + "WHERE r.id = ? AND r.team_id = ?", (rule_id, team.team_id))
    if row is None:
        raise NotFound(f"Access rule {rule_id[:100]} not found")
    return row


def _resource(db: Db, team: Team, resource_type: str, ref: str) -> int:
    """The resource `ref` names: its integer id, its UUID or its name; registered if new."""
    if ref.isascii() and ref.isdigit() and len(ref) <= 18:
        found = db.scalar("SELECT id FROM st_resources WHERE id = ? AND team_id = ? AND resource_type = ?",
                          (int(ref), team.team_id, resource_type))
        if found is not None:
            return int(found)
    found = db.scalar("SELECT id FROM st_resources WHERE team_id = ? AND resource_type = ? AND (uuid = ? OR name = ?) "
                      "ORDER BY uuid = ? DESC LIMIT 1", (team.team_id, resource_type, ref, ref, ref))
    if found is not None:
        return int(found)
    resource_id = db.allocate("st_next_resource", "st_resources", "id", 1)
    db.execute("INSERT INTO st_resources(id, team_id, resource_type, uuid, name) VALUES (?, ?, ?, ?, ?)",
               (resource_id, team.team_id, resource_type, new_uuid(), ref))
    return resource_id


def _permission(request: Request, body: dict[str, Any]) -> Any:
    return str_field(body, "permission", "access rule", required=True, choices=request.app.state.config.permission_values)


@router.post(BASE + "/")
async def create_rule(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "access rule")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access rules")
    config = request.app.state.config
    resource_type = str_field(body, "resource_type", "access rule", required=True, choices=config.resource_type_values)
    if isinstance(body.get("resource_id"), int) and not isinstance(body.get("resource_id"), bool):
        body = {**body, "resource_id": str(body["resource_id"])}  # an integer id, as answers carry it
    ref = name_field(body, "resource_id", "access rule")
    permission = _permission(request, body)
    user_id = int_field(body, "user_id", "access rule")
    group_id = str_field(body, "group_id", "access rule", max_len=100)
    if user_id is None and group_id is None:
        raise BadRequest("Invalid access rule: give user_id or group_id (the principal the rule is for)")
    with store_of(request).tx() as db:
        if user_id is not None:
            member_of_team(db, team, user_id, "access rule.user_id")
        if group_id is not None and db.scalar("SELECT 1 FROM st_groups WHERE id = ? AND team_id = ?",
                                              (group_id, team.team_id)) is None:
            raise BadRequest(f"Invalid access rule.group_id: access group {group_id} not found")
        resource = _resource(db, team, resource_type, ref)
        if db.scalar("SELECT 1 FROM st_rules WHERE resource_id = ? AND COALESCE(user_id, -1) = ? "
                     "AND COALESCE(group_id, '') = ?", (resource, -1 if user_id is None else user_id, group_id or "")):
            raise Conflict("An access rule for this principal and resource already exists")
        rule_id = new_uuid()
        db.execute("INSERT INTO st_rules(id, team_id, resource_id, permission, user_id, group_id, seq) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (rule_id, team.team_id, resource, permission, user_id, group_id,
                                                    next_seq(db)))
        return created(_rule_json(_rule(db, team, rule_id)))


@router.get(BASE + "/")
def list_rules(request: Request, principal: Principal = Depends(current)) -> Any:
    team = team_of(request, principal)
    with store_of(request).read() as db:
        rows = db.all(_SELECT + "WHERE r.team_id = ? ORDER BY r.seq", (team.team_id,))
    return reply([_rule_json(row) for row in rows])


@router.patch(BASE + "/{rule_id}/")
async def update_rule(rule_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "access rule")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access rules")
    permission = _permission(request, body)
    with store_of(request).tx() as db:
        row = _rule(db, team, rule_id)
        db.execute("UPDATE st_rules SET permission = ? WHERE id = ?", (permission, row["id"]))
        return reply(_rule_json(_rule(db, team, rule_id)))


@router.delete(BASE + "/{rule_id}/")
async def delete_rule(rule_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "request")
    team = team_of(request, principal, body)
    require_team_admin(team, "manage access rules")
    with store_of(request).tx() as db:
        row = _rule(db, team, rule_id)
        db.execute("DELETE FROM st_rules WHERE id = ?", (row["id"],))
    return no_content()
