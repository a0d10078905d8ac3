"""The Tailer sandbox: the Tailer Platform's SDK API proxy (D1-D10, as `tailer-sdk` 1.3.19
speaks it), its ops API (T1-T7, under `/v1/`) and Firebase's token exchange (F1, at
`/securetoken/v1/token`) on one port, over SQLite. `create_app(SandboxConfig(refresh_token=...,
firebase_api_key=...))` builds it; `DECISIONS.md` records every choice made where the contract
leaves Tailer's behaviour open, and `../WIRE.md` the wire agreed with platforge's client.

Callers trade the refresh token for an ID token at F1 (the SDK does so before every command)
and send it as `Authorization: Bearer <id token>`. Secrets are sealed with the sandbox's public
key (`public_key_pem(app)`, or the file `<db>.tailer_public_key.pem`), as `tailer encrypt` does.
What was deployed is readable, for tests only, under `/_sandbox/`.

Only Tailer's routes and rules live here; what every sandbox shares is the kit's
(`provider/_kit/sandbox/`). `SANDBOX` is what `platforge sandbox tailer` is built from; this
module loads no server code until an app is built, since the CLI imports it at every start.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._kit.sandbox.cli import Flag, PlatformSandbox
from ..._kit.sandbox.private import tighten
from .config import API_KEY_ENV, REFRESH_TOKEN_ENV, SandboxConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["API_KEY_ENV", "REFRESH_TOKEN_ENV", "SANDBOX", "SandboxConfig", "create_app", "credential_file",
           "public_key_pem"]


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    from .app import create_app as build

    return build(config)


def public_key_pem(app: Any) -> bytes:
    """The sandbox's RSA public key (PEM): what `tailer_crypto.encrypt_payload` seals secrets
    with, as `$TAILER_HOME/tailer_public_key.pem`."""
    return str(app.state.keys.public_pem).encode("ascii")


def credential_file(db: str, name: str) -> Path:
    """Where a generated credential is kept: `<db>.<name>` (for `:memory:`, under `.platforge/`)."""
    return Path(".platforge") / f"sandbox-tailer.{name}" if db == ":memory:" else Path(f"{db}.{name}")


def credential_for(db: str, name: str, given: str | None, env: str) -> tuple[str, str | None]:
    """A credential, and the file it was written to when it had to be generated.

    Given (the flag, else the environment variable): used as is, no file. Otherwise generated
    once and kept beside the database (mode 0600), so that a restart keeps working with it; it is
    never printed."""
    given = given or os.environ.get(env) or None
    if given:
        return given, None
    path = credential_file(db, name)
    if path.exists():
        tighten(path)
        return path.read_text(encoding="utf-8").strip(), str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value, str(path)


def _cli_app(config: SandboxConfig) -> FastAPI:
    """`platforge sandbox tailer`: resolve the credentials, say where generated ones are kept."""
    from rich.console import Console

    from .app import public_key_file

    refresh, refresh_file = credential_for(config.db_path, "refresh_token", config.refresh_token, REFRESH_TOKEN_ENV)
    api_key, api_key_file = credential_for(config.db_path, "firebase_api_key", config.firebase_api_key, API_KEY_ENV)
    app = create_app(dataclasses.replace(config, refresh_token=refresh, firebase_api_key=api_key))
    console = Console(stderr=True, soft_wrap=True)
    console.print(f"Firebase user {config.user_id!r}; the token exchange is POST /securetoken/v1/token?key=<api key>.",
                  highlight=False)
    for what, written in (("refresh token", refresh_file), ("Firebase API key", api_key_file)):
        if written:
            console.print(f"The {what} is in {written} (mode 0600).", highlight=False)
    if config.db_path != ":memory:":
        console.print(f"Seal secrets with the public key in {public_key_file(config.db_path)}.", highlight=False)
    return app


SANDBOX = PlatformSandbox(
    name="tailer",
    title="Tailer",
    help="""Serve the Tailer Platform's APIs (as tailer-sdk 1.3.19 speaks them) on HOST:PORT.

    One port serves the SDK API proxy at the root (set tailer_api_endpoint to http://HOST:PORT/),
    the ops API under /v1/ and the Firebase token exchange at /securetoken/v1/token. Without
    --refresh-token (or $PLATFORGE_TAILER_REFRESH_TOKEN) and --firebase-api-key (or
    $PLATFORGE_TAILER_FIREBASE_API_KEY) they are generated and kept in DB.refresh_token and
    DB.firebase_api_key (mode 0600), never printed. Secrets are sealed with the public key in
    DB.tailer_public_key.pem. The sandbox is meant for a developer machine or a CI job: it is
    not hardened for the open internet and does not terminate TLS (see docs/sandbox-security.md).
    """,
    settings=SandboxConfig,
    create_app=_cli_app,
    password_login=False,
    flags=(
        Flag("project_profiles", str, after="db", help="GCP project ids offered as project profiles, comma-separated."),
        Flag("user_id", str, after="db", help="The Firebase user id of the sandbox's one user (in every ID token)."),
        Flag("firebase_api_key", str | None, after="db",
             help=f"The Firebase API key the token exchange accepts (or ${API_KEY_ENV}). Without one, a key is "
                  "generated and kept in DB.firebase_api_key (mode 0600), never printed."),
        Flag("refresh_token", str | None, after="db",
             help=f"The refresh token the token exchange accepts (or ${REFRESH_TOKEN_ENV}; 16 to 512 printable "
                  "characters). Without one, a token is generated and kept in DB.refresh_token (mode 0600), never printed."),
        Flag("token_seconds", int, after="latency_ms", help="Lifetime of the ID tokens the token exchange signs (60-86400)."),
        Flag("run_seconds", float, after="latency_ms",
             help="Seconds a launched run stays RUNNING before it reads SUCCESS (the sandbox runs nothing)."),
    ),
)
