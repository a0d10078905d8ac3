"""Who is calling (contract §3.1, WIRE.md §1-3): Firebase's token exchange, and the ID tokens
every other route requires.

- F1 `POST /securetoken/v1/token?key=<api key>` trades the sandbox's refresh token for an ID
  token, with Google's answer and error shapes. The refresh token and the API key are compared
  by their SHA-256 (the only form the database keeps), in constant time.
- ID tokens are HS256 JWTs the sandbox signs with a key derived from `<db>.signing-key` (0600,
  outside the database; in memory for `:memory:`) and the refresh token's hash, carrying
  `user_id`, `sub`, `iss`, `aud`, `iat` and `exp`. Only tokens it signed are accepted: the
  algorithm is pinned (so `alg: none` and every other algorithm fail), the signature, the
  expiry, the issuer, the audience and the user are all checked. When the sandbox is restarted
  with a different refresh token the signing key changes, so every token issued under the old
  one stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..._kit.sandbox.body import check_json, parse_json
from ..._kit.sandbox.sessions import bearer_token, key_hash
from .errors import FIREBASE, BadRequest, Unauthorized
from .store import Db

__all__ = ["Caller", "Tokens", "current", "router", "seed_credentials"]

ISSUER_PREFIX = "https://securetoken.google.com/"
LEEWAY = 30  # seconds of clock skew tolerated on iat/exp
INVALID = "invalid token"

router = APIRouter(tags=["token exchange (F1)"])


@dataclass(frozen=True)
class Caller:
    user_id: str


class Tokens:
    """Signs and checks the sandbox's ID tokens."""

    def __init__(self, key: bytes, user_id: str, project: str, lifetime: int) -> None:
        self._key = key
        self.user_id = user_id
        self.project = project
        self.issuer = ISSUER_PREFIX + project
        self.lifetime = lifetime

    def issue(self) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.project, "auth_time": now, "user_id": self.user_id, "sub": self.user_id,
                  "iat": now, "exp": now + self.lifetime, "jti": secrets.token_urlsafe(12),
                  "firebase": {"identities": {}, "sign_in_provider": "password"}}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def check(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "HS256":
                raise Unauthorized(INVALID)
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=self.project, issuer=self.issuer,
                                leeway=LEEWAY, options={"require": ["exp", "iat", "sub", "user_id", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise Unauthorized(INVALID) from exc
        if claims.get("user_id") != self.user_id or claims.get("sub") != self.user_id:
            raise Unauthorized(INVALID)
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or iat > time.time() + LEEWAY:
            raise Unauthorized(INVALID)
        return Caller(self.user_id)


def current(request: Request) -> Caller:
    """The dependency every proxy, ops and `/_sandbox/` route runs first."""
    token = bearer_token(request)
    if not token or len(token) > 8192:
        raise Unauthorized(INVALID)
    tokens: Tokens = request.app.state.tokens
    return tokens.check(token)


def _digest_matches(given: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(key_hash(given), stored)


def seed_credentials(db: Db, refresh_token: str, api_key: str, file_key: bytes) -> bytes:
    """Store the SHA-256 of the refresh token and API key, and return the ID-token signing key.

    The signing key is derived from the key in `<db>.signing-key` (outside the database, so a
    copy of the database alone cannot mint tokens) and the refresh token's hash, so a restart
    with another refresh token ends every token issued under the old one."""
    refresh_hash = key_hash(refresh_token)
    db.set_meta("tailer_refresh_token_sha256", refresh_hash)
    db.set_meta("tailer_api_key_sha256", key_hash(api_key))
    return hmac.new(file_key, b"tailer-id-token|" + refresh_hash.encode(), hashlib.sha256).digest()


def _firebase_error(message: str, status: int = 400) -> BadRequest:
    return BadRequest(message, status, kind=FIREBASE)


async def _grant(request: Request) -> tuple[str, str]:
    """(grant type, refresh token) from Firebase's JSON body or Google's form body."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20, strict_parsing=False)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _firebase_error("INVALID_ARGUMENT") from exc
        doc: Any = {k: v[-1] for k, v in form.items()}
        check_json(doc)
        grant, refresh = doc.get("grant_type"), doc.get("refresh_token")
    else:
        try:
            doc = parse_json(raw) if raw.strip() else None
        except BadRequest as exc:
            raise _firebase_error("INVALID_ARGUMENT") from exc
        if not isinstance(doc, dict):
            raise _firebase_error("MISSING_GRANT_TYPE")
        grant = doc.get("grantType", doc.get("grant_type"))
        refresh = doc.get("refreshToken", doc.get("refresh_token"))
    if not isinstance(grant, str) or not grant:
        raise _firebase_error("MISSING_GRANT_TYPE")
    if grant != "refresh_token":
        raise _firebase_error("INVALID_GRANT_TYPE")
    if not isinstance(refresh, str) or not refresh:
        raise _firebase_error("MISSING_REFRESH_TOKEN")
    return grant, refresh


@router.post("/securetoken/v1/token")
async def exchange(request: Request) -> JSONResponse:
    """F1: the refresh token for an ID token (Google's answer shape)."""
    # Google takes the key in the query (what the SDK's firebase package sends) or in the
    # `X-Goog-Api-Key` header (what platforge sends: a URL is logged, a header is not).
    keys = [*request.query_params.getlist("key"), *request.headers.getlist("x-goog-api-key")]
    stored = request.app.state.credential_hashes
    if len(keys) != 1 or not _digest_matches(keys[0], stored["api_key"]):
        raise _firebase_error("API key not valid. Please pass a valid API key.")
    _, refresh = await _grant(request)
    if not _digest_matches(refresh, stored["refresh_token"]):
        raise _firebase_error("INVALID_REFRESH_TOKEN")
    tokens: Tokens = request.app.state.tokens
    id_token = tokens.issue()
    return JSONResponse({
        "access_token": id_token, "expires_in": str(tokens.lifetime), "token_type": "Bearer", "refresh_token": refresh,
        "id_token": id_token, "user_id": tokens.user_id, "project_id": tokens.project,
    }, headers={"cache-control": "no-store"})

