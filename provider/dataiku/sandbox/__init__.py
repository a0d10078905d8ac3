"""The Dataiku DSS sandbox: DSS's public API (as the `dataiku-api-client` 15.2.0 SDK speaks it)
over SQLite, for the nine v1 kinds (groups, users, projects and their permissions, instance and
project variables, connections, scenarios with temporal triggers, code envs, API keys).
`create_app(SandboxConfig(admin_api_key=...))` builds it; `DECISIONS.md` records every choice
made where the contract leaves DSS's behaviour open.

Only DSS's routes and rules live here; what every sandbox shares (store, error handling,
listing, faults, access log, serving, the command line) is the kit's (`provider/_kit/sandbox/`).
`SANDBOX` is what `platforge sandbox dataiku` is built from; this module loads no server code
until an app is built, since the CLI imports it at every start.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..._kit.sandbox.cli import Flag, PlatformSandbox
from ..._kit.sandbox.private import tighten
from .config import ADMIN_KEY_ENV, SandboxConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ADMIN_KEY_ENV", "SANDBOX", "SandboxConfig", "admin_key_for", "create_app"]


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    from .app import create_app as build

    return build(config)


def admin_key_for(db: str, given: str | None) -> tuple[str, str | None]:
    """The administrator's API key, and the file it was written to when we had to generate one.

    Given (the flag, else $PLATFORGE_DATAIKU_ADMIN_API_KEY): used as is, no file. Otherwise a key is
    generated once and kept beside the database (mode 0600), so that a restart of the same sandbox
    keeps working with it; like the Datatailr sandbox's generated password, it is never printed."""
    given = given or os.environ.get(ADMIN_KEY_ENV) or None
    if given:
        return given, None
    path = Path(".platforge") / "sandbox-dataiku.admin-api-key" if db == ":memory:" else Path(db + ".admin-api-key")
    if path.exists():
        tighten(path)
        return path.read_text(encoding="utf-8").strip(), str(path)
    from .auth import new_key

    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return key, str(path)


def _cli_app(config: SandboxConfig) -> FastAPI:
    """`platforge sandbox dataiku`: resolve the administrator's key, say where a generated one is."""
    from rich.console import Console

    key, written = admin_key_for(config.db_path, config.admin_api_key)
    app = create_app(dataclasses.replace(config, admin_api_key=key))
    if written:
        Console(stderr=True, soft_wrap=True).print(f"Admin API key is in {written} (mode 0600).", highlight=False)
    return app


SANDBOX = PlatformSandbox(
    name="dataiku",
    title="Dataiku DSS",
    help="""Serve the Dataiku DSS public API (as dataiku-api-client 15.2.0 speaks it) on HOST:PORT.

    Routes are under both /dip/publicapi and /public/api; clients authenticate with an API key as
    the HTTP Basic user name. The sandbox is meant for a developer machine or a CI job: it is not
    hardened for the open internet and does not terminate TLS (see docs/sandbox-security.md).
    """,
    settings=SandboxConfig,
    create_app=_cli_app,
    password_login=False,
    flags=(
        Flag("admin_api_key", str | None, after="db",
             help=f"The administrator's API key (or ${ADMIN_KEY_ENV}; at least 16 characters). Without one, a key "
                  "is generated and kept in DB.admin-api-key (mode 0600)."),
        Flag("build_seconds", float, after="latency_ms",
             help="How long a code-env build or package update (a DSS future) runs before it has its result."),
    ),
)
