"""Projects and their documents (`/projects/{key}`, `/metadata`, `/settings`, `/permissions`,
`/variables/`): contract §1.2 Project, ProjectPermissions, ProjectVariables, §2.4.

Who may do what in a project follows its permissions document: the owner, global
administrators and groups (or users) granted `admin` may do everything, including changing the
permissions and deleting the project; `writeProjectContent` may change its documents and
scenarios; `readProjectContent` may read them. A project is listed to a caller with any grant
in it. A flag a grant omits is false (contract §1.2 ProjectPermissions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request

from . import futures
from .auth import Principal, current
from .docs import check_object, dict_field, full_list, route, str_field, tags_of
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .store import Db, doc_of, now_ms, store_of, text_of
from .wire import flag, json_body, msg, name_of, reply

__all__ = ["PROJECT_FLAGS", "Project", "load_project", "router"]

PROJECT_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")
PROJECT_FLAGS = ("admin", "readProjectContent", "writeProjectContent", "exportDatasetsData", "readDashboards",
                 "writeDashboards", "moderateDashboards", "runScenarios", "manageDashboardAuthorizations",
                 "manageExposedElements", "manageAdditionalDashboardUsers", "executeApp", "shareToWorkspaces")
DEFAULT_SETTINGS: dict[str, Any] = {
    "settings": {
        "codeEnvs": {"python": {"useBuiltinEnv": True, "mode": "INHERIT"}, "r": {"useBuiltinEnv": True, "mode": "INHERIT"}},
        "container": {"containerMode": "INHERIT"},
        "k8sCluster": {"clusterMode": "INHERIT"},
        "cluster": {"clusterMode": "INHERIT"},
    },
    "exposedObjects": {"objects": []},
}

router = APIRouter(tags=["projects"])


@dataclass
class Project:
    key: str
    owner: str
    created: int
    metadata: dict[str, Any]
    settings: dict[str, Any]
    permissions: dict[str, Any]
    variables: dict[str, Any]
    rights: frozenset[str]

    def summary(self) -> dict[str, Any]:
        return {"projectKey": self.key, "name": self.metadata.get("label", self.key), "ownerLogin": self.owner,
                "shortDesc": self.metadata.get("shortDesc", ""), "description": self.metadata.get("description", ""),
                "tags": self.metadata.get("tags", []), "creationTag": {"lastModifiedOn": self.created}}


def rights_of(principal: Principal, owner: str, permissions: dict[str, Any]) -> frozenset[str]:
    """`admin`, `write`, `read` and `see` (listed) for this caller in a project."""
    if principal.is_admin or (principal.login is not None and principal.login == owner):
        return frozenset({"admin", "write", "read", "see"})
    rights: set[str] = set()
    for grant in permissions.get("permissions") or ():
        if not isinstance(grant, dict):
            continue
        mine = grant.get("group") in principal.groups or \
            (principal.login is not None and grant.get("user") == principal.login)
        if not mine:
            continue
        if grant.get("admin") is True:
            rights |= {"admin", "write", "read"}
        if grant.get("writeProjectContent") is True:
            rights |= {"write", "read"}
        if grant.get("readProjectContent") is True:
            rights.add("read")
        if any(grant.get(f) is True for f in PROJECT_FLAGS):
            rights.add("see")
    return frozenset(rights | ({"see"} if rights else set()))


_WORDS = {"read": "read", "write": "modify", "admin": "administer"}


def load_project(db: Db, key: str, principal: Principal, need: str = "read") -> Project:
    row = db.one("SELECT * FROM dss_projects WHERE project_key = ?", (key,))
    if row is None:
        raise NotFound(f"Project {key} not found")
    permissions = doc_of(row["permissions"])
    rights = rights_of(principal, row["owner"], permissions)
    if need not in rights:
        raise Forbidden(f"Action forbidden: you may not {_WORDS.get(need, need)} project {key}")
    return Project(key, row["owner"], row["created"], doc_of(row["metadata"]), doc_of(row["settings"]), permissions,
                   doc_of(row["variables"]), rights)


def _check_grants(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(f"Invalid {what}: expected a list of grants")
    seen: set[tuple[str, str]] = set()
    for grant in value:
        if not isinstance(grant, dict):
            raise BadRequest(f"Invalid {what}: every grant is an object with a 'group' (or a 'user')")
        group, user = grant.get("group"), grant.get("user")
        if (group is None) == (user is None):
            raise BadRequest(f"Invalid {what}: every grant names exactly one of 'group' or 'user'")
        who = ("group", group) if group is not None else ("user", user)
        if not isinstance(who[1], str) or not who[1]:
            raise BadRequest(f"Invalid {what}: a grant's {who[0]} must be a non-empty string")
        if who in seen:
            raise BadRequest(f"Invalid {what}: {who[0]} {who[1]} is granted twice")
        seen.add(who)
        for name in PROJECT_FLAGS:
            if name in grant and not isinstance(grant[name], bool):
                raise BadRequest(f"Invalid {what}: {name} of {who[0]} {who[1]} must be true or false")
    return value


def _check_owner(db: Db, owner: Any, what: str) -> str:
    if not isinstance(owner, str) or not owner:
        raise BadRequest(f"Invalid {what}: the owner must be a user's login")
    if db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (owner,)) is None:
        raise BadRequest(f"Invalid {what}: user {owner} does not exist")
    return owner


def _check_metadata(doc: dict[str, Any], what: str) -> dict[str, Any]:
    label = str_field(doc, "label", what, nullable=False)
    if label is not None and not label.strip():
        raise BadRequest(f"Invalid {what}.label: must not be empty")
    str_field(doc, "description", what)
    str_field(doc, "shortDesc", what)
    custom = dict_field(doc, "custom", what)
    if custom is not None:
        dict_field(custom, "kv", f"{what}.custom")
    out = dict(doc)
    tags = tags_of(doc, what)
    if tags is not None:
        out["tags"] = tags
    return out


@route(router, "GET", "/projects/")
def list_projects(request: Request, principal: Principal = Depends(current)) -> Any:
    """Every project the caller may see; `?tags=a,b` keeps those with at least one of the tags."""
    wanted = {t.strip() for t in request.query_params.get("tags", "").split(",") if t.strip()}
    flag(request, "includeLocation")  # accepted; the sandbox has only the root folder
    with store_of(request).read() as db:
        rows = db.all("SELECT project_key, owner, created, metadata, permissions FROM dss_projects")
    items = []
    for row in rows:
        permissions = doc_of(row["permissions"])
        if "see" not in rights_of(principal, row["owner"], permissions):
            continue
        project = Project(row["project_key"], row["owner"], row["created"], doc_of(row["metadata"]), {}, permissions, {},
                          frozenset())
        items.append(project.summary())
    return reply(full_list(items, "projectKey", (lambda item: bool(wanted & set(item["tags"]))) if wanted else None))


@route(router, "POST", "/projects/")
def create_project(request: Request, body: Any = Depends(json_body), principal: Principal = Depends(current)) -> Any:
    if not principal.may("mayCreateProjects"):
        raise Forbidden("Action forbidden: you may not create projects (mayCreateProjects)")
    what = "project"
    body = check_object(body, what)
    folder = request.query_params.get("projectFolderId")
    if folder not in (None, "", "ROOT"):
        raise NotFound(f"Project folder {folder} not found (the sandbox has only ROOT)")
    key = name_of(body.get("projectKey"), "projectKey", pattern=PROJECT_KEY)
    name = str_field(body, "name", what, optional=False, nullable=False)
    if not name.strip():
        raise BadRequest("Invalid project.name: must not be empty")
    description = str_field(body, "description", what)
    grants = _check_grants(body.get("permissions") or [], "project.permissions")
    tags = tags_of(body, what) or []
    settings = dict_field(body, "settings", what, nullable=True)
    with store_of(request).tx() as db:
        owner = _check_owner(db, body.get("owner"), "project.owner")
        if not principal.is_admin and principal.login is not None and owner != principal.login:
            raise Forbidden("Action forbidden: you may create projects for yourself only")
        if db.scalar("SELECT 1 FROM dss_projects WHERE project_key = ?", (key,)) is not None:
            raise Conflict(f"Project already exists: {key}")
        metadata = {"label": name, "description": description or "", "shortDesc": "", "tags": tags,
                    "custom": {"kv": {}}, "checklists": {"checklists": []}}
        permissions = {"owner": owner, "permissions": grants, "additionalDashboardUsers": {"users": []},
                       "dashboardAuthorizations": {"allAuthorized": False, "authorizations": []}}
        db.execute(
            "INSERT INTO dss_projects(project_key, owner, created, metadata, settings, permissions, variables) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, owner, now_ms(), text_of(metadata), text_of({**DEFAULT_SETTINGS, **(settings or {})}),
             text_of(permissions), text_of({"standard": {}, "local": {}})))
    return msg(f"Created project {key}")


@route(router, "GET", "/projects/{key}")
def get_project(key: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        return reply(load_project(db, key, principal).summary())


@route(router, "DELETE", "/projects/{key}")
def delete_project(key: str, request: Request, principal: Principal = Depends(current)) -> Any:
    """Deleted at once; answered as a finished job (`wait=True`) or as its future (`wait=False`)."""
    wait = flag(request, "wait", default=True)
    for name in ("clearManagedDatasets", "clearOutputManagedFolders", "clearJobAndScenarioLogs",
                 "clearManagedKnowledgeBanks"):
        flag(request, name)
    result = {"projectKey": key, "deleted": True}
    with store_of(request).tx() as db:
        load_project(db, key, principal, "admin")
        db.execute("DELETE FROM dss_projects WHERE project_key = ?", (key,))
        if not wait:
            return reply(futures.start(db, principal.identity, f"Delete project {key}", 0, result))
    return reply({"hasResult": True, "alive": False, "result": result})


# ── documents ────────────────────────────────────────────────────────────────────────────────


def _save(db: Db, key: str, column: str, doc: Any) -> None:
    # `column` is one of this module's constants, never input.
    db.execute(f"UPDATE dss_projects SET {column} = ? WHERE project_key = ?", (text_of(doc), key))


@route(router, "GET", "/projects/{key}/metadata")
def get_metadata(key: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        return reply(load_project(db, key, principal).metadata)


@route(router, "PUT", "/projects/{key}/metadata")
def save_metadata(key: str, request: Request, body: Any = Depends(json_body),
                  principal: Principal = Depends(current)) -> Any:
    doc = _check_metadata(check_object(body, "metadata"), "metadata")
    with store_of(request).tx() as db:
        project = load_project(db, key, principal, "write")
        doc.setdefault("label", project.metadata.get("label", key))
        _save(db, key, "metadata", doc)
    return msg(f"Saved metadata of project {key}")


@route(router, "GET", "/projects/{key}/settings")
def get_settings(key: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        return reply(load_project(db, key, principal).settings)


@route(router, "PUT", "/projects/{key}/settings")
def save_settings(key: str, request: Request, body: Any = Depends(json_body),
                  principal: Principal = Depends(current)) -> Any:
    doc = check_object(body, "project settings")
    dict_field(doc, "settings", "project settings")
    exposed = dict_field(doc, "exposedObjects", "project settings")
    if exposed is not None and not isinstance(exposed.get("objects", []), list):
        raise BadRequest("Invalid project settings.exposedObjects.objects: expected a list")
    with store_of(request).tx() as db:
        load_project(db, key, principal, "admin")
        _save(db, key, "settings", doc)
    return msg(f"Saved settings of project {key}")


@route(router, "GET", "/projects/{key}/permissions")
def get_permissions(key: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        project = load_project(db, key, principal)
        return reply({**project.permissions, "owner": project.owner})


@route(router, "PUT", "/projects/{key}/permissions")
def save_permissions(key: str, request: Request, body: Any = Depends(json_body),
                     principal: Principal = Depends(current)) -> Any:
    what = "permissions"
    doc = check_object(body, what)
    if "permissions" in doc:
        _check_grants(doc["permissions"], "permissions.permissions")
    for name in ("additionalDashboardUsers", "dashboardAuthorizations"):
        dict_field(doc, name, what)
    with store_of(request).tx() as db:
        project = load_project(db, key, principal, "admin")
        owner = _check_owner(db, doc.get("owner", project.owner), "permissions.owner")
        doc = {**doc, "owner": owner}
        doc.setdefault("permissions", [])
        db.execute("UPDATE dss_projects SET owner = ?, permissions = ? WHERE project_key = ?",
                   (owner, text_of(doc), key))
    return msg(f"Saved permissions of project {key}")


@route(router, "GET", "/projects/{key}/variables/")
def get_variables(key: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        return reply(load_project(db, key, principal).variables)


@route(router, "PUT", "/projects/{key}/variables/")
def save_variables(key: str, request: Request, body: Any = Depends(json_body),
                   principal: Principal = Depends(current)) -> Any:
    """Both `standard` and `local` are required, as the SDK requires them (contract §1.2): a
    document missing one would silently empty it."""
    what = "project variables"
    doc = check_object(body, what)
    for name in ("standard", "local"):
        if name not in doc:
            raise BadRequest(f"Invalid {what}: '{name}' is required (send back the document you read)")
        dict_field(doc, name, what)
    with store_of(request).tx() as db:
        load_project(db, key, principal, "write")
        _save(db, key, "variables", doc)
    return msg(f"Saved variables of project {key}")
