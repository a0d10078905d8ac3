"""`platforge sandbox <platform>`: run a local platform API for demos, tests and CI."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="Run a local sandbox that implements a platform's API.", no_args_is_help=True,
                  rich_markup_mode=None)
err = Console(stderr=True, soft_wrap=True)

PASSWORD_ENV = "PLATFORGE_SANDBOX_ADMIN_PASSWORD"
SECRET_ENV = "PLATFORGE_SANDBOX_SESSION_SECRET"
MIB = 1024 * 1024


def _admin_password(db: str, given: str | None) -> tuple[str, str | None]:
    """The admin password, and where it was written when we had to generate one.

    A generated password is kept beside the database (mode 0600) so that a restart of the same
    sandbox keeps working with it; it is never printed.
    """
    from ..provider.sandbox import tighten

    if given:
        return given, None
    if db == ":memory:":
        path = Path(".platforge") / "sandbox-datatailr.admin-password"
    else:
        path = Path(db + ".admin-password")
    if path.exists():
        tighten(path)
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
    port: Annotated[
        int, typer.Option(help="Port to listen on (0 picks a free one; the URL printed has the real port).")
    ] = 8080,
    db: Annotated[
        str, typer.Option(help="SQLite file holding the sandbox state (created 0600, and so are its -wal/-shm files).")
    ] = ".platforge/sandbox-datatailr.db",
    admin_user: Annotated[str, typer.Option(help="Name of the seeded administrator.")] = "admin",
    admin_password: Annotated[
        str | None,
        typer.Option(envvar=PASSWORD_ENV, help=f"Administrator password (or ${PASSWORD_ENV}).", show_default=False),
    ] = None,
    session_secret: Annotated[
        str | None,
        typer.Option(
            envvar=SECRET_ENV, show_default=False,
            help=f"Derive the session signing key from this secret (at least 16 characters; or ${SECRET_ENV}) "
                 "instead of keeping a random key in DB.signing-key (mode 0600). Changing it ends every session.",
        ),
    ] = None,
    access_log: Annotated[str | None, typer.Option(help="Write one JSON line per request here.")] = None,
    max_body_bytes: Annotated[int, typer.Option(help="Answer 413 to a request body larger than N bytes.")] = 100 * MIB,
    max_blob_bytes_per_user: Annotated[
        int, typer.Option(help="Answer 507 to a blob write that would take its writer past N bytes of blobs (0: no limit).")
    ] = 256 * MIB,
    max_db_bytes: Annotated[
        int, typer.Option(help="Answer 507 to writes that would grow the database file past N bytes; "
                               "reads keep working (0: no limit).")
    ] = 1024 * MIB,
    max_connections: Annotated[
        int, typer.Option(help="Answer 503 (Retry-After) on connections beyond N open at once (0: no limit).")
    ] = 128,
    idle_timeout: Annotated[
        float, typer.Option(help="Close a connection after N seconds without a byte from the client: idle keep-alive, "
                                 "half-open or half-sent requests, and clients that stop reading.")
    ] = 15.0,
    latency_ms: Annotated[float, typer.Option(help="Delay every request by N ms.")] = 0.0,
    rate_limit: Annotated[float, typer.Option(help="Answer 429 with Retry-After beyond N requests/s (0: off).")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Answer a random 503 with probability P.")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Close the connection mid-request with probability P.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Random seed for the fault flags.")] = None,
) -> None:
    """Serve the Datatailr API (the remote API as the datatailr 0.2.3 SDK speaks it) on HOST:PORT.

    The sandbox is meant for a developer machine or a CI job: it is not hardened for the open
    internet and does not terminate TLS (see docs/sandbox-security.md).
    """
    from ..provider.datatailr.sandbox import SandboxConfig, create_app
    from ..provider.sandbox import FaultConfig, bind, serve_foreground

    faults = FaultConfig(
        latency_ms=latency_ms, rate_limit=rate_limit, error_rate=error_rate, drop_rate=drop_rate, seed=seed,
        max_body_bytes=max_body_bytes,
    )
    settings = SandboxConfig(
        db_path=db, admin_user=admin_user, access_log=access_log, faults=faults, session_secret=session_secret,
        max_blob_bytes_per_user=max_blob_bytes_per_user, max_db_bytes=max_db_bytes,
        max_connections=max_connections, idle_timeout=idle_timeout,
    )
    try:
        settings.validate()
    except ValueError as exc:
        _fail(str(exc), exc)

    try:
        sock = bind(host, port)  # first, so that a taken port leaves no files behind
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc}", exc)
    try:
        if db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        password, password_file = _admin_password(db, admin_password)
        application = create_app(dataclasses.replace(settings, admin_password=password))
    except (ValueError, OSError) as exc:
        sock.close()
        _fail(str(exc), exc)

    def announce(url: str) -> None:
        err.print(f"Datatailr sandbox on [bold]{url}[/bold]  db={db}  admin user={admin_user!r}")
        if password_file:
            err.print(f"Admin password is in {password_file} (mode 0600).")

    serve_foreground(application, host, port, on_bound=announce, sock=sock)


def _fail(message: str, cause: Exception) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(1) from cause
