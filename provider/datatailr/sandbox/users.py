"""Users, groups and memberships (contract §2.1, §2.2, §8).

Wire shapes follow what the SDK consumes: a user's `groups` is a comma-separated string of
group names, a group's `members` are user ids. Anyone signed in may read; only members of
`admin` may change users, groups or memberships. Ids come from monotonic counters in `meta`
and are never reused, so a stale id in some client's state (or in a session token) can never
name a newcomer. A password change ends the user's other sessions and removing a user ends all
of them; a disabled user's sessions are refused until it is enabled again (see auth.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from .acl import require_admin
from .auth import (
    ADMIN_GROUP,
    DEFAULT_GROUP,
    SESSION_SECONDS,
    Principal,
    Session,
    current_principal,
    current_session,
    end_sessions,
    hash_password,
    verify_password,
)
from .config import SandboxConfig
from .errors import BadRequest, Conflict, NotFound
from .fields import Paging, Text, principal_name, unquote
from .listing import Column, apply_listing, sql_listing
from .store import Db
from .wire import WireModel, ok, sdk_list

ROOT_USER = "root"
ADMIN_USER_ID = 1000
FIRST_USER_ID = 1001
FIRST_GROUP_ID = 100
BUILTIN_GROUPS = {DEFAULT_GROUP: 100, ADMIN_GROUP: 101, "node_admin": 102}
USER_FIELDS = ("name", "email", "is_system", "user_id", "first_name", "last_name")
GROUP_FIELDS = ("name", "group_id")
# Every filter/sort field is a column served unchanged (`is_system` as a bool: sortable in SQL,
# filtered in Python), so `ls` pages in SQL.
USER_COLUMNS = {"name": Column("name"), "email": Column("email"), "is_system": Column("is_system", bool),
                "user_id": Column("user_id", int), "first_name": Column("first_name"),
                "last_name": Column("last_name")}
GROUP_COLUMNS = {"name": Column("name"), "group_id": Column("group_id", int)}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

router = APIRouter(tags=["users"])


# ── seed ─────────────────────────────────────────────────────────────────────────────────────


def seed(db: Db, config: SandboxConfig, admin_password: str) -> None:
    """Built-in groups, `root` (id 0, system, no password) and the configured administrator,
    whose password is reset to the configured one at every start."""
    for name, gid in BUILTIN_GROUPS.items():
        db.execute("INSERT OR IGNORE INTO groups(group_id, name) VALUES (?, ?)", (gid, name))
    if config.admin_user != ROOT_USER:
        db.execute(
            "INSERT OR IGNORE INTO users(user_id, name, first_name, is_system) "
            "VALUES (0, ?, 'Super User', 1)",
            (ROOT_USER,),
        )
    uid = db.scalar("SELECT user_id FROM users WHERE name = ?", (config.admin_user,))
    if uid is None:
        taken = db.scalar("SELECT 1 FROM users WHERE user_id = ?", (ADMIN_USER_ID,))
        uid = _allocate(db, "user") if taken else ADMIN_USER_ID
        db.execute(
            "INSERT INTO users(user_id, name, first_name, last_name, email) VALUES (?, ?, ?, ?, ?)",
            (uid, config.admin_user, "Sandbox", "Administrator", f"{config.admin_user}@{config.public_domain}"),
        )
    db.execute(
        "UPDATE users SET password_hash = ?, disabled = 0, is_system = 0 WHERE user_id = ?",
        (hash_password(admin_password), uid),
    )
    for group in (ADMIN_GROUP, DEFAULT_GROUP):
        db.execute(
            "INSERT OR IGNORE INTO memberships(group_id, user_id) VALUES (?, ?)",
            (BUILTIN_GROUPS[group], uid),
        )


def _allocate(db: Db, kind: str) -> int:
    table, column, first = ("users", "user_id", FIRST_USER_ID) if kind == "user" else ("groups", "group_id", FIRST_GROUP_ID)
    return db.allocate(f"next_{kind}_id", table, column, first)


# ── reading ──────────────────────────────────────────────────────────────────────────────────


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    """`IN (...)` lists short enough for SQLite's limit on parameters."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _group_names_by_user(db: Db, user_ids: list[int] | None = None) -> dict[int, list[str]]:
    """Each user's group names, sorted. Only the given users' memberships are read (through
    `memberships_by_user`), so a page or one user costs its own groups, not every membership;
    `None` (the whole list) reads every membership once."""
    names: dict[int, list[str]] = {}
    sql = "SELECT m.user_id, g.name FROM memberships m JOIN groups g USING (group_id)"
    batches = [(sql + " ORDER BY g.name", ())] if user_ids is None else [
        (f"{sql} WHERE m.user_id IN ({','.join('?' * len(chunk))}) ORDER BY g.name", tuple(chunk))
        for chunk in _chunks(user_ids)
    ]
    for query, params in batches:
        for row in db.all(query, params):
            names.setdefault(row["user_id"], []).append(row["name"])
    return names


def _user_dicts(db: Db, rows: list[Any], *, everyone: bool = False) -> list[dict[str, Any]]:
    """The wire form of `users` rows (`everyone`: the rows are the whole table)."""
    groups = _group_names_by_user(db, None if everyone else [row["user_id"] for row in rows])
    return [
        {
            "name": row["name"],
            "user_id": row["user_id"],
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "email": row["email"],
            "groups": ",".join(groups.get(row["user_id"], [])),
            "is_system": bool(row["is_system"]),
            # Not read by the SDK; the sandbox exposes it so that disable/enable is observable.
            "disabled": bool(row["disabled"]),
        }
        for row in rows
    ]


def _user_dict(db: Db, user_id: int) -> dict[str, Any]:
    return _user_dicts(db, db.all("SELECT * FROM users WHERE user_id = ?", (user_id,)))[0]


def _members_by_group(db: Db, group_ids: list[int] | None = None) -> dict[int, list[int]]:
    """Each group's member ids, sorted: only the given groups' memberships (primary key), or
    every membership for `None`."""
    members: dict[int, list[int]] = {}
    batches = [("SELECT group_id, user_id FROM memberships ORDER BY user_id", ())] if group_ids is None else [
        (f"SELECT group_id, user_id FROM memberships WHERE group_id IN ({','.join('?' * len(chunk))}) "
         "ORDER BY user_id", tuple(chunk))
        for chunk in _chunks(group_ids)
    ]
    for query, params in batches:
        for row in db.all(query, params):
            members.setdefault(row["group_id"], []).append(row["user_id"])
    return members


def _group_dicts(db: Db, rows: list[Any], *, everyone: bool = False) -> list[dict[str, Any]]:
    """The wire form of `groups` rows (`everyone`: the rows are the whole table)."""
    members = _members_by_group(db, None if everyone else [row["group_id"] for row in rows])
    return [{"group_id": row["group_id"], "name": row["name"], "members": members.get(row["group_id"], [])}
            for row in rows]


def _group_dict(db: Db, group_id: int) -> dict[str, Any]:
    return _group_dicts(db, db.all("SELECT group_id, name FROM groups WHERE group_id = ?", (group_id,)))[0]


def _listing(db: Db, q: Paging, table: str, fields: tuple[str, ...], columns: dict[str, Column], key: str,
             to_dicts: Callable[..., list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A page of `user ls` or `group ls`: in SQL when the filter and sort allow it (`sql_listing`;
    the page's rows, then the memberships of those rows only), else every row filtered, sorted
    and paged in Python. Both serve the same page; both list everything, since reads are open."""
    plan = sql_listing(filter=q.filter, sort=q.sort, offset=q.offset, batch_size=q.batch_size,
                       fields=fields, columns=columns, base=(key,))
    if plan is None:
        rows = to_dicts(db, db.all(f"SELECT * FROM {table} ORDER BY {key}"), everyone=True)
        page, _ = apply_listing(rows, filter=q.filter, sort=q.sort, offset=q.offset, batch_size=q.batch_size,
                                fields=fields)
        return page
    rows = db.all(f"SELECT * FROM {table} WHERE {plan.where} {plan.order_by} LIMIT ? OFFSET ?",
                  (*plan.params, *plan.window))
    return to_dicts(db, rows)


def _user(db: Db, username: str) -> Any:
    row = db.one("SELECT * FROM users WHERE name = ?", (username,))
    if row is None:
        raise NotFound(f"User {username!r} not found")
    return row


def _group_id(db: Db, name: str) -> int:
    gid = db.scalar("SELECT group_id FROM groups WHERE name = ?", (name,))
    if gid is None:
        raise NotFound(f"Group {name!r} not found")
    return gid


def _group_ids_for_add(db: Db, names: list[str]) -> list[int]:
    """Unknown group names in a user's own definition are bad input (400), not a lookup miss."""
    ids = []
    for name in names:
        gid = db.scalar("SELECT group_id FROM groups WHERE name = ?", (name,))
        if gid is None:
            raise BadRequest(f"Unknown group {name!r}")
        ids.append(gid)
    return ids


def _user_ids(db: Db, names: list[str]) -> list[int]:
    if not names:
        raise BadRequest("No usernames given")
    return [_user(db, principal_name(name, "username"))["user_id"] for name in names]


def _admin_name(request: Request) -> str:
    return request.app.state.config.admin_user


def _guard_builtin_user(request: Request, username: str, action: str) -> None:
    if username in (ROOT_USER, _admin_name(request)):
        raise Conflict(f"Cannot {action} {username!r}: it is a built-in sandbox user")


def _guard_admin_membership(request: Request, db: Db, group_id: int, user_ids: list[int]) -> None:
    admin_id = db.scalar("SELECT user_id FROM users WHERE name = ?", (_admin_name(request),))
    if group_id == BUILTIN_GROUPS[ADMIN_GROUP] and admin_id in user_ids:
        raise Conflict(f"Cannot remove {_admin_name(request)!r} from {ADMIN_GROUP!r}: it is the sandbox administrator")


def _none(value: str | None) -> str | None:
    """The SDK stringifies an omitted option as "None" (contract §7.2.1)."""
    return None if value is None or value.strip() == "None" else value


def _email(value: str | None) -> str | None:
    value = _none(value)
    if value is not None and value != "" and not _EMAIL.fullmatch(value):
        raise BadRequest(f"Invalid email {value!r}")
    return value


def _mimic_list(db: Db, value: str | None) -> str | None:
    names = sdk_list(_none(value))
    for name in names:
        _user(db, principal_name(name, "username"))
    return None if _none(value) is None else ",".join(names)


# ── request models ───────────────────────────────────────────────────────────────────────────

Bounded = Annotated[Text, Field(max_length=256)]


class UserQuery(WireModel):
    username: Text


class SignedUserQuery(WireModel):
    username: Text | None = None


class GroupQuery(WireModel):
    group_name: Text


class UserAdd(WireModel):
    username: Text
    first_name: Bounded | None = Field(default=None, alias="first-name")
    last_name: Bounded | None = Field(default=None, alias="last-name")
    email: Bounded | None = None
    password: Bounded | None = None
    groups: Text | None = None
    users_can_mimic: Text | None = Field(default=None, alias="users-can-mimic")
    system: bool = False
    json_enrichened: bool = Field(default=False, alias="json-enrichened")


class UserModify(WireModel):
    username: Text
    first_name: Bounded | None = Field(default=None, alias="first-name")
    last_name: Bounded | None = Field(default=None, alias="last-name")
    name: Text | None = None
    groups: Text | None = None
    users: Text | None = None
    password: Bounded | None = None
    email: Bounded | None = None
    system: bool | None = None
    disabled: bool | None = None


class UserName(WireModel):
    username: Text


class UserGroup(WireModel):
    username: Text
    group_name: Text


class PasswordChange(WireModel):
    current_password: Bounded
    new_password: Bounded


class GroupName(WireModel):
    group_name: Text
    json_enrichened: bool = Field(default=False, alias="json-enrichened")


class GroupUsers(WireModel):
    group_name: Text
    username: Text


class GroupRename(WireModel):
    group_name: Text
    new_group_name: Text


# ── user routes ──────────────────────────────────────────────────────────────────────────────


@router.get("/user/ls")
def user_ls(request: Request, q: Annotated[Paging, Query()]) -> dict:
    with request.app.state.store.read() as db:
        return ok(_listing(db, q, "users", USER_FIELDS, USER_COLUMNS, "user_id", _user_dicts))


@router.get("/user/get")
def user_get(request: Request, q: Annotated[UserQuery, Query()]) -> dict:
    name = principal_name(q.username, "username")
    with request.app.state.store.read() as db:
        return ok(_user_dicts(db, [_user(db, name)])[0])


@router.get("/user/exists")
def user_exists(request: Request, q: Annotated[UserQuery, Query()]) -> dict:
    with request.app.state.store.read() as db:
        return ok(db.scalar("SELECT 1 FROM users WHERE name = ?", (unquote(q.username),)) is not None)


@router.get("/user/signed-user")
def user_signed(
    request: Request, q: Annotated[SignedUserQuery, Query()], who: Principal = Depends(current_principal)
) -> dict:
    """A signed `{name, expiry, signature}`; signing for someone else is an admin's privilege."""
    name = who.name if _none(q.username) in (None, "") else principal_name(q.username or "", "username")
    with request.app.state.store.read() as db:
        if name != who.name:
            require_admin(who, "sign other users")
            _user(db, name)
    expiry = (datetime.now(UTC) + timedelta(seconds=SESSION_SECONDS)).isoformat(timespec="seconds")
    signature = request.app.state.sessions.sign(f"{name}\n{expiry}".encode())
    return ok({"name": name, "expiry": expiry, "signature": signature})


@router.post("/user/add")
def user_add(request: Request, body: UserAdd, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "add users")
    name = principal_name(body.username, "username")
    email = _email(body.email)
    password = _none(body.password)
    if body.system and password:
        raise BadRequest("System users have no password")
    password_hash = hash_password(password) if password else None  # outside the write lock
    with request.app.state.store.tx() as db:
        if db.scalar("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise Conflict(f"User {name!r} already exists")
        group_ids = _group_ids_for_add(db, sdk_list(_none(body.groups)) or [DEFAULT_GROUP])
        mimic = _mimic_list(db, body.users_can_mimic) or ""
        uid = _allocate(db, "user")
        db.execute(
            "INSERT INTO users(user_id, name, first_name, last_name, email, is_system, password_hash, mimic) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (uid, name, _none(body.first_name) or "", _none(body.last_name) or "", email or "",
             int(body.system), password_hash, mimic),
        )
        db.executemany(
            "INSERT OR IGNORE INTO memberships(group_id, user_id) VALUES (?, ?)", [(g, uid) for g in group_ids]
        )
        created = _user_dict(db, uid)
    return ok(created if body.json_enrichened else f"User {name} added")


@router.put("/user/modify")
def user_modify(
    request: Request, body: UserModify, who: Principal = Depends(current_principal),
    session: Session = Depends(current_session),
) -> dict:
    """A new password (or becoming a system user, which removes it) ends the user's sessions,
    except the caller's own."""
    require_admin(who, "modify users")
    name = principal_name(body.username, "username")
    password = _none(body.password)
    password_hash = hash_password(password) if password else None
    email = _email(body.email)
    with request.app.state.store.tx() as db:
        row = _user(db, name)
        uid = row["user_id"]
        if name == ROOT_USER:
            raise Conflict(f"Cannot modify {ROOT_USER!r}: it is a built-in sandbox user")
        is_admin_user = name == _admin_name(request)
        system = bool(row["is_system"]) if body.system is None else body.system
        updates: dict[str, Any] = {}
        if _none(body.first_name) is not None:
            updates["first_name"] = body.first_name
        if _none(body.last_name) is not None:
            updates["last_name"] = body.last_name
        if email is not None:
            if system:
                raise BadRequest("The email can only be changed for regular users")
            updates["email"] = email
        if password_hash is not None:
            if system:
                raise BadRequest("The password can only be changed for regular users")
            updates["password_hash"] = password_hash
        if body.system is not None and body.system != bool(row["is_system"]):
            if is_admin_user:
                raise Conflict(f"Cannot make the sandbox administrator {name!r} a system user")
            updates["is_system"] = int(body.system)
            if body.system:
                updates["password_hash"] = None  # system users cannot log in
        if body.disabled is not None:
            if is_admin_user and body.disabled:
                raise Conflict(f"Cannot disable the sandbox administrator {name!r}")
            updates["disabled"] = int(body.disabled)
        if _none(body.users) is not None:
            updates["mimic"] = _mimic_list(db, body.users)
        new_name = _none(body.name)
        new_name = name if new_name is None else principal_name(new_name, "name")
        if new_name != name:
            if not row["is_system"]:
                raise BadRequest("Renaming is only possible for system users")
            if db.scalar("SELECT 1 FROM users WHERE name = ?", (new_name,)):
                raise Conflict(f"User {new_name!r} already exists")
            updates["name"] = new_name
        if _none(body.groups) is not None:
            group_ids = _group_ids_for_add(db, sdk_list(body.groups))
            if is_admin_user and BUILTIN_GROUPS[ADMIN_GROUP] not in group_ids:
                raise Conflict(f"Cannot remove the sandbox administrator {name!r} from {ADMIN_GROUP!r}")
            db.execute("DELETE FROM memberships WHERE user_id = ?", (uid,))
            db.executemany(
                "INSERT OR IGNORE INTO memberships(group_id, user_id) VALUES (?, ?)", [(g, uid) for g in group_ids]
            )
        if updates:
            assignments = ", ".join(f"{column} = ?" for column in updates)
            db.execute(f"UPDATE users SET {assignments} WHERE user_id = ?", (*updates.values(), uid))
        if "password_hash" in updates:
            end_sessions(db, uid, keep=session)
    return ok(f"User {name} modified")


def _set_disabled(request: Request, body: UserName, who: Principal, disabled: bool) -> dict:
    require_admin(who, "disable or enable users")
    name = principal_name(body.username, "username")
    if disabled:
        _guard_builtin_user(request, name, "disable")
    with request.app.state.store.tx() as db:
        db.execute("UPDATE users SET disabled = ? WHERE user_id = ?", (int(disabled), _user(db, name)["user_id"]))
    return ok(f"User {name} {'disabled' if disabled else 'enabled'}")


@router.post("/user/disable")
def user_disable(request: Request, body: UserName, who: Principal = Depends(current_principal)) -> dict:
    return _set_disabled(request, body, who, True)


@router.post("/user/enable")
def user_enable(request: Request, body: UserName, who: Principal = Depends(current_principal)) -> dict:
    return _set_disabled(request, body, who, False)


@router.post("/user/add-to-group")
def user_add_to_group(request: Request, body: UserGroup, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "change group membership")
    name = principal_name(body.username, "username")
    group = principal_name(body.group_name, "group name")
    with request.app.state.store.tx() as db:
        _add_members(db, _group_id(db, group), [_user(db, name)["user_id"]])
    return ok(f"User {name} added to group {group}")


@router.post("/user/rm-from-group")
def user_rm_from_group(request: Request, body: UserGroup, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "change group membership")
    name = principal_name(body.username, "username")
    group = principal_name(body.group_name, "group name")
    with request.app.state.store.tx() as db:
        _remove_members(request, db, _group_id(db, group), [_user(db, name)["user_id"]])
    return ok(f"User {name} removed from group {group}")


@router.put("/user/change-password")
def user_change_password(
    request: Request, body: PasswordChange, who: Principal = Depends(current_principal),
    session: Session = Depends(current_session),
) -> dict:
    """Self-service: the only user write a non-admin may make. Ends the caller's other sessions;
    the one making the change stays signed in."""
    with request.app.state.store.read() as db:
        stored = db.scalar("SELECT password_hash FROM users WHERE user_id = ?", (who.user_id,))
    if not verify_password(body.current_password, stored):
        raise BadRequest("The current password is wrong")
    if not body.new_password:
        raise BadRequest("The new password must not be empty")
    new_hash = hash_password(body.new_password)
    with request.app.state.store.tx() as db:
        db.execute("UPDATE users SET password_hash = ? WHERE user_id = ?", (new_hash, who.user_id))
        end_sessions(db, who.user_id, keep=session)
    return ok("Password changed")


@router.post("/user/logout")
def user_logout(request: Request, session: Session = Depends(current_session)) -> dict:
    """End the caller's session (the token sent); the user's other sessions stay."""
    request.app.state.sessions.revoke(session)
    return ok("Logged out")


@router.delete("/user/rm")
def user_rm(request: Request, body: UserName, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "remove users")
    name = principal_name(body.username, "username")
    _guard_builtin_user(request, name, "remove")
    with request.app.state.store.tx() as db:
        uid = _user(db, name)["user_id"]
        db.execute("DELETE FROM acl_entries WHERE principal = ?", (uid,))
        db.execute("DELETE FROM users WHERE user_id = ?", (uid,))  # memberships and sessions cascade
    return ok(f"User {name} removed")


# ── group routes ─────────────────────────────────────────────────────────────────────────────


def _add_members(db: Db, group_id: int, user_ids: list[int]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO memberships(group_id, user_id) VALUES (?, ?)", [(group_id, u) for u in user_ids]
    )


def _remove_members(request: Request, db: Db, group_id: int, user_ids: list[int]) -> None:
    _guard_admin_membership(request, db, group_id, user_ids)
    db.executemany(
        "DELETE FROM memberships WHERE group_id = ? AND user_id = ?", [(group_id, u) for u in user_ids]
    )


@router.get("/group/ls")
def group_ls(request: Request, q: Annotated[Paging, Query()]) -> dict:
    with request.app.state.store.read() as db:
        return ok(_listing(db, q, "groups", GROUP_FIELDS, GROUP_COLUMNS, "group_id", _group_dicts))


@router.get("/group/get")
def group_get(request: Request, q: Annotated[GroupQuery, Query()]) -> dict:
    name = principal_name(q.group_name, "group name")
    with request.app.state.store.read() as db:
        return ok(_group_dict(db, _group_id(db, name)))


@router.get("/group/exists")
def group_exists(request: Request, q: Annotated[GroupQuery, Query()]) -> dict:
    with request.app.state.store.read() as db:
        return ok(db.scalar("SELECT 1 FROM groups WHERE name = ?", (unquote(q.group_name),)) is not None)


@router.post("/group/add")
def group_add(request: Request, body: GroupName, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "add groups")
    name = principal_name(body.group_name, "group name")
    with request.app.state.store.tx() as db:
        if db.scalar("SELECT 1 FROM groups WHERE name = ?", (name,)):
            raise Conflict(f"Group {name!r} already exists")
        gid = _allocate(db, "group")
        db.execute("INSERT INTO groups(group_id, name) VALUES (?, ?)", (gid, name))
        created = _group_dict(db, gid)
    return ok(created if body.json_enrichened else f"Group {name} added")


@router.post("/group/add-users")
def group_add_users(request: Request, body: GroupUsers, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "change group membership")
    name = principal_name(body.group_name, "group name")
    with request.app.state.store.tx() as db:
        _add_members(db, _group_id(db, name), _user_ids(db, sdk_list(body.username)))
    return ok(f"Users added to group {name}")


@router.delete("/group/rm-users")
def group_rm_users(request: Request, body: GroupUsers, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "change group membership")
    name = principal_name(body.group_name, "group name")
    with request.app.state.store.tx() as db:
        _remove_members(request, db, _group_id(db, name), _user_ids(db, sdk_list(body.username)))
    return ok(f"Users removed from group {name}")


@router.put("/group/rename")
def group_rename(request: Request, body: GroupRename, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "rename groups")
    name = principal_name(body.group_name, "group name")
    new_name = principal_name(body.new_group_name, "new group name")
    if name in BUILTIN_GROUPS:
        raise Conflict(f"Cannot rename {name!r}: it is a built-in group")
    with request.app.state.store.tx() as db:
        gid = _group_id(db, name)
        if new_name != name and db.scalar("SELECT 1 FROM groups WHERE name = ?", (new_name,)):
            raise Conflict(f"Group {new_name!r} already exists")
        db.execute("UPDATE groups SET name = ? WHERE group_id = ?", (new_name, gid))
    return ok(f"Group {name} renamed to {new_name}")


@router.delete("/group/rm")
def group_rm(request: Request, body: GroupName, who: Principal = Depends(current_principal)) -> dict:
    require_admin(who, "remove groups")
    name = principal_name(body.group_name, "group name")
    if name in BUILTIN_GROUPS:
        raise Conflict(f"Cannot remove {name!r}: it is a built-in group")
    with request.app.state.store.tx() as db:
        gid = _group_id(db, name)
        db.execute("DELETE FROM acl_entries WHERE principal = ?", (-gid,))
        db.execute("DELETE FROM groups WHERE group_id = ?", (gid,))  # memberships cascade
    return ok(f"Group {name} removed")
