"""Projects, their members and group roles, and their bots (contract §1.2, §2.2).

- `POST /projects` takes a form (what dtlpy sends) or JSON (what the spec says), with an optional
  org (`org`, `orgId` or `account`, an id or `{id}`); without one, the project goes to the
  caller's first organisation. Its creator becomes its owner.
- `project.org` is always an object with `id` (§3.4 item 4); timestamps are epoch milliseconds
  (§1.0); `role` is the caller's effective role.
- `GET /projects/{name}/name` answers 404 when no visible project has the name (§3.4 item 5).
- Member lists hold a row per direct member (`membershipType: "member"`) and a row per user that a
  group gives access (`membershipType: "group"`, `membershipEntityId` the group's id), so that a
  client can tell inherited rows from role bindings (§4 kind 3). Member mutations answer the
  whole list (§2.2, §2.8: dtlpy calls `.json()` on them); removing the last direct owner is a 409.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .access import ORG_ROLES, PROJECT_ROLES, check_id, org_of, project_of, project_role, visible_project_ids
from .auth import Principal, current, user_json
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .orgs import group_json
from .store import Db, doc_of, new_id, next_seq, now_ms, store_of
from .urls import api_url
from .users import ensure_user, user_id_of
from .wire import email_of, form_or_json, json_body, name_field, no_content, obj, reply, str_field

__all__ = ["delete_project_rows", "project_json", "router"]

router = APIRouter(tags=["projects"])
_TRUE = ("true", "1", "yes")


def _members(db: Db, project_id: str) -> list[dict[str, Any]]:
    out = []
    for r in db.all("SELECT user_id, role FROM dl_project_members WHERE project_id = ? ORDER BY seq", (project_id,)):
        row = user_json(db, r["user_id"])
        row.update(role=r["role"], membershipType="member", membershipEntityId=row["id"], denyMembersManagement=False)
        out.append(row)
    for r in db.all("SELECT pg.group_id, pg.role, gm.user_id FROM dl_project_groups pg "
                    "JOIN dl_group_members gm ON gm.group_id = pg.group_id WHERE pg.project_id = ? ORDER BY pg.seq, gm.seq",
                    (project_id,)):
        row = user_json(db, r["user_id"])
        row.update(role=r["role"], membershipType="group", membershipEntityId=r["group_id"], denyMembersManagement=True)
        out.append(row)
    return out


def project_json(request: Request, db: Db, row: Any, principal: Principal, *, contributors: bool = True) -> dict[str, Any]:
    org_name = db.scalar("SELECT name FROM dl_orgs WHERE id = ?", (row["org_id"],))
    groups = [r["group_id"] for r in db.all("SELECT group_id FROM dl_project_groups WHERE project_id = ? ORDER BY seq",
                                            (row["id"],))]
    return {"id": row["id"], "name": row["name"], "url": api_url(request, f"/projects/{row['id']}"),
            "createdAt": row["created_ms"], "updatedAt": row["updated_ms"], "creator": row["creator"],
            "org": {"id": row["org_id"], "name": org_name}, "account": row["org_id"],
            "contributors": _members(db, row["id"]) if contributors else [], "groups": groups,
            "featureConstraints": [], "guests": [], "role": project_role(db, row["id"], principal.user_id),
            "archived": False, "isBlocked": False, "systemProject": False}


def _unique(request: Request, db: Db, org_id: str, name: str, skip: str = "") -> None:
    if "projects" in request.app.state.config.unique_kinds and db.scalar(
            "SELECT 1 FROM dl_projects WHERE name = ? AND org_id = ? AND id != ?", (name, org_id, skip)):
        raise Conflict(f"A project named {name!r} already exists in this organization")


def _org_id_in(body: dict[str, Any]) -> str | None:
    for key in ("orgId", "org", "account"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if value is not None:
            if not isinstance(value, str):
                raise BadRequest(f"Invalid project.{key}: expected an organization id")
            return value
    return None


@router.get("/projects")
def list_projects(request: Request, principal: Principal = Depends(current)) -> Any:
    contributors = request.query_params.get("excludeContributors", "").lower() not in _TRUE
    with store_of(request).read() as db:
        ids = visible_project_ids(db, principal.user_id)
        rows = [db.one("SELECT * FROM dl_projects WHERE id = ?", (pid,)) for pid in ids]
        return reply([project_json(request, db, row, principal, contributors=contributors) for row in rows if row is not None])


@router.post("/projects")
async def create_project(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await form_or_json(request), "project")
    name = name_field(body, "name", "project")
    wanted = _org_id_in(body)
    with store_of(request).tx() as db:
        if wanted is None:
            wanted = db.scalar("SELECT org_id FROM dl_org_members WHERE user_id = ? AND role != 'worker' ORDER BY seq LIMIT 1",
                               (principal.user_id,))
            if wanted is None:
                raise Forbidden("You belong to no organization in which you may create projects")
        org, role = org_of(db, check_id(wanted, "Organization"), principal)
        if role not in ORG_ROLES[:3]:
            raise Forbidden(f"Your role in this organization ({role}) cannot create projects")
        _unique(request, db, org["id"], name)
        project_id = new_id()
        stamp = now_ms()
        db.execute("INSERT INTO dl_projects(id, org_id, name, creator, created_ms, updated_ms, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (project_id, org["id"], name, principal.email, stamp, stamp, next_seq(db)))
        db.execute("INSERT INTO dl_project_members(project_id, user_id, role, created_ms, seq) VALUES (?, ?, 'owner', ?, ?)",
                   (project_id, principal.user_id, stamp, next_seq(db)))
        return reply(project_json(request, db, db.one("SELECT * FROM dl_projects WHERE id = ?", (project_id,)), principal))


@router.get("/projects/{project_id}")
def get_project(project_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal)
        return reply(project_json(request, db, row, principal))


@router.patch("/projects/{project_id}")
async def update_project(project_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "project")
    name = name_field(body, "name", "project", required=False)
    with store_of(request).tx() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal, need=("owner",))
        if name is not None and name != row["name"]:
            _unique(request, db, row["org_id"], name, row["id"])
            db.execute("UPDATE dl_projects SET name = ?, updated_ms = ? WHERE id = ?", (name, now_ms(), row["id"]))
        return reply(project_json(request, db, db.one("SELECT * FROM dl_projects WHERE id = ?", (row["id"],)), principal))


def delete_project_rows(db: Db, project_id: str) -> None:
    """Everything in a project goes with it; services first, so that their packages are free."""
    db.execute("DELETE FROM dl_triggers WHERE project_id = ?", (project_id,))
    db.execute("DELETE FROM dl_services WHERE project_id = ?", (project_id,))
    db.execute("DELETE FROM dl_projects WHERE id = ?", (project_id,))


@router.delete("/projects/{project_id}")
def delete_project(project_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal, need=("owner",))
        delete_project_rows(db, row["id"])
    return no_content()


# ── members ──────────────────────────────────────────────────────────────────────────────────


@router.get("/projects/{project_id}/members")
def list_members(project_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal)
        return reply(_members(db, row["id"]))


async def _role_in(request: Request) -> str:
    body = obj(await json_body(request), "member", empty_ok=True)
    return str_field(body, "role", "member", choices=PROJECT_ROLES) or "engineer"


def _direct_owners(db: Db, project_id: str) -> int:
    return int(db.scalar("SELECT COUNT(*) FROM dl_project_members WHERE project_id = ? AND role = 'owner'", (project_id,)))


@router.post("/projects/{project_id}/members/{email}")
async def add_member(project_id: str, email: str, request: Request, principal: Principal = Depends(current)) -> Any:
    email = email_of(email)
    role = await _role_in(request)
    with store_of(request).tx() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal, need=("owner",))
        user_id = ensure_user(db, email)
        old = db.scalar("SELECT role FROM dl_project_members WHERE project_id = ? AND user_id = ?", (row["id"], user_id))
        if old is None:
            db.execute("INSERT INTO dl_project_members(project_id, user_id, role, created_ms, seq) VALUES (?, ?, ?, ?, ?)",
                       (row["id"], user_id, role, now_ms(), next_seq(db)))
        else:
            if old == "owner" and role != "owner" and _direct_owners(db, row["id"]) <= 1:
                raise Conflict("The project must keep at least one owner")
            db.execute("UPDATE dl_project_members SET role = ? WHERE project_id = ? AND user_id = ?", (role, row["id"], user_id))
        return reply(_members(db, row["id"]))


@router.patch("/projects/{project_id}/members/{email}")
async def update_member(project_id: str, email: str, request: Request, principal: Principal = Depends(current)) -> Any:
    email = email_of(email)
    role = await _role_in(request)
    with store_of(request).tx() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal, need=("owner",))
        user_id = user_id_of(db, email)
        old = db.scalar("SELECT role FROM dl_project_members WHERE project_id = ? AND user_id = ?", (row["id"], user_id or -1))
        if old is None:
            raise NotFound(f"Member {email} not found")
        if old == "owner" and role != "owner" and _direct_owners(db, row["id"]) <= 1:
            raise Conflict("The project must keep at least one owner")
        db.execute("UPDATE dl_project_members SET role = ? WHERE project_id = ? AND user_id = ?", (role, row["id"], user_id))
        return reply(_members(db, row["id"]))


@router.delete("/projects/{project_id}/members/{email}")
def remove_member(project_id: str, email: str, request: Request, principal: Principal = Depends(current)) -> Any:
    email = email_of(email)
    with store_of(request).tx() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal, need=("owner",))
        user_id = user_id_of(db, email)
        old = db.scalar("SELECT role FROM dl_project_members WHERE project_id = ? AND user_id = ?", (row["id"], user_id or -1))
        if old is None:
            raise NotFound(f"Member {email} not found")
        if old == "owner" and _direct_owners(db, row["id"]) <= 1:
            raise Conflict("The project must keep at least one owner")
        db.execute("DELETE FROM dl_project_members WHERE project_id = ? AND user_id = ?", (row["id"], user_id))
        return reply(_members(db, row["id"]))


# ── groups given a role in the project ───────────────────────────────────────────────────────


def _subgroups(db: Db, project_id: str) -> list[dict[str, Any]]:
    rows = db.all("SELECT g.*, pg.role AS project_role FROM dl_project_groups pg JOIN dl_groups g ON g.id = pg.group_id "
                  "WHERE pg.project_id = ? ORDER BY pg.seq", (project_id,))
    return [group_json(db, r, r["project_role"]) for r in rows]


@router.get("/projects/{project_id}/subgroups")
def list_subgroups(project_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal)
        return reply(_subgroups(db, row["id"]))


async def _set_subgroup(project_id: str, group_id: str, request: Request, principal: Principal, *, create: bool) -> Any:
    body = obj(await json_body(request), "group role", empty_ok=True)
    role = str_field(body, "role", "group role", choices=PROJECT_ROLES)
    with store_of(request).tx() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal, need=("owner",))
        group = db.one("SELECT * FROM dl_groups WHERE id = ? AND org_id = ?", (check_id(group_id, "Group"), row["org_id"]))
        if group is None:
            raise NotFound("Group not found")
        role = role or group["default_project_role"] or "annotator"
        exists = db.scalar("SELECT 1 FROM dl_project_groups WHERE project_id = ? AND group_id = ?", (row["id"], group["id"]))
        if exists:
            db.execute("UPDATE dl_project_groups SET role = ? WHERE project_id = ? AND group_id = ?", (role, row["id"], group["id"]))
        elif create:
            db.execute("INSERT INTO dl_project_groups(project_id, group_id, role, seq) VALUES (?, ?, ?, ?)",
                       (row["id"], group["id"], role, next_seq(db)))
        else:
            raise NotFound("The group has no role in this project")
        return reply(_subgroups(db, row["id"]))


@router.post("/projects/{project_id}/subgroups/{group_id}")
async def add_subgroup(project_id: str, group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return await _set_subgroup(project_id, group_id, request, principal, create=True)


@router.patch("/projects/{project_id}/subgroups/{group_id}")
async def update_subgroup(project_id: str, group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return await _set_subgroup(project_id, group_id, request, principal, create=False)


@router.delete("/projects/{project_id}/subgroups/{group_id}")
def remove_subgroup(project_id: str, group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal, need=("owner",))
        gone = db.execute("DELETE FROM dl_project_groups WHERE project_id = ? AND group_id = ?",
                          (row["id"], check_id(group_id, "Group")))
        if gone.rowcount == 0:
            raise NotFound("The group has no role in this project")
    return no_content()


# ── bots ─────────────────────────────────────────────────────────────────────────────────────


@router.get("/projects/{project_id}/bots")
def list_bots(project_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal)
        return reply([doc_of(r["doc"]) for r in db.all("SELECT doc FROM dl_bots WHERE project_id = ? ORDER BY seq", (row["id"],))])


@router.get("/projects/{project_id}/bots/{bot_id}")
def get_bot(project_id: str, bot_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row, _ = project_of(db, check_id(project_id, "Project"), principal)
        bot = db.one("SELECT doc FROM dl_bots WHERE project_id = ? AND (id = ? OR email = ?)", (row["id"], bot_id, bot_id))
        if bot is None:
            raise NotFound("Bot not found")
        return reply(doc_of(bot["doc"]))


# Registered last: `{name:path}` would otherwise swallow paths meant for the routes above.
@router.get("/projects/{name:path}/name")
def get_by_name(name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        rows = db.all("SELECT * FROM dl_projects WHERE name = ? ORDER BY seq", (name,))
        found = [project_json(request, db, r, principal) for r in rows if project_role(db, r["id"], principal.user_id)]
    if not found:
        raise NotFound(f"Project not found: {name[:100]}")
    return reply(found)
