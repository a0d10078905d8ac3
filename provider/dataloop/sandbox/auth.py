"""Who is calling: Dataloop's JWTs, signed by the sandbox itself (contract §3.1).

`POST /token?default` exchanges user credentials (`{"username", "password", "type":
"user_credentials"}`, what `dl.login_m2m` sends) or a refresh token (`{"type": "refresh_token",
"refresh_token"}`, what dtlpy's expiry gate sends) for `{"id_token", "refresh_token"}`.

An id token is the kit's session token: an HS256 JWT with the user's `email` (which `dl.info()`
reads) and `exp` (which dtlpy's client-side expiry gate reads), signed with the sandbox's key (an
owner-only `<db>.signing-key` file, or derived from `--session-secret`). The real client never
checks a signature (it decodes with `verify_signature: False`), so it would take any token; the
sandbox does check: a token it did not sign (`alg: none`, another key, another algorithm),
an expired one, a malformed one, or one whose session or user is gone is a 401.

Refresh tokens are random, kept in the database as SHA-256 hashes only, valid for 30 days and
reusable (dtlpy keeps sending the one it has: it never stores a new one).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request

from ..._kit.sandbox.sessions import SessionAuth, Sessions, hash_password, verify_password
from .errors import BadRequest, Unauthorized
from .store import Db, store_of
from .wire import email_of, json_body, obj, reply

__all__ = ["REFRESH_SECONDS", "Principal", "current", "issue_tokens", "load_principal", "public_router", "router",
           "user_json"]

REFRESH_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    superuser: bool = False


def load_principal(db: Db, user_id: int) -> Principal | None:
    row = db.one("SELECT user_id, email, superuser FROM dl_users WHERE user_id = ?", (user_id,))
    if row is None:
        return None
    return Principal(row["user_id"], row["email"], bool(row["superuser"]))


current = SessionAuth(
    load_principal,
    missing="Missing authorization: send 'Authorization: Bearer <jwt>' (POST /token?default gives one)",
    ended="Token revoked - please log in again",
    gone="The token's user no longer exists",
)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_tokens(request: Request | Any, user_id: int, email: str, *, refresh: bool = True) -> dict[str, str]:
    """A new id token (and refresh token) for a user. `request` may be the app itself."""
    app = getattr(request, "app", request)
    sessions: Sessions = app.state.sessions
    tokens = {"id_token": sessions.create(user_id, {"email": email, "name": email})}
    tokens["access_token"] = tokens["id_token"]
    if refresh:
        token = secrets.token_urlsafe(32)
        now = int(time.time())
        with app.state.store.tx(essential=True) as db:
            db.execute("DELETE FROM dl_refresh_tokens WHERE expires <= ?", (now,))
            db.execute("INSERT INTO dl_refresh_tokens(token_hash, user_id, expires) VALUES (?, ?, ?)",
                       (_hash(token), user_id, now + REFRESH_SECONDS))
        tokens["refresh_token"] = token
    return tokens


public_router = APIRouter(tags=["auth"])


@public_router.post("/token")
async def token(request: Request) -> Any:
    """`?default` (or any query) is accepted: dtlpy always sends it."""
    body = obj(await json_body(request), "token request")
    kind = body.get("type", "user_credentials")
    if kind == "refresh_token":
        value = body.get("refresh_token")
        if not isinstance(value, str) or not value:
            raise BadRequest("Missing refresh_token")
        with store_of(request).read() as db:
            row = db.one("SELECT u.user_id, u.email FROM dl_refresh_tokens r JOIN dl_users u ON u.user_id = r.user_id "
                         "WHERE r.token_hash = ? AND r.expires > ?", (_hash(value), int(time.time())))
        if row is None:
            raise Unauthorized("Invalid or expired refresh token")
        return reply(issue_tokens(request, row["user_id"], row["email"], refresh=False))
    if kind != "user_credentials":
        raise BadRequest(f"Unsupported token request type {str(kind)[:40]!r}: expected user_credentials or refresh_token")
    username = body.get("username", body.get("email"))
    password = body.get("password")
    if not isinstance(password, str) or not isinstance(username, str):
        raise BadRequest("username and password are required")
    try:
        email = email_of(username, "username")
    except BadRequest as exc:
        raise Unauthorized("Wrong email or password") from exc
    with store_of(request).read() as db:
        row = db.one("SELECT user_id, email, password_hash FROM dl_users WHERE email = ?", (email,))
    # A hash is computed even for an unknown user, so that timing does not tell who exists.
    stored = row["password_hash"] if row is not None else None
    valid = verify_password(password, stored or _DUMMY_HASH)
    if row is None or not stored or not valid:
        raise Unauthorized("Wrong email or password")
    return reply(issue_tokens(request, row["user_id"], row["email"]))


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def user_json(db: Db, user_id: int) -> dict[str, Any]:
    """The APIUser shape (contract §1.2): `id` is the e-mail (§5.1)."""
    row = db.one("SELECT * FROM dl_users WHERE user_id = ?", (user_id,))
    assert row is not None
    orgs = [r["org_id"] for r in db.all("SELECT org_id FROM dl_org_members WHERE user_id = ? ORDER BY seq", (user_id,))]
    return {"id": row["email"], "email": row["email"], "username": row["email"], "firstName": row["first_name"],
            "lastName": row["last_name"], "name": f"{row['first_name']} {row['last_name']}".strip() or row["email"],
            "avatar": None, "type": "human", "org": orgs[0] if orgs else None, "orgs": orgs,
            "createdAt": row["created_ms"], "updatedAt": row["updated_ms"]}


router = APIRouter(tags=["auth"])


@router.get("/users/me")
def me(request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        return reply(user_json(db, principal.user_id))
