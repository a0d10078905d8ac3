"""Teams, users and tokens: what Studio manages outside its REST API.

Studio's API names users only by integer `user_id` and teams only by `team_name`; nothing creates
either (contract §1). The sandbox therefore seeds one team (`--team`), one administrator
(`--admin-user`, a superuser of the sandbox's own routes) and its token (`--token`), and gives
tests their own routes, under `/api/sandbox/` (a prefix Studio does not use), to add more:

- `POST /api/sandbox/teams {name}` (superuser): a team, with a default compute cluster; the
  caller becomes its admin;
- `POST /api/sandbox/users {username, email?, first_name?, last_name?, teams?, role?}`
  (superuser): a user, a member of `teams` (default: the caller's default team) with `role`
  (`member` or `admin`), and a fresh token for them, shown once;
- `POST /api/sandbox/tokens {user_id?, team_names?, name?}`: a new token for oneself (or, for a
  superuser, for anyone), optionally limited to some of the user's teams.

Tokens look like Studio's (`isat_` and 43 random characters) and are stored as SHA-256 hashes.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Principal, current, key_hash, team_of
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .store import Db, store_of, text_of
from .wire import created, int_field, json_body, obj, str_field, str_list_field

__all__ = ["DEFAULT_CLUSTER", "add_member", "ensure_team", "ensure_user", "issue_token", "router", "seed", "store_token"]

TEAM_ROLES = ("member", "admin")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}")
_TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

#: Every key `datachain job clusters` indexes (contract §1.7, §3.4 #3).
DEFAULT_CLUSTER: dict[str, Any] = {
    "name": "default", "status": "ACTIVE", "cloud_provider": "AWS", "cloud_credentials": None, "is_active": True,
    "default": True, "max_workers": 4, "active_workers": 0, "busy_workers": 0, "cloud_region": "us-east-1",
    "instance_type": None, "compute_class": None, "disk_size": None,
}

router = APIRouter(tags=["sandbox"])


def new_token() -> str:
    return "isat_" + secrets.token_urlsafe(32)


def ensure_team(db: Db, name: str) -> int:
    """The team with this name, created with its default cluster if new."""
    found = db.scalar("SELECT team_id FROM st_teams WHERE name = ?", (name,))
    if found is not None:
        return int(found)
    team_id = db.allocate("st_next_team", "st_teams", "team_id", 1)
    db.execute("INSERT INTO st_teams(team_id, name) VALUES (?, ?)", (team_id, name))
    cluster_id = db.allocate("st_next_cluster", "st_clusters", "id", 1)
    db.execute("INSERT INTO st_clusters(id, team_id, name, is_default, doc) VALUES (?, ?, 'default', 1, ?)",
               (cluster_id, team_id, text_of(DEFAULT_CLUSTER)))
    return team_id


def ensure_user(db: Db, username: str, email: str | None = None, *, first_name: str = "", last_name: str = "",
                superuser: bool = False) -> int:
    found = db.scalar("SELECT user_id FROM st_users WHERE username = ?", (username,))
    if found is not None:
        return int(found)
    user_id = db.allocate("st_next_user", "st_users", "user_id", 1)
    db.execute("INSERT INTO st_users(user_id, username, email, first_name, last_name, superuser) VALUES (?, ?, ?, ?, ?, ?)",
               (user_id, username, email or f"{username}@sandbox.local", first_name, last_name, int(superuser)))
    return user_id


def add_member(db: Db, team_id: int, user_id: int, role: str) -> None:
    db.execute("INSERT INTO st_team_members(team_id, user_id, role) VALUES (?, ?, ?) "
               "ON CONFLICT(team_id, user_id) DO UPDATE SET role = excluded.role", (team_id, user_id, role))


def store_token(db: Db, token: str, user_id: int, *, kind: str, name: str = "", teams: list[int] | None = None,
                default_team_id: int | None = None, expires: float | None = None) -> None:
    digest = key_hash(token)
    db.execute("INSERT INTO st_tokens(token_hash, user_id, kind, name, default_team_id, all_teams, created, expires) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (digest, user_id, kind, name, default_team_id, int(teams is None), time.time(), expires))
    for team_id in teams or ():
        db.execute("INSERT OR IGNORE INTO st_token_teams(token_hash, team_id) VALUES (?, ?)", (digest, team_id))


def issue_token(db: Db, user_id: int, *, kind: str = "user", name: str = "", teams: list[int] | None = None,
                default_team_id: int | None = None, expires: float | None = None) -> str:
    """A new token for a user; its secret is returned here and never again."""
    token = new_token()
    store_token(db, token, user_id, kind=kind, name=name, teams=teams,
                default_team_id=default_team_id if default_team_id is not None else (teams[0] if teams else None),
                expires=expires)
    return token


def seed(db: Db, *, team: str, admin_user: str, token: str) -> None:
    """Every start: the team, the administrator (admin of the team) and the token given. A token
    given at an earlier start and not now stops working, so changing `--token` revokes the old one."""
    team_id = ensure_team(db, team)
    user_id = ensure_user(db, admin_user, superuser=True)
    db.execute("UPDATE st_users SET superuser = 1 WHERE user_id = ?", (user_id,))
    add_member(db, team_id, user_id, "admin")
    digest = key_hash(token)
    db.execute("DELETE FROM st_tokens WHERE kind = 'bootstrap' AND token_hash != ?", (digest,))
    if db.scalar("SELECT 1 FROM st_tokens WHERE token_hash = ?", (digest,)) is None:
        store_token(db, token, user_id, kind="bootstrap", name="bootstrap", default_team_id=team_id)
    else:
        db.execute("UPDATE st_tokens SET user_id = ?, default_team_id = ? WHERE token_hash = ?", (user_id, team_id, digest))


def _superuser(principal: Principal) -> None:
    if not principal.superuser:
        raise Forbidden("Only the sandbox administrator may manage teams and users")


def team_ids(db: Db, names: list[str], what: str) -> list[int]:
    ids = []
    for name in names:
        found = db.scalar("SELECT team_id FROM st_teams WHERE name = ?", (name,))
        if found is None:
            raise BadRequest(f"Invalid {what}: team {name[:100]!r} does not exist")
        ids.append(int(found))
    return ids


def user_json(db: Db, user_id: int) -> dict[str, Any]:
    row = db.one("SELECT * FROM st_users WHERE user_id = ?", (user_id,))
    assert row is not None
    teams = [{"name": r["name"], "role": r["role"]} for r in db.all(
        "SELECT t.name, m.role FROM st_team_members m JOIN st_teams t ON t.team_id = m.team_id WHERE m.user_id = ? "
        "ORDER BY t.team_id", (user_id,))]
    return {"user_id": row["user_id"], "username": row["username"], "email": row["email"],
            "first_name": row["first_name"], "last_name": row["last_name"], "teams": teams}


@router.post("/sandbox/teams")
async def create_team(request: Request, principal: Principal = Depends(current)) -> Any:
    _superuser(principal)
    body = obj(await json_body(request), "team")
    name = str_field(body, "name", "team", required=True, max_len=100)
    if not _TEAM.fullmatch(name):
        raise BadRequest("Invalid team.name: 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit")
    with store_of(request).tx() as db:
        if db.scalar("SELECT 1 FROM st_teams WHERE name = ?", (name,)) is not None:
            raise Conflict(f"Team {name} already exists")
        team_id = ensure_team(db, name)
        add_member(db, team_id, principal.user_id, "admin")
    return created({"team_id": team_id, "name": name})


@router.post("/sandbox/users")
async def create_user(request: Request, principal: Principal = Depends(current)) -> Any:
    _superuser(principal)
    body = obj(await json_body(request), "user")
    username = str_field(body, "username", "user", required=True, max_len=100)
    if not _USERNAME.fullmatch(username):
        raise BadRequest("Invalid user.username: 1-100 letters, digits or '_.@+-', starting with a letter or digit")
    email = str_field(body, "email", "user", max_len=200)
    if email is not None and not re.fullmatch(r"[^@\s]{1,100}@[^@\s]{1,99}", email):
        raise BadRequest("Invalid user.email: an e-mail address is required")
    first = str_field(body, "first_name", "user", max_len=100) or ""
    last = str_field(body, "last_name", "user", max_len=100) or ""
    role = str_field(body, "role", "user", choices=TEAM_ROLES) or "member"
    names = str_list_field(body, "teams", "user", max_items=100, max_len=100)
    if names is None:
        names = [team_of(request, principal, body).name]
    with store_of(request).tx() as db:
        ids = team_ids(db, names, "user.teams")
        if db.scalar("SELECT 1 FROM st_users WHERE username = ?", (username,)) is not None:
            raise Conflict(f"User {username} already exists")
        if email is not None and db.scalar("SELECT 1 FROM st_users WHERE email = ?", (email,)) is not None:
            raise Conflict(f"A user with e-mail {email} already exists")
        user_id = ensure_user(db, username, email, first_name=first, last_name=last)
        for team_id in ids:
            add_member(db, team_id, user_id, role)
        token = issue_token(db, user_id, name="sandbox", default_team_id=ids[0] if ids else None)
        return created({**user_json(db, user_id), "token": token})


@router.post("/sandbox/tokens")
async def create_token(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "token")
    user_id = int_field(body, "user_id", "token")
    if user_id is None:
        user_id = principal.user_id
    elif user_id != principal.user_id:
        _superuser(principal)
    names = str_list_field(body, "team_names", "token", max_items=100, max_len=100)
    name = str_field(body, "name", "token", max_len=200) or ""
    with store_of(request).tx() as db:
        if db.scalar("SELECT 1 FROM st_users WHERE user_id = ?", (user_id,)) is None:
            raise NotFound(f"User {user_id} not found")
        teams = None
        if names is not None:
            teams = team_ids(db, names, "token.team_names")
            for team_id, team in zip(teams, names, strict=True):
                if db.scalar("SELECT 1 FROM st_team_members WHERE team_id = ? AND user_id = ?", (team_id, user_id)) is None:
                    raise BadRequest(f"Invalid token.team_names: user {user_id} is not a member of team {team}")
        token = issue_token(db, user_id, name=name, teams=teams)
    return created({"token": token, "user_id": user_id, "team_names": names})
