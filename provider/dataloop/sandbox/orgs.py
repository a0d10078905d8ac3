"""Organisations, their members and groups (contract §1.2, §2.1).

Lists are bare JSON arrays (§2.9). Member rows are APIUser shapes with the member's `role`; ids
are e-mails (§5.1). `POST /orgs/{id}/members` invites e-mails that are not users yet (§1.2
OrgMember) and answers APIOrgUser rows; an e-mail already a member gets the role asked for.
Removing a member also removes them from the org's groups and from the org's projects, so that
leaving an organisation ends every access it gave.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from .access import ORG_ROLES, PROJECT_ROLES, check_id, org_of, visible_project_ids
from .auth import Principal, current, user_json
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .store import Db, new_id, next_seq, now_ms, store_of
from .urls import api_url
from .users import ensure_user, user_id_of
from .wire import email_of, json_body, list_field, name_field, no_content, obj, reply, str_field

__all__ = ["group_json", "org_json", "router"]

router = APIRouter(tags=["organizations"])


def org_json(request: Request, db: Db, row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "creator": row["creator"], "owner": row["creator"],
            "createdAt": row["created_ms"], "updatedAt": row["updated_ms"], "plan": "premium",
            "account": {"id": row["id"], "name": row["name"]}, "url": api_url(request, f"/orgs/{row['id']}"),
            "logoUrl": None, "members": [], "groups": [], "projects": []}


def _member_rows(db: Db, org_id: str) -> list[dict[str, Any]]:
    out = []
    for r in db.all("SELECT user_id, role FROM dl_org_members WHERE org_id = ? ORDER BY seq", (org_id,)):
        row = user_json(db, r["user_id"])
        row["role"] = r["role"]
        row["org"] = org_id
        out.append(row)
    return out


@router.get("/orgs")
def list_orgs(request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        rows = db.all("SELECT o.* FROM dl_org_members m JOIN dl_orgs o ON o.id = m.org_id WHERE m.user_id = ? ORDER BY m.seq",
                      (principal.user_id,))
        return reply([org_json(request, db, row) for row in rows])


@router.get("/orgs/{org_id}")
def get_org(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row, _ = org_of(db, check_id(org_id, "Organization"), principal)
        return reply(org_json(request, db, row))


@router.patch("/orgs/{org_id}")
async def rename_org(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "organization")
    name = name_field(body, "name", "organization")
    with store_of(request).tx() as db:
        row, role = org_of(db, check_id(org_id, "Organization"), principal)
        if role != "owner":
            raise Forbidden("Only an owner may rename the organization")
        db.execute("UPDATE dl_orgs SET name = ?, updated_ms = ? WHERE id = ?", (name, now_ms(), row["id"]))
        return reply(org_json(request, db, db.one("SELECT * FROM dl_orgs WHERE id = ?", (row["id"],))))


@router.get("/orgs/{org_id}/members")
def list_members(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row, _ = org_of(db, check_id(org_id, "Organization"), principal)
        return reply(_member_rows(db, row["id"]))


def _check_grant(caller_role: str, old: str | None, new: str) -> None:
    if caller_role != "owner" and "owner" in (old, new):
        raise Forbidden("Only an owner may grant, change or remove the owner role")


def _owners(db: Db, org_id: str) -> int:
    return int(db.scalar("SELECT COUNT(*) FROM dl_org_members WHERE org_id = ? AND role = 'owner'", (org_id,)))


@router.post("/orgs/{org_id}/members")
async def add_members(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "members")
    emails = list_field(body, "emails", "members", of=str, max_len=100)
    if not emails:
        raise BadRequest("Missing members.emails: a non-empty list of e-mails")
    emails = [email_of(e, "members.emails[]") for e in emails]
    role = str_field(body, "role", "members", choices=ORG_ROLES) or "member"
    with store_of(request).tx() as db:
        org, caller = org_of(db, check_id(org_id, "Organization"), principal, manage=True)
        out = []
        for email in dict.fromkeys(emails):
            user_id = ensure_user(db, email)
            old = db.scalar("SELECT role FROM dl_org_members WHERE org_id = ? AND user_id = ?", (org["id"], user_id))
            _check_grant(caller, old, role)
            if old is None:
                db.execute("INSERT INTO dl_org_members(org_id, user_id, role, created_ms, seq) VALUES (?, ?, ?, ?, ?)",
                           (org["id"], user_id, role, now_ms(), next_seq(db)))
            else:
                if old == "owner" and role != "owner" and _owners(db, org["id"]) <= 1:
                    raise Conflict("The organization must keep at least one owner")
                db.execute("UPDATE dl_org_members SET role = ? WHERE org_id = ? AND user_id = ?", (role, org["id"], user_id))
            out.append({"id": new_id(), "member": email, "org": org["id"], "role": role, "status": "active",
                        "inviteEmail": email})
        return reply(out)


@router.patch("/orgs/{org_id}/members")
async def update_member(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "member")
    email = email_of(body.get("email"))
    role = str_field(body, "role", "member", required=True, choices=ORG_ROLES)
    with store_of(request).tx() as db:
        org, caller = org_of(db, check_id(org_id, "Organization"), principal, manage=True)
        user_id = user_id_of(db, email)
        old = db.scalar("SELECT role FROM dl_org_members WHERE org_id = ? AND user_id = ?", (org["id"], user_id)) \
            if user_id is not None else None
        if old is None:
            raise NotFound(f"Member {email} not found")
        _check_grant(caller, old, role)
        if old == "owner" and role != "owner" and _owners(db, org["id"]) <= 1:
            raise Conflict("The organization must keep at least one owner")
        db.execute("UPDATE dl_org_members SET role = ? WHERE org_id = ? AND user_id = ?", (role, org["id"], user_id))
        return reply(_member_rows(db, org["id"]))


@router.delete("/orgs/{org_id}/members/{email}")
def remove_member(org_id: str, email: str, request: Request, principal: Principal = Depends(current)) -> Any:
    email = email_of(email)
    with store_of(request).tx() as db:
        org, caller = org_of(db, check_id(org_id, "Organization"), principal, manage=True)
        user_id = user_id_of(db, email)
        old = db.scalar("SELECT role FROM dl_org_members WHERE org_id = ? AND user_id = ?", (org["id"], user_id)) \
            if user_id is not None else None
        if old is None:
            raise NotFound(f"Member {email} not found")
        _check_grant(caller, old, "member")
        if old == "owner" and _owners(db, org["id"]) <= 1:
            raise Conflict("The organization must keep at least one owner")
        db.execute("DELETE FROM dl_org_members WHERE org_id = ? AND user_id = ?", (org["id"], user_id))
        db.execute("DELETE FROM dl_group_members WHERE user_id = ? AND group_id IN (SELECT id FROM dl_groups WHERE org_id = ?)",
                   (user_id, org["id"]))
        db.execute("DELETE FROM dl_project_members WHERE user_id = ? AND project_id IN "
                   "(SELECT id FROM dl_projects WHERE org_id = ?)", (user_id, org["id"]))
    return no_content()


@router.get("/orgs/{org_id}/projects")
def org_projects(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    from .projects import project_json

    with store_of(request).read() as db:
        org, _ = org_of(db, check_id(org_id, "Organization"), principal)
        rows = [db.one("SELECT * FROM dl_projects WHERE id = ?", (pid,)) for pid in visible_project_ids(db, principal.user_id)]
        return reply([project_json(request, db, row, principal) for row in rows if row is not None and row["org_id"] == org["id"]])


# ── groups ─────────────────────────────────────────────────────────────────────────────────


def group_json(db: Db, row: Any, role: str | None = None) -> dict[str, Any]:
    owner = db.scalar("SELECT email FROM dl_users WHERE user_id = ?", (row["owner_id"],)) if row["owner_id"] else None
    members = [r["email"] for r in db.all(
        "SELECT u.email FROM dl_group_members gm JOIN dl_users u ON u.user_id = gm.user_id WHERE gm.group_id = ? ORDER BY gm.seq",
        (row["id"],))]
    projects = [r["project_id"] for r in db.all("SELECT project_id FROM dl_project_groups WHERE group_id = ?", (row["id"],))]
    out = {"id": row["id"], "name": row["name"], "org": row["org_id"], "owner": owner, "creator": row["creator"],
           "members": members, "projects": projects, "defaultProjectRole": row["default_project_role"],
           "createdAt": row["created_ms"], "updatedAt": row["updated_ms"]}
    if role is not None:
        out["role"] = role
    return out


def _group_of(db: Db, group_id: str, principal: Principal, *, manage: bool = False) -> Any:
    row = db.one("SELECT * FROM dl_groups WHERE id = ?", (check_id(group_id, "Group"),))
    if row is None:
        raise NotFound("Group not found")
    try:
        org_of(db, row["org_id"], principal, manage=manage)
    except NotFound as exc:
        raise NotFound("Group not found") from exc
    return row


@router.get("/orgs/{org_id}/groups")
def list_groups(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        org, _ = org_of(db, check_id(org_id, "Organization"), principal)
        rows = db.all("SELECT * FROM dl_groups WHERE org_id = ? ORDER BY seq", (org["id"],))
        return reply([group_json(db, row) for row in rows])


def _unique_group(request: Request, db: Db, org_id: str, name: str, skip: str = "") -> None:
    if "groups" in request.app.state.config.unique_kinds and db.scalar(
            "SELECT 1 FROM dl_groups WHERE org_id = ? AND name = ? AND id != ?", (org_id, name, skip)):
        raise Conflict(f"A group named {name!r} already exists in this organization")


@router.post("/groups")
async def create_group(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "group")
    name = name_field(body, "name", "group")
    org_id = str_field(body, "orgId", "group", required=True, max_len=100)
    role = str_field(body, "defaultProjectRole", "group", choices=PROJECT_ROLES)
    with store_of(request).tx() as db:
        org, _ = org_of(db, check_id(org_id, "Organization"), principal, manage=True)
        _unique_group(request, db, org["id"], name)
        group_id = new_id()
        stamp = now_ms()
        db.execute("INSERT INTO dl_groups(id, org_id, name, owner_id, creator, default_project_role, created_ms, updated_ms, seq) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (group_id, org["id"], name, principal.user_id, principal.email, role, stamp, stamp, next_seq(db)))
        return reply(group_json(db, db.one("SELECT * FROM dl_groups WHERE id = ?", (group_id,))))


@router.get("/groups/{group_id}")
def get_group(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        return reply(group_json(db, _group_of(db, group_id, principal)))


@router.patch("/groups/{group_id}")
async def update_group(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "group")
    name = name_field(body, "name", "group", required=False)
    role_key = "default_project_role" if "default_project_role" in body else "defaultProjectRole"
    role = str_field(body, role_key, "group", choices=PROJECT_ROLES)
    with store_of(request).tx() as db:
        row = _group_of(db, group_id, principal, manage=True)
        if name is not None:
            _unique_group(request, db, row["org_id"], name, row["id"])
        db.execute("UPDATE dl_groups SET name = COALESCE(?, name), default_project_role = COALESCE(?, default_project_role), "
                   "updated_ms = ? WHERE id = ?", (name, role, now_ms(), row["id"]))
        return reply(group_json(db, db.one("SELECT * FROM dl_groups WHERE id = ?", (row["id"],))))


@router.delete("/groups/{group_id}")
def delete_group(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row = _group_of(db, group_id, principal, manage=True)
        db.execute("DELETE FROM dl_groups WHERE id = ?", (row["id"],))
    return no_content()


@router.get("/groups/{group_id}/members")
def group_members(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row = _group_of(db, group_id, principal)
        ids = [r["user_id"] for r in db.all("SELECT user_id FROM dl_group_members WHERE group_id = ? ORDER BY seq", (row["id"],))]
        return reply([user_json(db, i) for i in ids])


@router.post("/groups/{group_id}/members")
async def add_group_member(group_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "group member")
    email = email_of(body.get("user_id", body.get("userId", body.get("email"))), "user_id")
    with store_of(request).tx() as db:
        row = _group_of(db, group_id, principal, manage=True)
        user_id = user_id_of(db, email)
        if user_id is None or db.scalar("SELECT 1 FROM dl_org_members WHERE org_id = ? AND user_id = ?",
                                        (row["org_id"], user_id)) is None:
            raise BadRequest(f"{email} is not a member of the group's organization")
        db.execute("INSERT OR IGNORE INTO dl_group_members(group_id, user_id, seq) VALUES (?, ?, ?)",
                   (row["id"], user_id, next_seq(db)))
        ids = [r["user_id"] for r in db.all("SELECT user_id FROM dl_group_members WHERE group_id = ? ORDER BY seq", (row["id"],))]
        return reply([user_json(db, i) for i in ids])


@router.delete("/groups/{group_id}/members/{email}")
def remove_group_member(group_id: str, email: str, request: Request, principal: Principal = Depends(current)) -> Any:
    email = email_of(email)
    with store_of(request).tx() as db:
        row = _group_of(db, group_id, principal, manage=True)
        user_id = user_id_of(db, email)
        gone = db.execute("DELETE FROM dl_group_members WHERE group_id = ? AND user_id = ?", (row["id"], user_id or -1))
        if gone.rowcount == 0:
            raise NotFound(f"Member {email} not found")
    return no_content()
