"""The device login (contract §2 A1-A3, §3.2): how `datachain auth login` gets a token.

1. `POST /api/device-login` (no auth) opens a request and answers `device_code`, `user_code`,
   `verification_uri` and an absolute `token_uri` (§3.4 #5);
2. the client polls `POST {token_uri} {"code": device_code}`: 400 `{"detail":
   "authorization_pending"}` until someone approves, then `{"access_token": ...}` once;
3. `POST /api/device-logout` revokes the token that sends it.

On Studio a person approves in the browser. In the sandbox an authenticated caller approves with
`POST /api/sandbox/device-login {"user_code"}` (a route of the sandbox's own): the new token acts
as that caller's user, in the requested `team_names`, which must be teams the approving token
sees (none requested: exactly those), so that approving never widens anyone's access. Nothing is
granted without an approval, which anonymous callers cannot give. Codes are stored hashed and
expire after 15 minutes; at most `MAX_PENDING` requests wait at once (then 429), so anonymous
callers cannot fill the database.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from .accounts import issue_token
from .auth import Principal, current, key_hash, team_named
from .errors import BadRequest, NotFound, TooMany
from .store import Db, store_of
from .wire import bool_field, int_field, json_body, obj, reply, str_field, str_list_field

__all__ = ["public_router", "router"]

CODE_SECONDS = 15 * 60
MAX_PENDING = 100
_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"

public_router = APIRouter(tags=["auth"])
router = APIRouter(tags=["auth"])


def _user_code() -> str:
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    return code[:4] + "-" + code[4:]


def _prune(db: Db) -> None:
    db.execute("DELETE FROM st_device_logins WHERE expires <= ?", (time.time(),))


@public_router.post("/api/device-login")
async def device_login(request: Request) -> Any:
    body = obj(await json_body(request), "device login")
    what = "device login"
    str_field(body, "client_name", what, max_len=200)
    token_name = str_field(body, "token_name", what, max_len=200) or f"token-{secrets.token_hex(4)}"
    str_list_field(body, "scopes", what, max_items=20, max_len=50)  # accepted, not enforced (§5 #14)
    team_names = str_list_field(body, "team_names", what, max_items=100, max_len=100) or []
    days = int_field(body, "expires_in_days", what, low=1, high=3650)
    never = bool_field(body, "never_expires", what) or False
    bool_field(body, "all_teams", what)
    device_code, user_code = secrets.token_urlsafe(32), _user_code()
    now = time.time()
    with store_of(request).tx(essential=True) as db:
        _prune(db)
        if db.scalar("SELECT COUNT(*) FROM st_device_logins") >= MAX_PENDING:
            raise TooMany("Too many pending device logins; retry later")
        request_doc = {"token_name": token_name, "team_names": team_names, "expires_in_days": None if never else days or 365}
        db.execute("INSERT INTO st_device_logins(device_hash, user_code_hash, request, created, expires) "
                   "VALUES (?, ?, ?, ?, ?)", (key_hash(device_code), key_hash(user_code), json.dumps(request_doc), now,
                                              now + CODE_SECONDS))
    base = str(request.base_url).rstrip("/")
    return reply({"device_code": device_code, "user_code": user_code, "verification_uri": f"{base}/api/sandbox/device-login",
                  "token_uri": f"{base}/api/token", "token_name": token_name, "expires_in": CODE_SECONDS})


@public_router.post("/api/token")
async def device_token(request: Request) -> Any:
    body = obj(await json_body(request), "token request")
    code = str_field(body, "code", "token request", required=True, max_len=200)
    with store_of(request).tx(essential=True) as db:
        row = db.one("SELECT * FROM st_device_logins WHERE device_hash = ?", (key_hash(code),))
        if row is None:
            raise BadRequest("Unknown device code", kind="invalid_code")
        if row["expires"] <= time.time():
            db.execute("DELETE FROM st_device_logins WHERE device_hash = ?", (row["device_hash"],))
            raise BadRequest("This device code has expired", kind="authorization_expired")
        if row["user_id"] is None:
            raise BadRequest("The login has not been approved yet", kind="authorization_pending")
        doc = json.loads(row["request"])
        days = doc.get("expires_in_days")
        token = issue_token(db, row["user_id"], kind="device", name=doc["token_name"], teams=doc["team_ids"],
                            expires=None if days is None else time.time() + days * 86400)
        db.execute("DELETE FROM st_device_logins WHERE device_hash = ?", (row["device_hash"],))
    return reply({"access_token": token, "token_name": doc["token_name"]})


@router.post("/sandbox/device-login")
async def approve(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "approval")
    user_code = str_field(body, "user_code", "approval", required=True, max_len=50).strip().upper()
    with store_of(request).tx() as db:
        _prune(db)
        row = db.one("SELECT * FROM st_device_logins WHERE user_code_hash = ? AND user_id IS NULL", (key_hash(user_code),))
        if row is None:
            raise NotFound("No pending device login has this code")
        doc = json.loads(row["request"])
        names = doc["team_names"] or list(principal.teams)
        teams = [team_named(principal, name) for name in names]
        if not teams:
            raise BadRequest("The approving token sees no team")
        doc["team_ids"] = [t.team_id for t in teams]
        db.execute("UPDATE st_device_logins SET user_id = ?, request = ? WHERE device_hash = ?",
                   (principal.user_id, json.dumps(doc), row["device_hash"]))
    return reply({"ok": True, "token_name": doc["token_name"], "team_names": [t.name for t in teams]})


@router.post("/device-logout")
def device_logout(request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx(essential=True) as db:
        db.execute("DELETE FROM st_tokens WHERE token_hash = ?", (principal.token_hash,))
    return reply({"ok": True})
