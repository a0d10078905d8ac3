"""The Studio sandbox as an ASGI application.

Each feature module owns its routes; this module says what the sandbox is made of (`SPEC`: the
routers under `/api`, the device login beside them without auth, the error envelope, the token
auth) and opens its database; the kit's `assemble` builds the app.
"""

from __future__ import annotations

from fastapi import FastAPI

from ..._kit.sandbox.app import DEFAULT_EXEMPT_PATHS, SandboxSpec, assemble
from . import accounts, clusters, datasets, device, groups, jobs, logs, pipelines, rules, schedules, uploads
from .auth import current
from .config import SandboxConfig
from .errors import ENVELOPE, HTTP_MESSAGES
from .store import Db, open_store

__all__ = ["PREFIX", "SPEC", "create_app"]

PREFIX = "/api"

SPEC = SandboxSpec(
    title="DataChain Studio sandbox",
    version="1.0.0-compatible",
    description=(
        "A local implementation of the DataChain Studio REST API (as datachain 0.62.0 speaks it) over SQLite, "
        "under /api. Send 'Authorization: token <token>' (or 'Bearer <token>') and team_name."
    ),
    envelope=ENVELOPE,
    auth=current,
    routers=[groups.router, rules.router, schedules.router, pipelines.router, uploads.router, jobs.router, clusters.router,
             datasets.router, device.router, accounts.router],
    public_routers=[device.public_router, logs.router],
    prefix=PREFIX,
    exempt_paths=(*DEFAULT_EXEMPT_PATHS, "/api/device-login", "/api/token"),
    http_messages=HTTP_MESSAGES,
    health={"status": "ok"},
)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or SandboxConfig()
    config.validate()
    token = config.token
    if token is None:
        raise ValueError("the Studio sandbox needs a token (SandboxConfig(token=...), --token or $PLATFORGE_STUDIO_TOKEN)")
    store = open_store(config.db_path)

    def setup(db: Db) -> None:
        accounts.seed(db, team=config.team, admin_user=config.admin_user, token=token)

    store.seed(setup, max_bytes=config.max_db_bytes)
    return assemble(SPEC, config, store)
