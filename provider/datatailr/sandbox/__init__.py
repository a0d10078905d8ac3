"""The Datatailr sandbox: the platform's HTTP API (the remote API as the datatailr 0.2.3 SDK speaks
it) over SQLite. `create_app(SandboxConfig(...))` builds it; `DECISIONS.md` records every choice
made where the vendor's API is open, and its "Security" section the sandbox's safety measures.

Only Datatailr's routes and rules live here; what every sandbox shares (store, sessions, error
handling, listing, faults, access log, serving, the command line) is the kit's
(`provider/_kit/sandbox/`). `SANDBOX` is what `platforge sandbox datatailr` is built from; this
module loads no server code until `create_app` is called, since the CLI imports it at start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._kit.sandbox.cli import Flag, PlatformSandbox
from .config import SandboxConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SANDBOX", "SandboxConfig", "create_app"]


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    from .app import create_app as build

    return build(config)


SANDBOX = PlatformSandbox(
    name="datatailr",
    title="Datatailr",
    help="""Serve the Datatailr API (the remote API as the datatailr 0.2.3 SDK speaks it) on HOST:PORT.

    The sandbox is meant for a developer machine or a CI job: it is not hardened for the open
    internet and does not terminate TLS (see docs/sandbox-security.md).
    """,
    settings=SandboxConfig,
    create_app=create_app,
    flags=(
        Flag("max_blob_bytes_per_user", int, after="max_body_bytes",
             help="Answer 507 to a blob write that would take its writer past N bytes of blobs (0: no limit)."),
        Flag("build_seconds", float, after="latency_ms",
             help="Keep every saved job version `building` for N seconds before it is `ready` (0: ready at once); "
                  "a version whose python_requirements has the line `platforge-sandbox:fail-build` then `failed`."),
    ),
)
