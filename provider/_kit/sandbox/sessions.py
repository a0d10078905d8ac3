"""Who is calling: server-side sessions and API keys, as FastAPI dependencies.

A session token is an HS256 JWT carrying the user id (`uid`, also `sub`), a random session id
(`sid`) and whatever claims the platform's SDK reads. A token is accepted only while

- its signature checks out with the signing key, which is *not* in the database: it lives in an
  owner-only `<db>.signing-key` file, or is derived from a secret given at start
  (`--session-secret`), or (for `:memory:` databases) only in memory;
- its session is in the `sessions` table, which keeps a SHA-256 of the id, never the id;
- the session's user id is the token's, and the platform still knows that user (`load`).

So a session can be revoked (logout deletes its row, `end_sessions` all of a user's), and a copy
of the database alone can neither forge nor replay a session. With a key file (or the same
secret) a restart keeps every live session.

Platforms whose clients send a long-lived key instead (an API key as a header, as Basic user
name, as a bearer or `token` credential) use `ApiKeyAuth`; the platform looks the key up, so it
decides how keys are stored (`key_hash` keeps them out of the database in clear).

Both schemes are callables taking only the request, so FastAPI adds nothing to the OpenAPI
document for them, and both raise `Unauthorized`, so the 401 leaves in the platform's envelope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from fastapi import Depends, Request

from .errors import Unauthorized
from .private import load_or_create_key
from .store import Db, Store, store_of

__all__ = ["ApiKeyAuth", "SESSION_SECONDS", "Session", "SessionAuth", "Sessions", "basic_credentials", "bearer_token",
           "end_sessions", "hash_password", "key_file", "key_hash", "session_of", "sessions_ddl", "signing_key",
           "verify_password"]

SESSION_SECONDS = 12 * 3600
ISSUER = "platforge-sandbox"

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


# ── secrets at rest ──────────────────────────────────────────────────────────────────────────


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


def key_hash(key: str) -> str:
    """What to store of an API key: keys are random and long, so a plain SHA-256 suffices (no
    salt, no stretching) and stays a cheap indexed lookup."""
    return hashlib.sha256(key.encode()).hexdigest()


# ── the signing key ──────────────────────────────────────────────────────────────────────────


def key_file(db_path: str) -> Path:
    return Path(db_path + ".signing-key")


def signing_key(secret: str | None, db_path: str, label: bytes) -> bytes:
    """The session signing key: derived from `secret` if one is given (`label` keeps two
    platforms started with the same secret from accepting each other's tokens), else random and
    kept in the owner-only `<db>.signing-key` file (only in memory for a `:memory:` database)."""
    if secret is not None:
        return hmac.new(secret.encode(), label, hashlib.sha256).digest()
    if db_path == ":memory:":
        return secrets.token_bytes(32)
    return load_or_create_key(key_file(db_path))


# ── sessions ─────────────────────────────────────────────────────────────────────────────────


def sessions_ddl(owner: str | None = None) -> str:
    """The `sessions` table. `owner` (such as `users(user_id)`) makes a user's removal remove its
    sessions by cascade, so no code path can forget to."""
    reference = f" REFERENCES {owner} ON DELETE CASCADE" if owner else ""
    return f"""
CREATE TABLE IF NOT EXISTS sessions (
    session_hash TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL{reference},
    created      INTEGER NOT NULL,
    expires      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id);
"""


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    user_id: int
    session_hash: str


class Sessions:
    """Issues, checks and revokes session tokens."""

    def __init__(self, store: Store, key: bytes, *, issuer: str = ISSUER, lifetime: int = SESSION_SECONDS) -> None:
        self.store = store
        self._key = key
        self.issuer = issuer
        self.lifetime = lifetime

    def derived_key(self, purpose: bytes) -> bytes:
        """A key for another use (signing something for the platform), never the signing key."""
        return hmac.new(self._key, purpose, hashlib.sha256).digest()

    def create(self, user_id: int, claims: Mapping[str, Any] | None = None) -> str:
        """A new session for a user; its token, which carries `claims` too. Expired sessions are
        purged on the way."""
        now = int(time.time())
        session_id = secrets.token_urlsafe(32)
        with self.store.tx(essential=True) as db:
            db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            db.execute(
                "INSERT INTO sessions(session_hash, user_id, created, expires) VALUES (?, ?, ?, ?)",
                (_session_hash(session_id), user_id, now, now + self.lifetime),
            )
        payload = {
            **(claims or {}),
            "sub": str(user_id),
            "uid": user_id,
            "sid": session_id,
            "iss": self.issuer,
            "iat": now,
            "exp": now + self.lifetime,
        }
        return jwt.encode(payload, self._key, algorithm="HS256")

    def decode(self, token: str) -> Session:
        """The session a token names, checked for signature and expiry (not yet for liveness)."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], issuer=self.issuer,
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


# ── credentials in a request ─────────────────────────────────────────────────────────────────


def _authorization(request: Request, scheme: str) -> str | None:
    header = request.headers.get("authorization", "")
    prefix = scheme + " "
    if header[: len(prefix)].lower() == prefix:
        return header[len(prefix):].strip()
    return None


def bearer_token(request: Request) -> str | None:
    return _authorization(request, "bearer") or None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(user, password) from `Authorization: Basic`; None without one. ValueError if malformed,
    so the platform words the refusal."""
    encoded = _authorization(request, "basic")
    if encoded is None:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("malformed Basic credentials") from exc
    username, sep, password = decoded.partition(":")
    if not sep:
        raise ValueError("malformed Basic credentials")
    return username, password


class SessionAuth:
    """A session scheme as a FastAPI dependency: the session token from a cookie or a bearer
    header, checked against `app.state.sessions` and the store; `load` turns the session's user
    id into the platform's principal (None: that user is gone or disabled). The messages are the
    platform's, since its users read them."""

    def __init__(
        self,
        load: Callable[[Db, int], Any | None],
        *,
        cookie: str | None = None,
        bearer: bool = True,
        missing: str = "Not authenticated: log in first",
        ended: str = "Session ended - please log in again",
        gone: str = "Session user no longer exists or is disabled",
    ) -> None:
        self.load = load
        self.cookie = cookie
        self.bearer = bearer
        self.missing, self.ended, self.gone = missing, ended, gone

    def token(self, request: Request) -> str | None:
        if self.cookie is not None:
            token = request.cookies.get(self.cookie)
            if token:
                return token
        return bearer_token(request) if self.bearer else None

    def __call__(self, request: Request) -> Any:
        token = self.token(request)
        if not token:
            raise Unauthorized(self.missing)
        session = request.app.state.sessions.decode(token)
        with store_of(request).read() as db:
            live = Sessions.is_live(db, session)
            principal = self.load(db, session.user_id) if live else None
        if not live:
            raise Unauthorized(self.ended)
        if principal is None:
            raise Unauthorized(self.gone)
        request.state.session = session
        return principal


def session_of(auth: SessionAuth) -> Callable[..., Session]:
    """A dependency for the caller's session (to end it, or to keep it while ending the user's
    others). It depends on `auth`, so the session is there, and FastAPI runs `auth` only once
    per request however many routes' dependencies name it."""

    def current_session(request: Request, _: Any = Depends(auth)) -> Session:
        session: Session = request.state.session
        return session

    return current_session


class ApiKeyAuth:
    """An API-key scheme as a FastAPI dependency. The key may come in a header (`headers`, such
    as `X-API-Key`), as an `Authorization` credential under one of `schemes` (`bearer`,
    `token`), or as the Basic user name with an empty password (`basic=True`, as DSS clients
    send it). `lookup` finds the principal for a key (None: unknown or revoked)."""

    def __init__(
        self,
        lookup: Callable[[Db, str], Any | None],
        *,
        headers: Iterable[str] = ("x-api-key",),
        schemes: Iterable[str] = ("bearer",),
        basic: bool = False,
        missing: str = "Not authenticated: an API key is required",
        invalid: str = "Invalid API key",
    ) -> None:
        self.lookup = lookup
        self.headers = tuple(h.lower() for h in headers)
        self.schemes = tuple(s.lower() for s in schemes)
        self.basic = basic
        self.missing, self.invalid = missing, invalid

    def key(self, request: Request) -> str | None:
        for name in self.headers:
            value = request.headers.get(name, "").strip()
            if value:
                return value
        for scheme in self.schemes:
            credential = _authorization(request, scheme)
            if credential:
                return credential
        if self.basic:
            try:
                credentials = basic_credentials(request)
            except ValueError as exc:
                raise Unauthorized(self.invalid) from exc
            if credentials is not None and credentials[0]:
                return credentials[0]
        return None

    def __call__(self, request: Request) -> Any:
        key = self.key(request)
        if not key:
            raise Unauthorized(self.missing)
        with store_of(request).read() as db:
            principal = self.lookup(db, key)
        if principal is None:
            raise Unauthorized(self.invalid)
        return principal
