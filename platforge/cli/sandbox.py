"""`platforge sandbox <platform>`: run a local platform API for demos, tests and CI."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Run a local sandbox that implements a platform's API.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)

PASSWORD_ENV = "PLATFORGE_SANDBOX_ADMIN_PASSWORD"


def _admin_password(db: str, given: str | None) -> tuple[str, str | None]:
    """The admin password, and where it was written when we had to generate one.

    A generated password is kept beside the database (mode 0600) so that a restart of the same
    sandbox keeps working with it; it is never printed.
    """
    if given:
        return given, None
    if db == ":memory:":
        path = Path(".platforge") / "sandbox-datatailr.admin-password"
    else:
        path = Path(db + ".admin-password")
    if path.exists():
        return path.read_text(encoding="utf-8").strip(), str(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    return password, str(path)


@app.command("datatailr")
def datatailr(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8080,
    db: Annotated[str, typer.Option(help="SQLite file holding the sandbox state.")] = ".platforge/sandbox-datatailr.db",
    admin_user: Annotated[str, typer.Option(help="Name of the seeded administrator.")] = "admin",
    admin_password: Annotated[
        str | None,
        typer.Option(envvar=PASSWORD_ENV, help=f"Administrator password (or ${PASSWORD_ENV}).", show_default=False),
    ] = None,
    access_log: Annotated[str | None, typer.Option(help="Write one JSON line per request here.")] = None,
    latency_ms: Annotated[float, typer.Option(help="Delay every request by N ms.")] = 0.0,
    rate_limit: Annotated[float, typer.Option(help="Answer 429 with Retry-After beyond N requests/s (0: off).")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Answer a random 503 with probability P.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Close the connection mid-request with probability P.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Random seed for the fault flags.")] = None,
) -> None:
    """Serve the Datatailr API (contract: shared/contracts/datatailr_api.md) on HOST:PORT."""
    from ..sandbox.datatailr.app import create_app
    from ..sandbox.datatailr.config import SandboxConfig
    from ..sandbox.faults import FaultConfig
    from ..sandbox.serve import serve_foreground

    if db != ":memory:":
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    password, password_file = _admin_password(db, admin_password)
    faults = FaultConfig(
        latency_ms=latency_ms, rate_limit=rate_limit, error_rate=error_rate, drop_rate=drop_rate, seed=seed
    )
    try:
        faults.validate()
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    config = SandboxConfig(
        db_path=db, admin_user=admin_user, admin_password=password, access_log=access_log, faults=faults
    )
    application = create_app(config)
    err.print(f"Datatailr sandbox on [bold]http://{host}:{port}[/bold]  db={db}  admin user={admin_user!r}")
    if password_file:
        err.print(f"Admin password is in {password_file} (mode 0600).")
    serve_foreground(application, host, port)
