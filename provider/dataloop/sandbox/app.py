"""The Dataloop sandbox as an ASGI application.

Each feature module owns its routes; this module says what the sandbox is made of (`SPEC`: the
routers under `/api/v1`, the login at the root, the error envelope, the JWT auth) and opens its
database; the kit's `assemble` builds the app.
"""

from __future__ import annotations

from fastapi import FastAPI

from ..._kit.sandbox.app import DEFAULT_EXEMPT_PATHS, SandboxSpec, assemble
from ..._kit.sandbox.sessions import Sessions, signing_key
from . import auth, datasets, faas, integrations, orgs, pipelines, projects, users
from .config import SandboxConfig
from .errors import ENVELOPE, HTTP_MESSAGES
from .store import Db, open_store

__all__ = ["PREFIX", "SPEC", "create_app"]

PREFIX = "/api/v1"
#: Tokens of this sandbox are useless on any other platform's sandbox started with the same secret.
KEY_LABEL = b"platforge-dataloop-session"

SPEC = SandboxSpec(
    title="Dataloop sandbox",
    version="1.126.5-compatible",
    description=(
        "A local implementation of the Dataloop gate API (as dtlpy 1.126.5 speaks it) over SQLite, under /api/v1. "
        "POST /token?default with {username, password, type: user_credentials} gives a JWT to send as "
        "'Authorization: Bearer <jwt>'."
    ),
    envelope=ENVELOPE,
    auth=auth.current,
    routers=[auth.router, users.router, orgs.router, projects.router, integrations.router, datasets.router,
             faas.router, pipelines.router],
    public_routers=[auth.public_router],
    prefix=PREFIX,
    exempt_paths=(*DEFAULT_EXEMPT_PATHS, "/token"),
    http_messages=HTTP_MESSAGES,
    health={"status": "ok"},
)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or SandboxConfig()
    config.validate()
    store = open_store(config.db_path)

    def setup(db: Db) -> None:
        users.seed(db, email=config.admin_email.lower(), display_name=config.admin_user,
                   password=config.admin_password, org=config.org)

    store.seed(setup, max_bytes=config.max_db_bytes)
    sessions = Sessions(store, signing_key(config.session_secret, config.db_path, KEY_LABEL))
    return assemble(SPEC, config, store, sessions=sessions)
