"""The DataChain Studio sandbox: Studio's REST API (as the `datachain` 0.62.0 client speaks it)
over SQLite: access groups, members and rules, pipeline schedules, pipelines, jobs, uploaded
files, compute clusters, the device login, and `dataset_job_versions`.
`create_app(SandboxConfig(token=...))` builds it; `DECISIONS.md` records every choice made where
the contract leaves Studio's behaviour open.

Callers send `Authorization: token <t>` (or `Bearer <t>`) and `team_name`. The seeded token acts
as the administrator (`admin_user`) in the seeded team (`team`). Studio has no API for teams or
users, so the sandbox has its own, under `/api/sandbox/` (see `accounts.py`); `add_team` and
`add_user` do the same in-process, for tests that hold the app.

Only Studio's routes and rules live here; what every sandbox shares is the kit's
(`provider/_kit/sandbox/`). `SANDBOX` is what `platforge sandbox studio` is built from; this
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
from .config import TOKEN_ENV, SandboxConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SANDBOX", "TOKEN_ENV", "SandboxConfig", "add_team", "add_user", "create_app", "token_file_for"]


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    from .app import create_app as build

    return build(config)


def add_team(app: Any, name: str) -> int:
    """A new team of the sandbox `app` (with its default cluster), as `POST /api/sandbox/teams`
    does over HTTP; the seeded administrator becomes its admin. Returns the team's id."""
    from .accounts import add_member, ensure_team

    with app.state.store.tx() as db:
        team_id = ensure_team(db, name)
        admin = db.scalar("SELECT user_id FROM st_users WHERE username = ?", (app.state.config.admin_user,))
        add_member(db, team_id, int(admin), "admin")
    return team_id


def add_user(app: Any, username: str, *, teams: tuple[str, ...] | None = None, role: str = "member",
             email: str | None = None, first_name: str = "", last_name: str = "") -> dict[str, Any]:
    """A new user of `app`, member of `teams` (default: the seeded team; each must exist) with
    `role` (`member` or `admin`), as `POST /api/sandbox/users` does over HTTP. Returns
    `{"user_id", "username", "email", "token"}`; the token sees every team of the user."""
    from .accounts import add_member, ensure_user, issue_token, team_ids

    names = list(teams) if teams is not None else [app.state.config.team]
    with app.state.store.tx() as db:
        ids = team_ids(db, names, "teams")
        user_id = ensure_user(db, username, email, first_name=first_name, last_name=last_name)
        for team_id in ids:
            add_member(db, team_id, user_id, role)
        token = issue_token(db, user_id, name="sandbox", default_team_id=ids[0] if ids else None)
        address = db.scalar("SELECT email FROM st_users WHERE user_id = ?", (user_id,))
    return {"user_id": user_id, "username": username, "email": address, "token": token}


def token_file_for(db: str) -> Path:
    return Path(".platforge") / "sandbox-studio.token" if db == ":memory:" else Path(db + ".token")


def token_for(db: str, given: str | None) -> tuple[str, str | None]:
    """The seeded token, and the file it was written to when we had to generate one.

    Given (the flag, else $PLATFORGE_STUDIO_TOKEN): used as is, no file. Otherwise one is generated
    once and kept beside the database (mode 0600), so that a restart of the same sandbox keeps
    working with it; it is never printed."""
    given = given or os.environ.get(TOKEN_ENV) or None
    if given:
        return given, None
    path = token_file_for(db)
    if path.exists():
        tighten(path)
        return path.read_text(encoding="utf-8").strip(), str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "isat_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, str(path)


def _cli_app(config: SandboxConfig) -> FastAPI:
    """`platforge sandbox studio`: resolve the token, say where a generated one is kept."""
    from rich.console import Console

    token, written = token_for(config.db_path, config.token)
    app = create_app(dataclasses.replace(config, token=token))
    console = Console(stderr=True, soft_wrap=True)
    console.print(f"Team {config.team!r}; send 'Authorization: token <token>'.", highlight=False)
    if written:
        console.print(f"The token is in {written} (mode 0600).", highlight=False)
    return app


SANDBOX = PlatformSandbox(
    name="studio",
    title="DataChain Studio",
    help="""Serve the DataChain Studio REST API (as datachain 0.62.0 speaks it) on HOST:PORT.

    Routes are under /api; clients send 'Authorization: token <token>' (or Bearer) and team_name.
    Point the datachain client at it with DATACHAIN_STUDIO_URL=http://HOST:PORT,
    DATACHAIN_STUDIO_TOKEN and DATACHAIN_STUDIO_TEAM. Without --token (or $PLATFORGE_STUDIO_TOKEN) a
    token is generated and kept in DB.token (mode 0600), never printed. The sandbox is meant for a developer machine or a CI job: it is
    not hardened for the open internet and does not terminate TLS (see docs/sandbox-security.md).
    """,
    settings=SandboxConfig,
    create_app=_cli_app,
    password_login=False,
    flags=(
        Flag("team", str, after="db", help="Name of the team seeded at start (the token's default team)."),
        Flag("token", str | None, after="db",
             help=f"The administrator's token (or ${TOKEN_ENV}; 16 to 512 printable characters). Without one, a "
                  "token is generated and kept in DB.token (mode 0600), never printed."),
        Flag("job_seconds", float, after="latency_ms",
             help="Seconds a job spends queued and running before it is COMPLETE (the sandbox runs nothing)."),
    ),
)
