"""The Datatailr sandbox as an ASGI application.

Each feature module (`users`, `kv`, `blobs`, `jobs`, `tags`) owns its routes, its tables (`DDL`)
and its first-start data (`seed`); this module only wires them together behind auth.
"""

from __future__ import annotations

import secrets

from fastapi import Depends, FastAPI

from ..._kit.sandbox.faults import AccessLog, FaultMiddleware
from . import auth, blobs, jobs, kv, tags, users
from .config import SandboxConfig
from .errors import install_error_handlers
from .store import Store
from .wire import ok

FEATURES = (users, kv, blobs, jobs, tags)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or SandboxConfig()
    config.validate()
    store = Store(config.db_path, ddl=[f.DDL for f in FEATURES if getattr(f, "DDL", None)])
    auth.forget_legacy_key(store)
    sessions = auth.Sessions(store, auth.signing_key(config))
    admin_password = config.admin_password or secrets.token_urlsafe(18)
    with store.tx() as db:
        for feature in FEATURES:
            migrate = getattr(feature, "migrate", None)
            if migrate is not None:
                migrate(db)
        for feature in FEATURES:
            seed = getattr(feature, "seed", None)
            if seed is not None:
                seed(db, config, admin_password)
    store.set_max_bytes(config.max_db_bytes)  # after the seed: a full sandbox still starts

    app = FastAPI(
        title="Datatailr sandbox",
        version="0.2.3-compatible",
        description=(
            "A local implementation of the Datatailr platform API (the remote API as the "
            "datatailr 0.2.3 SDK speaks it) over SQLite. Every `/api/*` route needs the "
            "`X-Datatailr-Oidc-Data` cookie from `POST /login`; `POST /api/user/logout` or "
            "`POST /logout` ends the session."
        ),
    )
    app.state.config = config
    app.state.store = store
    app.state.sessions = sessions
    app.state.admin_password = admin_password
    app.state.server_limits = config.server_limits
    install_error_handlers(app)

    app.include_router(auth.router)
    protected = [Depends(auth.current_principal)]
    for feature in FEATURES:
        app.include_router(feature.router, prefix="/api", dependencies=protected)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict:
        return ok("ok")

    access_log = AccessLog(config.access_log) if config.access_log else None
    app.state.access_log = access_log
    app.add_middleware(FaultMiddleware, faults=config.faults, access_log=access_log)
    return app
