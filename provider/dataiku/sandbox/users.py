"""Users and groups (`/admin/users/`, `/admin/groups/`): contract §1.2 User and Group, §2.1.

A user's password is write-only: scrypt-hashed at rest, never returned. User secrets and
per-connection credentials are sealed (`docs.seal`). Group membership lives in the user's
`groups` list on the wire and in `dss_memberships` in the database, so that removing a group
removes it from every user and a caller's groups are one index search away.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from ..._kit.sandbox.sessions import hash_password
from .auth import ABILITIES, ADMIN_GROUP, Principal, current, require_admin
from .docs import (
    bool_field,
    check_object,
    dict_field,
    full_list,
    route,
    seal,
    seal_value,
    str_field,
    str_list_field,
)
from .errors import BadRequest, Conflict, NotFound
from .store import Db, doc_of, now_ms, store_of, text_of
from .wire import flag, json_body, msg, name_of, reply

__all__ = ["DEFAULT_GROUP_DOC", "router", "seed"]

SOURCE_TYPES = ("LOCAL", "LDAP", "LOCAL_NO_AUTH", "AZURE_AD", "CUSTOM", "SAAS", "PAM")
USER_PROFILES = ("DATA_SCIENTIST", "DATA_ANALYST", "READER", "DESIGNER", "FULL_DESIGNER", "DATA_DESIGNER",
                 "AI_CONSUMER", "AI_ACCESS_USER", "ADVANCED_ANALYTICS_DESIGNER", "GOVERNANCE_MANAGER",
                 "PLATFORM_ADMIN", "VIEWER", "EXPLORER")
DEFAULT_GROUP_DOC: dict[str, Any] = {"admin": False, "ldapGroupNames": [], "azureADGroupNames": [],
                                     **{ability: False for ability in ABILITIES}}

router = APIRouter(tags=["users and groups"])


def _user_or_404(db: Db, login: str) -> Any:
    row = db.one("SELECT login, enabled, doc FROM dss_users WHERE login = ?", (login,))
    if row is None:
        raise NotFound(f"User {login} not found")
    return row


def _group_or_404(db: Db, name: str) -> Any:
    row = db.one("SELECT name, is_admin, doc FROM dss_groups WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"Group {name} not found")
    return row


def _user_groups(db: Db, login: str) -> set[str]:
    return {r["group_name"] for r in db.all("SELECT group_name FROM dss_memberships WHERE login = ?", (login,))}


def _user_view(db: Db, login: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The settings document: as stored, with `groups` as they are now (a removed group is gone)."""
    members = _user_groups(db, login)
    doc = dict(stored)
    doc["groups"] = [g for g in stored.get("groups", []) if g in members]
    return doc


def _list_item(doc: dict[str, Any]) -> dict[str, Any]:
    return {"login": doc["login"], "displayName": doc.get("displayName"), "groups": doc.get("groups", []),
            "sourceType": doc.get("sourceType"), "email": doc.get("email"), "userProfile": doc.get("userProfile"),
            "enabled": doc.get("enabled", True), "codeAllowed": True, "activeWebSocketSesssions": 0,
            "objectImgHash": 0}


def _check_groups(db: Db, groups: list[str], what: str) -> list[str]:
    seen: list[str] = []
    for name in groups:
        if db.scalar("SELECT 1 FROM dss_groups WHERE name = ?", (name,)) is None:
            raise BadRequest(f"Invalid {what}: group {name} does not exist")
        if name not in seen:
            seen.append(name)
    return seen


def _set_memberships(db: Db, login: str, groups: list[str]) -> None:
    db.execute("DELETE FROM dss_memberships WHERE login = ?", (login,))
    db.executemany("INSERT INTO dss_memberships(login, group_name) VALUES (?, ?)", [(login, g) for g in groups])


def _password(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Invalid {what}.password: expected a non-empty string or null")
    return hash_password(value)


def _check_user_doc(db: Db, doc: dict[str, Any], what: str) -> dict[str, Any]:
    """The user fields the sandbox knows, checked; secrets and credentials sealed."""
    str_field(doc, "displayName", what)
    str_field(doc, "email", what)
    str_field(doc, "userProfile", what, choices=USER_PROFILES)
    bool_field(doc, "enabled", what)
    for name in ("userProperties", "adminProperties", "preferences", "credentials"):
        dict_field(doc, name, what)
    groups = str_list_field(doc, "groups", what)
    out = dict(doc)
    if groups is not None:
        out["groups"] = _check_groups(db, groups, what)
    secrets_list = doc.get("secrets")
    if secrets_list is not None:
        if not isinstance(secrets_list, list) or not all(isinstance(s, dict) for s in secrets_list):
            raise BadRequest(f"Invalid {what}.secrets: expected a list of {{name, value}} objects")
        sealed = []
        for entry in secrets_list:
            str_field(entry, "name", f"{what}.secrets[]", optional=False, nullable=False)
            sealed.append({**entry, "value": seal_value(entry.get("value"))})
        out["secrets"] = sealed
    if "credentials" in doc:
        out["credentials"] = seal(doc["credentials"])
    out.pop("password", None)
    return out


@route(router, "GET", "/admin/users/")
def list_users(request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "list users")
    settings = flag(request, "includeSettings")
    with store_of(request).read() as db:
        rows = [_user_view(db, r["login"], doc_of(r["doc"])) for r in db.all("SELECT login, doc FROM dss_users")]
    items = rows if settings else [_list_item(doc) for doc in rows]
    return reply(full_list(items, "login"))


@route(router, "POST", "/admin/users/")
def create_user(request: Request, body: Any = Depends(json_body), principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "create users")
    what = "user"
    body = check_object(body, what)
    login = name_of(body.get("login"), "login")
    source = str_field(body, "sourceType", what, choices=SOURCE_TYPES, default="LOCAL")
    password_hash = _password(body.get("password"), what)
    with store_of(request).tx() as db:
        if db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (login,)) is not None:
            raise Conflict(f"User already exists: {login}")
        doc = _check_user_doc(db, body, what)
        doc = {"login": login, "displayName": "", "email": None, "sourceType": source, "userProfile": "DATA_SCIENTIST",
               "groups": [], "enabled": True, "userProperties": {}, "adminProperties": {}, "secrets": [],
               "credentials": {}, "preferences": {}, **{k: v for k, v in doc.items() if v is not None or k == "email"},
               "creationDate": now_ms()}
        doc["login"], doc["sourceType"] = login, source
        db.execute("INSERT INTO dss_users(login, enabled, password_hash, doc) VALUES (?, ?, ?, ?)",
                   (login, int(doc["enabled"]), password_hash, text_of(doc)))
        _set_memberships(db, login, doc["groups"])
    return msg(f"Created user {login}")


@route(router, "GET", "/admin/users/{login}")
def get_user(login: str, request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "read user settings")
    with store_of(request).read() as db:
        row = _user_or_404(db, login)
        return reply(_user_view(db, login, doc_of(row["doc"])))


@route(router, "PUT", "/admin/users/{login}")
def save_user(login: str, request: Request, body: Any = Depends(json_body),
              principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "edit users")
    what = "user"
    body = check_object(body, what)
    with store_of(request).tx() as db:
        stored = doc_of(_user_or_404(db, login)["doc"])
        if body.get("login", login) != login:
            raise BadRequest(f"Invalid user.login: a user's login cannot change (it is {login})")
        if body.get("sourceType", stored["sourceType"]) != stored["sourceType"]:
            raise BadRequest(f"Invalid user.sourceType: it cannot change (it is {stored['sourceType']})")
        password_hash = _password(body.get("password"), what) if "password" in body else None
        doc = _check_user_doc(db, body, what)
        doc.update(login=login, sourceType=stored["sourceType"], creationDate=stored.get("creationDate"))
        if "groups" not in doc:
            doc["groups"] = stored.get("groups", [])
            doc["groups"] = [g for g in doc["groups"] if g in _user_groups(db, login)]
        enabled = doc.get("enabled", stored.get("enabled", True))
        doc["enabled"] = enabled
        if enabled is False and principal.login == login:
            raise BadRequest("You cannot disable your own user")
        db.execute("UPDATE dss_users SET enabled = ?, doc = ? WHERE login = ?", (int(enabled), text_of(doc), login))
        if password_hash is not None:
            db.execute("UPDATE dss_users SET password_hash = ? WHERE login = ?", (password_hash, login))
        _set_memberships(db, login, doc["groups"])
    return msg(f"Edited user {login}")


@route(router, "DELETE", "/admin/users/{login}")
def delete_user(login: str, request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "delete users")
    allow_self = flag(request, "allowSelfDeletion")
    if principal.login == login and not allow_self:
        raise BadRequest(f"You cannot delete your own user {login} (allowSelfDeletion is false)")
    with store_of(request).tx() as db:
        _user_or_404(db, login)
        db.execute("DELETE FROM dss_users WHERE login = ?", (login,))
    return Response(status_code=204)


# ── groups ───────────────────────────────────────────────────────────────────────────────────


def _check_group_doc(doc: dict[str, Any], what: str) -> None:
    str_field(doc, "description", what)
    bool_field(doc, "admin", what)
    for key, value in doc.items():
        if key.startswith("may") and value is not None and not isinstance(value, bool):
            raise BadRequest(f"Invalid {what}.{key}: expected true or false")
    for name in ("ldapGroupNames", "azureADGroupNames"):
        value = doc.get(name)
        # Older DSS answered a comma-separated string (contract §5, item 18): both are kept as sent.
        if value is not None and not isinstance(value, str) and \
                not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise BadRequest(f"Invalid {what}.{name}: expected a list of strings")


@route(router, "GET", "/admin/groups/")
def list_groups(request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "list groups")
    with store_of(request).read() as db:
        rows = [doc_of(r["doc"]) for r in db.all("SELECT doc FROM dss_groups")]
    return reply(full_list(rows, "name"))


@route(router, "POST", "/admin/groups/")
def create_group(request: Request, body: Any = Depends(json_body), principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "create groups")
    what = "group"
    body = check_object(body, what)
    name = name_of(body.get("name"), "group name")
    source = str_field(body, "sourceType", what, choices=SOURCE_TYPES, default="LOCAL")
    _check_group_doc(body, what)
    doc = {"name": name, "description": None, **DEFAULT_GROUP_DOC,
           **{k: v for k, v in body.items() if v is not None}, "sourceType": source}
    with store_of(request).tx() as db:
        if db.scalar("SELECT 1 FROM dss_groups WHERE name = ?", (name,)) is not None:
            raise Conflict(f"Group already exists: {name}")
        db.execute("INSERT INTO dss_groups(name, is_admin, doc) VALUES (?, ?, ?)",
                   (name, int(doc["admin"] is True), text_of(doc)))
    return msg(f"Created group {name}")


@route(router, "GET", "/admin/groups/{name}")
def get_group(name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "read groups")
    with store_of(request).read() as db:
        return reply(doc_of(_group_or_404(db, name)["doc"]))


@route(router, "PUT", "/admin/groups/{name}")
def save_group(name: str, request: Request, body: Any = Depends(json_body),
               principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "edit groups")
    what = "group"
    body = check_object(body, what)
    _check_group_doc(body, what)
    with store_of(request).tx() as db:
        stored = doc_of(_group_or_404(db, name)["doc"])
        if body.get("name", name) != name:
            raise BadRequest(f"Invalid group.name: a group's name cannot change (it is {name})")
        if body.get("sourceType", stored["sourceType"]) != stored["sourceType"]:
            raise BadRequest(f"Invalid group.sourceType: it cannot change (it is {stored['sourceType']})")
        doc = {**body, "name": name, "sourceType": stored["sourceType"]}
        doc.setdefault("admin", stored.get("admin", False))
        db.execute("UPDATE dss_groups SET is_admin = ?, doc = ? WHERE name = ?",
                   (int(doc["admin"] is True), text_of(doc), name))
    return reply(doc)


@route(router, "DELETE", "/admin/groups/{name}")
def delete_group(name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "delete groups")
    with store_of(request).tx() as db:
        _group_or_404(db, name)
        db.execute("DELETE FROM dss_groups WHERE name = ?", (name,))
    return Response(status_code=204)


def seed(db: Db, admin_user: str, admin_password: str | None) -> None:
    """The administrators group and the administrator, on first start only: later starts keep
    whatever the API made of them (a new `--admin-password` is applied, though)."""
    if db.scalar("SELECT 1 FROM dss_groups WHERE name = ?", (ADMIN_GROUP,)) is None:
        doc = {"name": ADMIN_GROUP, "description": "DSS administrators", "sourceType": "LOCAL",
               **DEFAULT_GROUP_DOC, "admin": True, **{ability: True for ability in ABILITIES}}
        db.execute("INSERT INTO dss_groups(name, is_admin, doc) VALUES (?, 1, ?)", (ADMIN_GROUP, text_of(doc)))
    if db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (admin_user,)) is None:
        doc = {"login": admin_user, "displayName": "Administrator", "email": None, "sourceType": "LOCAL",
               "userProfile": "DESIGNER", "groups": [ADMIN_GROUP], "enabled": True, "userProperties": {},
               "adminProperties": {}, "secrets": [], "credentials": {}, "preferences": {}, "creationDate": now_ms()}
        db.execute("INSERT INTO dss_users(login, enabled, password_hash, doc) VALUES (?, 1, NULL, ?)",
                   (admin_user, text_of(doc)))
        db.execute("INSERT OR IGNORE INTO dss_memberships(login, group_name) VALUES (?, ?)", (admin_user, ADMIN_GROUP))
    if admin_password:
        db.execute("UPDATE dss_users SET password_hash = ? WHERE login = ?", (hash_password(admin_password), admin_user))
