"""Sessions: Basic login sets the `X-Datatailr-Oidc-Data` cookie; `/api/*` needs a valid one.

The cookie is an HS256 JWT whose payload carries `preferred_username` (the SDK reads it). The
signing key lives in the database, so sessions survive a restart of the same sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

import jwt
from fastapi import APIRouter, Request, Response

from .errors import Unauthorized
from .store import Db, Store
from .wire import ok

COOKIE_NAME = "X-Datatailr-Oidc-Data"
SESSION_SECONDS = 12 * 3600
ADMIN_GROUP = "admin"
DEFAULT_GROUP = "dtusers"

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_b64, digest_b64 = stored.split("$", 2)
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


@dataclass(frozen=True)
class Principal:
    """The signed-in user of a request, with what permission checks need."""

    user_id: int
    name: str
    group_ids: frozenset[int] = field(default_factory=frozenset)
    is_admin: bool = False

    def principal_ids(self) -> set[int]:
        """The ids this caller matches in an ACL: its user id and its negated group ids."""
        return {self.user_id} | {-gid for gid in self.group_ids}


def load_principal(db: Db, username: str) -> Principal | None:
    row = db.one("SELECT user_id, name, disabled FROM users WHERE name = ?", (username,))
    if row is None or row["disabled"]:
        return None
    groups = db.all(
        "SELECT g.group_id, g.name FROM memberships m JOIN groups g USING (group_id) "
        "WHERE m.user_id = ?",
        (row["user_id"],),
    )
    return Principal(
        user_id=row["user_id"],
        name=row["name"],
        group_ids=frozenset(g["group_id"] for g in groups),
        is_admin=any(g["name"] == ADMIN_GROUP for g in groups),
    )


class Sessions:
    """Issues and checks session tokens with a per-database signing key."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.tx() as db:
            key = db.get_meta("jwt_key")
            if key is None:
                key = secrets.token_urlsafe(32)
                db.set_meta("jwt_key", key)
        self._key = key

    def issue(self, username: str) -> str:
        now = int(time.time())
        claims = {
            "preferred_username": username,
            "sub": username,
            "iss": "platforge-sandbox",
            "iat": now,
            "exp": now + SESSION_SECONDS,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def username(self, token: str) -> str:
        try:
            claims = jwt.decode(token, self._key, algorithms=["HS256"], options={"require": ["exp"]})
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Session expired - please log in again") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid session token") from exc
        name = claims.get("preferred_username")
        if not isinstance(name, str) or not name:
            raise Unauthorized("Invalid session token")
        return name


def token_from_request(request: Request) -> str | None:
    token = request.cookies.get(COOKIE_NAME)
    if token:
        return token
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller, or 401."""
    state = request.app.state
    token = token_from_request(request)
    if not token:
        raise Unauthorized("Not authenticated: log in first (POST /login)")
    username = state.sessions.username(token)
    with state.store.read() as db:
        principal = load_principal(db, username)
    if principal is None:
        raise Unauthorized("Session user no longer exists or is disabled")
    return principal


def _basic_credentials(request: Request) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        raise Unauthorized("Login failed: HTTP Basic credentials are required")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unauthorized("Login failed: malformed Basic credentials") from exc
    username, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized("Login failed: malformed Basic credentials")
    return username, password


router = APIRouter()


@router.post("/login", tags=["auth"])
def login(request: Request, response: Response) -> dict:
    """Exchange Basic credentials for a session cookie (`?response_type=id_token` is accepted)."""
    username, password = _basic_credentials(request)
    state = request.app.state
    with state.store.read() as db:
        row = db.one("SELECT password_hash, disabled FROM users WHERE name = ?", (username,))
    if row is None or row["disabled"] or not verify_password(password, row["password_hash"]):
        raise Unauthorized("Login failed: invalid username or password.")
    token = state.sessions.issue(username)
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax", max_age=SESSION_SECONDS)
    return ok({"id_token": token, "preferred_username": username})


@router.post("/logout", tags=["auth"])
def logout(response: Response) -> dict:
    response.delete_cookie(COOKIE_NAME)
    return ok("Logged out")
