"""Datatailr's sessions: Basic login sets the `X-Datatailr-Oidc-Data` cookie; `/api/*` needs a
valid one (or the same token as a bearer header).

The kit (`_kit/sandbox/sessions.py`) issues, checks and revokes the tokens; this module adds
what is Datatailr's: the cookie's name, the `preferred_username` claim the SDK reads, the
principal (a user with its groups, `admin` members being administrators), the login and logout
routes, and the wording of every refusal. A token is accepted only while its session is live
and its user exists and is enabled; a password change deletes the user's other sessions,
removing a user deletes all of them (a disabled user's are refused while it is disabled), and
because user ids are never reused a token can never speak for a newcomer who takes a removed
user's name.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response

from ..._kit.sandbox import sessions as kit
from ..._kit.sandbox.sessions import SESSION_SECONDS, Session, end_sessions, hash_password, verify_password
from .config import SandboxConfig
from .errors import Unauthorized
from .store import Db, Store
from .wire import ok

__all__ = ["ADMIN_GROUP", "COOKIE_NAME", "DEFAULT_GROUP", "SESSION_SECONDS", "Principal", "Session", "Sessions",
           "current_principal", "current_session", "end_sessions", "forget_legacy_key", "hash_password",
           "load_principal", "router", "signing_key", "verify_password"]

COOKIE_NAME = "X-Datatailr-Oidc-Data"
ADMIN_GROUP = "admin"
DEFAULT_GROUP = "dtusers"
KEY_LABEL = b"platforge-sandbox-datatailr/session-key/v1"


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


def signing_key(config: SandboxConfig) -> bytes:
    return kit.signing_key(config.session_secret, config.db_path, KEY_LABEL)


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


class Sessions(kit.Sessions):
    def sign(self, message: bytes) -> str:
        """An HMAC-SHA256 under a key derived from the signing key (for `user signed-user`)."""
        return hmac.new(self.derived_key(b"signed-user"), message, hashlib.sha256).hexdigest()

    def issue(self, username: str, user_id: int | None = None) -> str:
        """A new session for a user (looked up by name unless its id is given); its token."""
        if user_id is None:
            with self.store.read() as db:
                user_id = db.scalar("SELECT user_id FROM users WHERE name = ?", (username,))
            if user_id is None:
                raise Unauthorized(f"Unknown user {username!r}")
        return self.create(user_id, {"preferred_username": username})


#: FastAPI dependency: the authenticated caller, or 401.
current_principal = kit.SessionAuth(
    load_principal,
    cookie=COOKIE_NAME,
    missing="Not authenticated: log in first (POST /login)",
    ended="Session ended (logged out, password changed or user removed) - please log in again",
    gone="Session user no longer exists or is disabled",
)
#: FastAPI dependency: the caller's session (after authentication).
current_session = kit.session_of(current_principal)


def _basic_credentials(request: Request) -> tuple[str, str]:
    try:
        credentials = kit.basic_credentials(request)
    except ValueError as exc:
        raise Unauthorized("Login failed: malformed Basic credentials") from exc
    if credentials is None:
        raise Unauthorized("Login failed: HTTP Basic credentials are required")
    return credentials


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
    token = current_principal.token(request)
    if token:
        try:
            session = request.app.state.sessions.decode(token)
        except Unauthorized:
            session = None
        if session is not None:
            request.app.state.sessions.revoke(session)
    response.delete_cookie(COOKIE_NAME)
    return ok("Logged out")
