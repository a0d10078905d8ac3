"""`platforge sandbox <platform>`: one command per registered platform sandbox, built here.

The flags every sandbox has (where to listen, the database, the administrator, the session
secret, the access log, the quotas, the fault flags) are declared once, with their defaults
taken from the settings classes, so that the command line and an embedded sandbox can never
disagree. A platform brings a `PlatformSandbox`: its name and title, its command's help, its
settings class, its app factory and its own flags (each placed after a common flag, so that
`--help` lists related flags together).

Nothing here loads FastAPI or uvicorn until a sandbox is actually started: the `platforge`
command builds these commands at every start.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from .private import tighten
from .settings import FaultConfig, SandboxSettings

__all__ = ["Flag", "PASSWORD_ENV", "PlatformSandbox", "SECRET_ENV", "command_line"]

err = Console(stderr=True, soft_wrap=True)

PASSWORD_ENV = "PLATFORGE_SANDBOX_ADMIN_PASSWORD"
SECRET_ENV = "PLATFORGE_SANDBOX_SESSION_SECRET"

_FAULT_FIELDS = {f.name for f in dataclasses.fields(FaultConfig)}
_SERVING = ("host", "port", "db")  # flags that are not settings fields


@dataclass(frozen=True)
class Flag:
    """A platform's own flag: `name` is its settings field (the default comes from there)."""

    name: str
    type: Any  # as typer reads it: int, float, str, `str | None`
    help: str
    after: str  # the flag (parameter name) it follows in --help


@dataclass(frozen=True)
class PlatformSandbox:
    name: str  # the command: `platforge sandbox <name>`
    title: str  # in messages: "<title> sandbox on http://..."
    help: str  # the command's help; its first sentence is the summary in `platforge sandbox --help`
    settings: type[SandboxSettings]
    create_app: Callable[[Any], Any]  # settings -> ASGI app; import the server inside, not at module level
    flags: tuple[Flag, ...] = ()
    #: Callers sign in as the kit's administrator with a password and signed sessions. A platform
    #: whose callers bring a key or token of their own (DSS, Studio) says False: its command then
    #: has no --admin-user/--admin-password/--session-secret, and writes no password file.
    password_login: bool = True


#: The flags that exist only for sandboxes whose callers sign in with a password.
_PASSWORD_FLAGS = ("admin_user", "admin_password", "session_secret")


def _default(settings: type[SandboxSettings], name: str) -> Any:
    target: Any = settings
    if name in _FAULT_FIELDS:
        target, name = FaultConfig, name
    for f in dataclasses.fields(target):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    raise KeyError(name)


def _common(sandbox: PlatformSandbox) -> list[tuple[str, Any, Any]]:
    """(parameter name, annotation, default) of the flags every sandbox has, in --help order."""
    config = sandbox.settings
    return [
        ("host", Annotated[str, typer.Option(help="Interface to bind.")], "127.0.0.1"),
        ("port", Annotated[int, typer.Option(
            help="Port to listen on (0 picks a free one; the URL printed has the real port).")], 8080),
        ("db", Annotated[str, typer.Option(
            help="SQLite file holding the sandbox state (created 0600, and so are its -wal/-shm files).")],
         f".platforge/sandbox-{sandbox.name}.db"),
        ("admin_user", Annotated[str, typer.Option(help="Name of the seeded administrator.")],
         _default(config, "admin_user")),
        ("admin_password", Annotated[str | None, typer.Option(
            envvar=PASSWORD_ENV, help=f"Administrator password (or ${PASSWORD_ENV}).", show_default=False)], None),
        ("session_secret", Annotated[str | None, typer.Option(
            envvar=SECRET_ENV, show_default=False,
            help=f"Derive the session signing key from this secret (at least 16 characters; or ${SECRET_ENV}) "
                 "instead of keeping a random key in DB.signing-key (mode 0600). Changing it ends every session.")], None),
        ("access_log", Annotated[str | None, typer.Option(help="Write one JSON line per request here.")], None),
        ("max_body_bytes", Annotated[int, typer.Option(help="Answer 413 to a request body larger than N bytes.")],
         _default(config, "max_body_bytes")),
        ("max_db_bytes", Annotated[int, typer.Option(
            help="Answer 507 to writes that would grow the database file past N bytes; reads keep working (0: no limit).")],
         _default(config, "max_db_bytes")),
        ("max_connections", Annotated[int, typer.Option(
            help="Answer 503 (Retry-After) on connections beyond N open at once (0: no limit).")],
         _default(config, "max_connections")),
        ("idle_timeout", Annotated[float, typer.Option(
            help="Close a connection after N seconds without a byte from the client: idle keep-alive, "
                 "half-open or half-sent requests, and clients that stop reading.")],
         _default(config, "idle_timeout")),
        ("latency_ms", Annotated[float, typer.Option(help="Delay every request by N ms.")], _default(config, "latency_ms")),
        ("rate_limit", Annotated[float, typer.Option(help="Answer 429 with Retry-After beyond N requests/s (0: off).")],
         _default(config, "rate_limit")),
        ("error_rate", Annotated[float, typer.Option(help="Answer a random 503 with probability P.")],
         _default(config, "error_rate")),
        ("drop_rate", Annotated[float, typer.Option(help="Close the connection mid-request with probability P.")],
         _default(config, "drop_rate")),
        ("seed", Annotated[int | None, typer.Option(help="Random seed for the fault flags.")], None),
    ]


def _parameters(sandbox: PlatformSandbox) -> list[inspect.Parameter]:
    flags = [f for f in _common(sandbox) if sandbox.password_login or f[0] not in _PASSWORD_FLAGS]
    for flag in sandbox.flags:
        names = [name for name, _, _ in flags]
        if flag.after not in names:
            raise ValueError(f"{sandbox.name}: flag {flag.name!r} follows unknown flag {flag.after!r}")
        annotation = Annotated[flag.type, typer.Option(help=flag.help)]  # type: ignore[name-defined]
        flags.insert(names.index(flag.after) + 1, (flag.name, annotation, _default(sandbox.settings, flag.name)))
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, annotation, default in flags]


def _command(sandbox: PlatformSandbox) -> Callable[..., None]:
    """The command function, with the signature typer reads the flags from."""

    def command(**values: Any) -> None:
        _serve(sandbox, values)

    parameters = _parameters(sandbox)
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    command.__doc__ = sandbox.help
    command.__name__ = command.__qualname__ = sandbox.name
    return command


def command_line(sandboxes: Iterable[PlatformSandbox]) -> typer.Typer:
    app = typer.Typer(help="Run a local sandbox that implements a platform's API.", no_args_is_help=True,
                      rich_markup_mode=None)
    for sandbox in sandboxes:
        app.command(sandbox.name)(_command(sandbox))
    return app


# ── running one ──────────────────────────────────────────────────────────────────────────────


def _admin_password(name: str, db: str, given: str | None) -> tuple[str, str | None]:
    """The admin password, and where it was written when we had to generate one.

    A generated password is kept beside the database (mode 0600) so that a restart of the same
    sandbox keeps working with it; it is never printed.
    """
    if given:
        return given, None
    if db == ":memory:":
        path = Path(".platforge") / f"sandbox-{name}.admin-password"
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


def _serve(sandbox: PlatformSandbox, values: dict[str, Any]) -> None:
    from .serve import bind, serve_foreground

    host, port, db = (values.pop(name) for name in _SERVING)
    admin_password = values.pop("admin_password", None)
    faults = FaultConfig(**{name: values.pop(name) for name in list(values) if name in _FAULT_FIELDS})
    settings = sandbox.settings(db_path=db, faults=faults, **values)
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
        password_file = None
        if sandbox.password_login:
            password, password_file = _admin_password(sandbox.name, db, admin_password)
            settings = dataclasses.replace(settings, admin_password=password)
        application = sandbox.create_app(settings)
    except (ValueError, OSError) as exc:
        sock.close()
        _fail(str(exc), exc)

    def announce(url: str) -> None:
        who = f"  admin user={settings.admin_user!r}" if sandbox.password_login else ""
        err.print(f"{sandbox.title} sandbox on [bold]{url}[/bold]  db={db}{who}")
        if password_file:
            err.print(f"Admin password is in {password_file} (mode 0600).")

    serve_foreground(application, host, port, on_bound=announce, sock=sock)


def _fail(message: str, cause: Exception) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(1) from cause
