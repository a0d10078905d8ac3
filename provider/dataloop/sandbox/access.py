"""Who may see and do what (contract §2.8 "preconditions", §5.18).

- An organisation is visible to its members only. Its `owner`s and `admin`s manage its members,
  groups and integrations; an `admin` cannot make, change or remove an `owner`; a `worker` cannot
  create projects.
- A project is visible to its members only: direct members and members of a group the project was
  given a role (`/projects/{id}/subgroups/{groupId}`). The effective role is the highest of those.
  `owner`s manage members, rename and delete the project; `owner`s and `engineer`s (the "Developer"
  role) create and change datasets, packages, services, triggers and pipelines;
  `annotationManager`s and `annotator`s read them.
- Something invisible answers 404, exactly like something that does not exist, so that ids cannot
  be probed; something visible but beyond the caller's role answers 403.
"""

from __future__ import annotations

from typing import Any

from .auth import Principal
from .errors import Forbidden, NotFound
from .store import Db

__all__ = ["ORG_ROLES", "PROJECT_ROLES", "WRITERS", "check_id", "org_of", "project_of", "project_role", "visible_project_ids"]

ORG_ROLES = ("owner", "admin", "member", "worker")
PROJECT_ROLES = ("owner", "engineer", "annotationManager", "annotator")
_RANK = {role: len(PROJECT_ROLES) - i for i, role in enumerate(PROJECT_ROLES)}
#: Who may change a project's datasets, packages, services, triggers and pipelines.
WRITERS = ("owner", "engineer")
ORG_MANAGERS = ("owner", "admin")


def check_id(value: str, what: str) -> str:
    """Ids are 24-hex; anything else names nothing (a 404 like any unknown id)."""
    if len(value) != 24 or any(c not in "0123456789abcdef" for c in value):
        raise NotFound(f"{what} not found")
    return value


def org_role(db: Db, org_id: str, user_id: int) -> str | None:
    return db.scalar("SELECT role FROM dl_org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))


def org_of(db: Db, org_id: str, principal: Principal, *, manage: bool = False) -> tuple[Any, str]:
    """The org row and the caller's role in it; 404 unless a member, 403 when `manage` and not
    an owner or admin."""
    row = db.one("SELECT * FROM dl_orgs WHERE id = ?", (org_id,))
    role = org_role(db, org_id, principal.user_id) if row is not None else None
    if row is None or role is None:
        raise NotFound("Organization not found")
    if manage and role not in ORG_MANAGERS:
        raise Forbidden(f"Your role in this organization ({role}) cannot do this: owner or admin required")
    return row, role


def project_role(db: Db, project_id: str, user_id: int) -> str | None:
    roles = [r["role"] for r in db.all(
        "SELECT role FROM dl_project_members WHERE project_id = ? AND user_id = ? "
        "UNION ALL SELECT pg.role FROM dl_group_members gm JOIN dl_project_groups pg "
        "ON pg.group_id = gm.group_id AND pg.project_id = ? WHERE gm.user_id = ?",
        (project_id, user_id, project_id, user_id))]
    return max(roles, key=lambda r: _RANK.get(r, 0)) if roles else None


def project_of(db: Db, project_id: str, principal: Principal, *, need: tuple[str, ...] = ()) -> tuple[Any, str]:
    """The project row and the caller's effective role; 404 unless visible, 403 unless the role
    is one of `need` (when given)."""
    row = db.one("SELECT * FROM dl_projects WHERE id = ?", (project_id,)) if project_id else None
    role = project_role(db, project_id, principal.user_id) if row is not None else None
    if row is None or role is None:
        raise NotFound("Project not found")
    if need and role not in need:
        raise Forbidden(f"Your role in this project ({role}) cannot do this: {' or '.join(need)} required")
    return row, role


def visible_project_ids(db: Db, user_id: int) -> list[str]:
    """The projects a user sees, in creation order."""
    rows = db.all(
        "SELECT p.id FROM dl_projects p WHERE p.id IN ("
        "SELECT project_id FROM dl_project_members WHERE user_id = ? "
        "UNION SELECT pg.project_id FROM dl_group_members gm JOIN dl_project_groups pg ON pg.group_id = gm.group_id "
        "WHERE gm.user_id = ?) ORDER BY p.seq", (user_id, user_id))
    return [r["id"] for r in rows]
