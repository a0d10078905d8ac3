"""Sessions: Basic login sets the `X-Datatailr-Oidc-Data` cookie; `/api/*` needs a valid one.

The cookie is an HS256 JWT whose payload carries `preferred_username` (the SDK reads it), the
user id (`uid`, also `sub`) and a random session id (`sid`). A token is accepted only while

- its signature checks out with the signing key, which is *not* in the database: it lives in an
  owner-only `<db>.signing-key` file, or is derived from a secret given at start
  (`--session-secret`), or (for `:memory:` databases) only in memory;
- its session is in the `sessions` table, which keeps a SHA-256 of the id, never the id;
- the session's user id is the token's, and that user exists and is enabled.

So a session can be revoked: logout deletes it, a password change deletes the user's other
sessions, removing a user deletes all of them (a disabled user's are refused while it is
disabled), and because user ids are never reused a token can never speak for a newcomer who
takes a removed user's name. A copy of the database alone can neither forge nor replay a
session. With a key file (or the same secret) a restart keeps every live session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from fastapi import APIRouter, Depends, Request, Response

from ..._kit.sandbox.private import load_or_create_key
from .config import SandboxConfig
from .errors import Unauthorized
from .store import Db, Store
from .wire import ok

COOKIE_NAME = "X-Datatailr-Oidc-Data"
SESSION_SECONDS = 12 * 3600
ISSUER = "platforge-sandbox"
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


def load_principal(db: Db, user_id: int) -> Principal | None:
    row = db.one("SELECT user_id, name, disabled FROM users WHERE user_id = ?", (user_id,))
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


# ── the signing key ──────────────────────────────────────────────────────────────────────────


def key_file(db_path: str) -> Path:
    return Path(db_path + ".signing-key")


def signing_key(config: SandboxConfig) -> bytes:
    """The session signing key: derived from `session_secret` if one is given, else random and
    kept in the owner-only `<db>.signing-key` file (only in memory for a `:memory:` database)."""
    if config.session_secret is not None:
        return hmac.new(config.session_secret.encode(), b"platforge-sandbox-datatailr/session-key/v1",
                        hashlib.sha256).digest()
    if config.db_path == ":memory:":
        return secrets.token_bytes(32)
    return load_or_create_key(key_file(config.db_path))


def forget_legacy_key(store: Store) -> None:
    """Older sandboxes kept the signing key in `meta`, readable by anyone who could read the
    file. Remove it (overwriting its bytes) so that tokens it signed stop working."""
    with store.tx() as db:
        if db.get_meta("jwt_key") is None:
            return
        db.execute("PRAGMA secure_delete = ON")
        try:
            db.execute("DELETE FROM meta WHERE key = 'jwt_key'")
        finally:
            db.execute("PRAGMA secure_delete = OFF")
    store.checkpoint()


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


# ── sessions ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Session:
    user_id: int
    session_hash: str


class Sessions:
    """Issues, checks and revokes session tokens."""

    def __init__(self, store: Store, key: bytes) -> None:
        self.store = store
        self._key = key

    def sign(self, message: bytes) -> str:
        """An HMAC-SHA256 under a key derived from the signing key (for `user signed-user`)."""
        derived = hmac.new(self._key, b"signed-user", hashlib.sha256).digest()
        return hmac.new(derived, message, hashlib.sha256).hexdigest()

    def issue(self, username: str, user_id: int | None = None) -> str:
        """A new session for a user; its token. Expired sessions are purged on the way."""
        now = int(time.time())
        session_id = secrets.token_urlsafe(32)
        with self.store.tx(essential=True) as db:
            if user_id is None:
                user_id = db.scalar("SELECT user_id FROM users WHERE name = ?", (username,))
                if user_id is None:
                    raise Unauthorized(f"Unknown user {username!r}")
            db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            db.execute(
                "INSERT INTO sessions(session_hash, user_id, created, expires) VALUES (?, ?, ?, ?)",
                (_session_hash(session_id), user_id, now, now + SESSION_SECONDS),
            )
        claims = {
            "preferred_username": username,
            "sub": str(user_id),
            "uid": user_id,
            "sid": session_id,
            "iss": ISSUER,
            "iat": now,
            "exp": now + SESSION_SECONDS,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def decode(self, token: str) -> Session:
        """The session a token names, checked for signature and expiry (not yet for liveness)."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], issuer=ISSUER,
                options={"require": ["exp", "uid", "sid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Session expired - please log in again") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid session token") from exc
        user_id, session_id = claims.get("uid"), claims.get("sid")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(session_id, str) or not session_id:
            raise Unauthorized("Invalid session token")
        return Session(user_id, _session_hash(session_id))

    @staticmethod
    def is_live(db: Db, session: Session) -> bool:
        return db.scalar(
            "SELECT 1 FROM sessions WHERE session_hash = ? AND user_id = ? AND expires > ?",
            (session.session_hash, session.user_id, int(time.time())),
        ) is not None

    def revoke(self, session: Session) -> None:
        with self.store.tx(essential=True) as db:
            db.execute("DELETE FROM sessions WHERE session_hash = ?", (session.session_hash,))


def end_sessions(db: Db, user_id: int, keep: Session | None = None) -> None:
    """End every session of a user, except `keep` (the caller's own, for a self-service change)."""
    keep_hash = keep.session_hash if keep is not None and keep.user_id == user_id else ""
    db.execute("DELETE FROM sessions WHERE user_id = ? AND session_hash != ?", (user_id, keep_hash))


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
    session = state.sessions.decode(token)
    with state.store.read() as db:
        live = Sessions.is_live(db, session)
        principal = load_principal(db, session.user_id) if live else None
    if not live:
        raise Unauthorized("Session ended (logged out, password changed or user removed) - please log in again")
    if principal is None:
        raise Unauthorized("Session user no longer exists or is disabled")
    request.state.session = session
    return principal


def current_session(request: Request, _: Principal = Depends(current_principal)) -> Session:
    """FastAPI dependency: the caller's session (after authentication)."""
    return request.state.session


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
        row = db.one("SELECT user_id, password_hash, disabled FROM users WHERE name = ?", (username,))
    if row is None or row["disabled"] or not verify_password(password, row["password_hash"]):
        raise Unauthorized("Login failed: invalid username or password.")
    token = state.sessions.issue(username, row["user_id"])
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax", max_age=SESSION_SECONDS)
    return ok({"id_token": token, "preferred_username": username})


@router.post("/logout", tags=["auth"])
def logout(request: Request, response: Response) -> dict:
    """End the session of the token sent, if any, and clear the cookie."""
    token = token_from_request(request)
    if token:
        try:
            session = request.app.state.sessions.decode(token)
        except Unauthorized:
            session = None
        if session is not None:
            request.app.state.sessions.revoke(session)
    response.delete_cookie(COOKIE_NAME)
    return ok("Logged out")
