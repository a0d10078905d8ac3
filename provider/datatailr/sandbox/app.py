"""The Datatailr sandbox as an ASGI application.

Each feature module (`users`, `kv`, `blobs`, `jobs`, `tags`) owns its routes, its tables (`DDL`)
and its first-start data (`seed`); this module only says what Datatailr's sandbox is made of
(`SPEC`) and opens its database; the kit's `assemble` builds the app.
"""

from __future__ import annotations

import secrets

from fastapi import FastAPI

from ..._kit.sandbox.app import SandboxSpec, assemble
from . import auth, blobs, jobs, kv, tags, users
from .config import SandboxConfig
from .errors import ENVELOPE, HTTP_MESSAGES
from .store import Db, open_store
from .wire import ok

FEATURES = (users, kv, blobs, jobs, tags)

SPEC = SandboxSpec(
    title="Datatailr sandbox",
    version="0.2.3-compatible",
    description=(
        "A local implementation of the Datatailr platform API (the remote API as the "
        "datatailr 0.2.3 SDK speaks it) over SQLite. Every `/api/*` route needs the "
        "`X-Datatailr-Oidc-Data` cookie from `POST /login`; `POST /api/user/logout` or "
        "`POST /logout` ends the session."
    ),
    envelope=ENVELOPE,
    auth=auth.current_principal,
    public_routers=[auth.router],
    routers=[feature.router for feature in FEATURES],
    prefix="/api",
    # `/login` too: a client retrying through injected faults can always get a session.
    exempt_paths=("/login", "/openapi.json", "/docs", "/healthz"),
    http_messages=HTTP_MESSAGES,
    health=ok("ok"),
)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or SandboxConfig()
    config.validate()
    store = open_store(config.db_path, [f.DDL for f in FEATURES if getattr(f, "DDL", None)])
    auth.forget_legacy_key(store)
    sessions = auth.Sessions(store, auth.signing_key(config))
    admin_password = config.admin_password or secrets.token_urlsafe(18)

    def setup(db: Db) -> None:
        for feature in FEATURES:
            migrate = getattr(feature, "migrate", None)
            if migrate is not None:
                migrate(db)
        for feature in FEATURES:
            seed = getattr(feature, "seed", None)
            if seed is not None:
                seed(db, config, admin_password)

    store.seed(setup, max_bytes=config.max_db_bytes)  # the limit after the seed: a full sandbox still starts
    return assemble(SPEC, config, store, sessions=sessions, admin_password=admin_password)
