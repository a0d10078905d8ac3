"""Users, and the sandbox's own routes for what Dataloop does outside its API.

On Dataloop, people sign up (or are invited by e-mail) through the web console; the API only
names them by e-mail (contract §5.1). So the sandbox:

- creates a user without a password when an e-mail is first added to an org, group or project
  (an invitation): it exists, it can be given roles, but cannot log in;
- lets a superuser (the seeded administrator) create users with passwords, set a password, and
  create further organisations, under `/api/v1/sandbox/...` (routes Dataloop does not have, named
  so that they cannot clash with Dataloop's).

Ids on the wire are e-mails; inside, users have integer ids that are never reused, so that a
token of a removed user can never act as a newcomer with the same e-mail.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from ..._kit.sandbox.sessions import end_sessions, hash_password, verify_password
from .auth import Principal, current, user_json
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .store import Db, new_id, next_seq, now_ms, store_of
from .wire import email_of, json_body, name_field, obj, reply, str_field

__all__ = ["create_org", "ensure_user", "router", "seed", "set_password", "user_id_of"]

MIN_PASSWORD = 8

router = APIRouter(tags=["sandbox"])


def user_id_of(db: Db, email: str) -> int | None:
    value = db.scalar("SELECT user_id FROM dl_users WHERE email = ?", (email,))
    return None if value is None else int(value)


def ensure_user(db: Db, email: str, *, first_name: str = "", last_name: str = "") -> int:
    """The user with this e-mail, invited (no password) if new."""
    found = user_id_of(db, email)
    if found is not None:
        return found
    user_id = db.allocate("dl_next_user", "dl_users", "user_id", 1)
    stamp = now_ms()
    db.execute("INSERT INTO dl_users(user_id, email, first_name, last_name, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
               (user_id, email, first_name, last_name, stamp, stamp))
    return user_id


def set_password(db: Db, user_id: int, password: str) -> None:
    db.execute("UPDATE dl_users SET password_hash = ?, updated_ms = ? WHERE user_id = ?",
               (hash_password(password), now_ms(), user_id))


def create_org(db: Db, name: str, owner_id: int, owner_email: str) -> str:
    org_id = new_id()
    stamp = now_ms()
    db.execute("INSERT INTO dl_orgs(id, name, creator, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)",
               (org_id, name, owner_email, stamp, stamp))
    db.execute("INSERT INTO dl_org_members(org_id, user_id, role, created_ms, seq) VALUES (?, ?, 'owner', ?, ?)",
               (org_id, owner_id, stamp, next_seq(db)))
    return org_id


def seed(db: Db, *, email: str, display_name: str, password: str | None, org: str) -> None:
    """First start: the administrator (a superuser) and its organisation. Later starts: the
    administrator's password follows the one given (so that a restart with another
    `--admin-password` works), and nothing else changes."""
    user_id = ensure_user(db, email, first_name=display_name)
    db.execute("UPDATE dl_users SET superuser = 1 WHERE user_id = ?", (user_id,))
    if password:
        row = db.one("SELECT password_hash FROM dl_users WHERE user_id = ?", (user_id,))
        if row is None or not verify_password(password, row["password_hash"]):
            set_password(db, user_id, password)
    if db.get_meta("dl_seeded") is None:
        create_org(db, org, user_id, email)
        db.set_meta("dl_seeded", "1")


def _superuser(principal: Principal) -> None:
    if not principal.superuser:
        raise Forbidden("Only the sandbox administrator may manage users and organizations")


def _password(body: dict[str, Any]) -> str | None:
    password = body.get("password")
    if password is None:
        return None
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 1024:
        raise BadRequest(f"Invalid password: {MIN_PASSWORD} to 1024 characters required")
    return password


@router.post("/sandbox/users")
async def create_user(request: Request, principal: Principal = Depends(current)) -> Any:
    """`{email, password?, firstName?, lastName?}`: a user who can log in (409 if the e-mail has
    a password already; an invited user gets one)."""
    _superuser(principal)
    body = obj(await json_body(request), "user")
    email = email_of(body.get("email"))
    password = _password(body)
    first = str_field(body, "firstName", "user", max_len=200) or ""
    last = str_field(body, "lastName", "user", max_len=200) or ""
    with store_of(request).tx() as db:
        existing = db.one("SELECT user_id, password_hash FROM dl_users WHERE email = ?", (email,))
        if existing is not None and existing["password_hash"]:
            raise Conflict(f"User {email} already exists")
        user_id = ensure_user(db, email, first_name=first, last_name=last)
        db.execute("UPDATE dl_users SET first_name = ?, last_name = ? WHERE user_id = ?", (first, last, user_id))
        if password:
            set_password(db, user_id, password)
        return reply(user_json(db, user_id))


@router.put("/sandbox/users/{email}/password")
async def change_password(email: str, request: Request, principal: Principal = Depends(current)) -> Any:
    """A superuser sets anyone's password, a user their own; every other session of that user ends."""
    target = email_of(email)
    if target != principal.email:
        _superuser(principal)
    password = _password(obj(await json_body(request), "password change"))
    if password is None:
        raise BadRequest("Missing password")
    with store_of(request).tx() as db:
        user_id = user_id_of(db, target)
        if user_id is None:
            raise NotFound("User not found")
        set_password(db, user_id, password)
        end_sessions(db, user_id, keep=getattr(request.state, "session", None))
        db.execute("DELETE FROM dl_refresh_tokens WHERE user_id = ?", (user_id,))
    return reply({"email": target, "passwordChanged": True})


@router.post("/sandbox/orgs")
async def new_org(request: Request, principal: Principal = Depends(current)) -> Any:
    """`{name, owner?}`: another organisation (Dataloop's `Organizations.create` was removed)."""
    _superuser(principal)
    body = obj(await json_body(request), "organization")
    name = name_field(body, "name", "organization")
    owner = email_of(body["owner"], "owner") if body.get("owner") is not None else principal.email
    with store_of(request).tx() as db:
        owner_id = ensure_user(db, owner)
        org_id = create_org(db, name, owner_id, owner)
        row = db.one("SELECT * FROM dl_orgs WHERE id = ?", (org_id,))
        from .orgs import org_json

        return reply(org_json(request, db, row))
