"""The Tailer sandbox as an ASGI application.

One port serves the three services (WIRE.md §1): the token exchange (F1, public), the SDK API
proxy at the root (D1-D10) and the ops API under `/v1/` (T1-T7), plus the test-only
`/_sandbox/` routes; all but F1 behind the ID-token check. Each module owns its routes; this
one says what the sandbox is made of (`SPEC`), opens the database, loads or makes the keys
(the RSA key is kept in the database wrapped under a key derived from the kit's
`<db>.signing-key` file, as the ID-token signing key is), and lets the kit's `assemble` build
the app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ..._kit.sandbox.app import DEFAULT_EXEMPT_PATHS, SandboxSpec, assemble
from ..._kit.sandbox.sessions import signing_key
from . import auth, inspection, ops, proxy
from .config import SandboxConfig
from .crypto import Keys, unwrap_private_key, wrap_private_key
from .errors import ENVELOPE, HTTP_MESSAGES, FamilyMiddleware
from .store import Db, open_store

__all__ = ["SPEC", "create_app", "public_key_file"]

SPEC = SandboxSpec(
    title="Tailer sandbox",
    version="1.3.19-compatible",
    description=(
        "A local implementation of the Tailer Platform's SDK API proxy (as tailer-sdk 1.3.19 speaks it), its ops API "
        "under /v1 and Firebase's token exchange at /securetoken/v1/token, over SQLite. Send 'Authorization: Bearer "
        "<ID token>' (from the token exchange) to everything else."
    ),
    envelope=ENVELOPE,
    auth=auth.current,
    routers=[proxy.router, ops.router, inspection.router],
    public_routers=[auth.router],
    exempt_paths=(*DEFAULT_EXEMPT_PATHS, "/securetoken/v1/token"),
    http_messages=HTTP_MESSAGES,
    health={"status": "ok"},
)


def public_key_file(db_path: str) -> Path:
    return Path(db_path + ".tailer_public_key.pem")


def _write_public_key(db_path: str, pem: str) -> None:
    """`<db>.tailer_public_key.pem`, world-readable (0644): it is a public key, and the file the
    SDK wants in `$TAILER_HOME/tailer_public_key.pem`. Written through a temporary file, and
    never through a symlink."""
    import os
    import secrets

    path = public_key_file(db_path)
    if path.is_file() and not path.is_symlink() and path.read_text(encoding="ascii", errors="replace") == pem:
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(pem)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or SandboxConfig()
    config.validate()
    refresh_token, api_key = config.refresh_token, config.firebase_api_key
    if refresh_token is None or api_key is None:
        raise ValueError("the Tailer sandbox needs a refresh token and a Firebase API key "
                         "(SandboxConfig(refresh_token=..., firebase_api_key=...), or the CLI's flags)")
    store = open_store(config.db_path)
    # The kit's key file `<db>.signing-key` (0600; only in memory for ":memory:"): the ID-token
    # signing key and the RSA key's wrapping key derive from it, so neither is in the database.
    file_key = signing_key(None, config.db_path, b"platforge-tailer-sandbox")
    found: dict[str, object] = {}

    def setup(db: Db) -> None:
        found["signing_key"] = auth.seed_credentials(db, refresh_token, api_key, file_key)
        found["refresh_token"] = db.get_meta("tailer_refresh_token_sha256")
        found["api_key"] = db.get_meta("tailer_api_key_sha256")
        if config.rsa_private_key is None:
            wrapped = db.get_meta("tailer_rsa_private_key")
            if wrapped is None:
                pem = Keys.generate()
                db.set_meta("tailer_rsa_private_key", wrap_private_key(pem, file_key))
            else:
                pem = unwrap_private_key(wrapped, file_key)
            found["rsa"] = pem

    try:
        store.seed(setup, max_bytes=config.max_db_bytes)
    except BaseException:
        store.close()
        raise
    keys = Keys(config.rsa_private_key or str(found["rsa"]))
    token_key = found["signing_key"]
    assert isinstance(token_key, bytes)
    tokens = auth.Tokens(token_key, config.user_id, config.profiles[0], config.token_seconds)
    if not store.in_memory:
        _write_public_key(config.db_path, keys.public_pem)
    app = assemble(SPEC, config, store, keys=keys, tokens=tokens,
                   credential_hashes={"refresh_token": found["refresh_token"], "api_key": found["api_key"]})
    app.add_middleware(FamilyMiddleware)
    return app
