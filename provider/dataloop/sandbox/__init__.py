"""The Dataloop sandbox: Dataloop's gate API (as the `dtlpy` 1.126.5 SDK speaks it) over SQLite,
for the eight v1 kinds (projects, org members, project members, integrations, datasets,
services, triggers, pipelines) and what they need (orgs, groups, packages, bots, the login).
`create_app(SandboxConfig(admin_password=...))` builds it; `DECISIONS.md` records every choice
made where the contract leaves Dataloop's behaviour open.

Logging in is Dataloop's own flow: `POST /token?default` with `{"username": <e-mail>,
"password": ..., "type": "user_credentials"}` answers `{"id_token", "refresh_token"}`; the id
token goes in `Authorization: Bearer`. `login` does that over HTTP; `add_user` and `token_for`
do it in-process, for tests that hold the app.

Only Dataloop's routes and rules live here; what every sandbox shares is the kit's
(`provider/_kit/sandbox/`). `SANDBOX` is what `platforge sandbox dataloop` is built from; this
module loads no server code until an app is built, since the CLI imports it at every start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._kit.sandbox.cli import Flag, PlatformSandbox
from .config import SandboxConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SANDBOX", "SandboxConfig", "add_user", "create_app", "login", "token_for"]


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    from .app import create_app as build

    return build(config)


def login(url: str, email: str, password: str, *, timeout: float = 30.0) -> dict[str, str]:
    """Log in to a running sandbox at `url` (`http://127.0.0.1:<port>`, no `/api/v1`) as dtlpy's
    `login_m2m` does; the answer has `id_token` (the Bearer JWT) and `refresh_token`.
    Raises `httpx.HTTPStatusError` on wrong credentials (401)."""
    import httpx

    with httpx.Client(timeout=timeout, trust_env=False) as client:
        response = client.post(url.rstrip("/") + "/token?default",
                               json={"username": email, "password": password, "type": "user_credentials"})
        response.raise_for_status()
        tokens: dict[str, str] = response.json()
        return tokens


def add_user(app: Any, email: str, password: str | None = None, *, first_name: str = "", last_name: str = "") -> str:
    """Create a user of the sandbox `app` (built by `create_app`) who can then log in with
    `password` (None: invited only, cannot log in), as `POST /api/v1/sandbox/users` does over
    HTTP. The user belongs to no organisation or project until added; returns the e-mail (the
    user's id on Dataloop's wire)."""
    from .users import ensure_user, set_password
    from .wire import email_of

    address = email_of(email)
    with app.state.store.tx() as db:
        user_id = ensure_user(db, address, first_name=first_name, last_name=last_name)
        if password is not None:
            set_password(db, user_id, password)
    return address


def token_for(app: Any, email: str) -> str:
    """A fresh id token for an existing user of `app`, minted in-process (the same JWT `POST
    /token?default` gives: signed by the sandbox, with `email` and `exp`). KeyError if no such user."""
    from .auth import issue_tokens
    from .wire import email_of

    address = email_of(email)
    with app.state.store.read() as db:
        user_id = db.scalar("SELECT user_id FROM dl_users WHERE email = ?", (address,))
    if user_id is None:
        raise KeyError(address)
    return issue_tokens(app, int(user_id), address, refresh=False)["id_token"]


SANDBOX = PlatformSandbox(
    name="dataloop",
    title="Dataloop",
    help="""Serve the Dataloop gate API (as dtlpy 1.126.5 speaks it) on HOST:PORT.

    Routes are under /api/v1; POST /token?default exchanges the administrator's e-mail and password
    for a JWT (dl.login_m2m does that). Point dtlpy at the sandbox with dl.add_environment(
    environment="http://HOST:PORT/api/v1", gate_url="http://HOST:PORT", ...). Without
    --admin-password, a password is generated and kept in DB.admin-password (mode 0600). The sandbox
    is meant for a developer machine or a CI job: it is not hardened for the open internet and does
    not terminate TLS (see docs/sandbox-security.md).
    """,
    settings=SandboxConfig,
    create_app=create_app,
    flags=(
        Flag("org", str, after="db", help="Name of the organization seeded at first start (owned by the administrator)."),
        Flag("admin_email", str, after="admin_user",
             help="E-mail of the seeded administrator: its user id and login name on Dataloop's wire."),
        Flag("unique_names", str, after="admin_password",
             help="Comma-separated kinds (or 'all') whose names must be unique in their project or org: a duplicate "
                  "answers 409. Default: duplicates are accepted, as on Dataloop."),
    ),
)
