"""The Dataiku DSS sandbox as an ASGI application.

Each feature module owns its routes; this module says what DSS's sandbox is made of (`SPEC`:
the routers, the error envelope, API-key auth, the two base paths) and opens its database; the
kit's `assemble` builds the app. Two DSS habits are handled around it: a client configured with a
trailing slash sends `//dip/publicapi/...` (contract §3.2), so runs of slashes in a path are
collapsed before routing; and every answer carries DSS's `DSS-API-Version`/`DSS-Version` headers.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from ..._kit.sandbox.app import SandboxSpec, assemble
from . import apikeys, auth, codeenvs, connections, futures, projects, scenarios, users
from .config import SandboxConfig
from .errors import ENVELOPE, HTTP_MESSAGES
from .store import Db, open_store

__all__ = ["PREFIXES", "SPEC", "create_app"]

#: The SDK's base path first (`dataikuapi` sends every call there), then the documented one.
PREFIXES = ("/dip/publicapi", "/public/api")
API_VERSION = b"1"
DSS_VERSION = b"15.2.0-platforge-sandbox"

SPEC = SandboxSpec(
    title="Dataiku DSS sandbox",
    version="15.2.0-compatible",
    description=(
        "A local implementation of the Dataiku DSS public API (as dataiku-api-client 15.2.0 speaks it) over "
        "SQLite, under both /dip/publicapi and /public/api. Authenticate with an API key as the HTTP Basic "
        "user name and an empty password."
    ),
    envelope=ENVELOPE,
    auth=auth.current,
    routers=[auth.router, users.router, connections.router, projects.router, scenarios.router, codeenvs.router,
             apikeys.router, futures.router],
    prefix=PREFIXES,
    http_messages=HTTP_MESSAGES,
    health={"status": "ok"},
)

_SLASHES = re.compile(r"//+")


class DSSWire:
    """Pure ASGI: collapse `//` in paths, add DSS's version headers to every answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if "//" in path:
            scope = {**scope, "path": _SLASHES.sub("/", path),
                     "raw_path": _SLASHES.sub("/", scope.get("raw_path", b"").decode("latin-1")).encode("latin-1")}

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"dss-api-version", API_VERSION),
                                                  (b"dss-version", DSS_VERSION)]}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or SandboxConfig()
    config.validate()
    if not config.admin_api_key:
        raise ValueError("the Dataiku sandbox needs an administrator API key (admin_api_key, or --admin-api-key)")
    admin_key = config.admin_api_key
    store = open_store(config.db_path)

    def setup(db: Db) -> None:
        users.seed(db, config.admin_user, config.admin_password)
        connections.seed(db)
        apikeys.seed_bootstrap(db, config.admin_user, admin_key)

    store.seed(setup, max_bytes=config.max_db_bytes)  # the limit after the seed: a full sandbox still starts
    app = assemble(SPEC, config, store)
    app.add_middleware(DSSWire)
    return app
