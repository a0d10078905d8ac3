"""Running a platform's sandbox: the public face the CLI, the demo and users' own test suites
import, over the sandbox kit's private modules (`_kit/sandbox/`).

    from platforge.provider.sandbox import FaultConfig, embedded
    from platforge.provider.datatailr.sandbox import SandboxConfig, create_app

    with embedded(create_app(SandboxConfig(db_path=":memory:", admin_password="..."))) as server:
        ...  # server.url is http://127.0.0.1:<a free port>

`SANDBOXES` is the registry behind `platforge sandbox <platform>`: each platform's sandbox
package exposes a `SANDBOX` (a `PlatformSandbox`: its app factory, settings and own flags).

The serving names load uvicorn on first use, not on import: the `platforge` command imports
this module at every start to build its `sandbox` commands.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._kit.sandbox.cli import Flag, PlatformSandbox
from ._kit.sandbox.cli import command_line as _command_line
from ._kit.sandbox.private import tighten
from ._kit.sandbox.settings import FaultConfig, SandboxSettings, ServerLimits

if TYPE_CHECKING:
    import typer

    from ._kit.sandbox.serve import EmbeddedServer, bind, embedded, serve_foreground, url_of

__all__ = ["SANDBOXES", "EmbeddedServer", "FaultConfig", "Flag", "PlatformSandbox", "SandboxSettings", "ServerLimits",
           "bind", "command_line", "embedded", "get_sandbox", "serve_foreground", "tighten", "url_of"]

#: `platforge sandbox <name>` -> the package holding that platform's `SANDBOX`.
SANDBOXES = {
    "datatailr": "platforge.provider.datatailr.sandbox",
    "dataiku": "platforge.provider.dataiku.sandbox",
    "dataloop": "platforge.provider.dataloop.sandbox",
    "studio": "platforge.provider.studio.sandbox",
    "tailer": "platforge.provider.tailer.sandbox",
}

_SERVING = {"EmbeddedServer", "bind", "embedded", "serve_foreground", "url_of"}


def get_sandbox(name: str) -> PlatformSandbox:
    module = SANDBOXES.get(name)
    if module is None:
        raise KeyError(", ".join(sorted(SANDBOXES)))
    sandbox: PlatformSandbox = importlib.import_module(module).SANDBOX
    return sandbox


def command_line() -> typer.Typer:
    """The `platforge sandbox` command group: one command per registered platform."""
    return _command_line(get_sandbox(name) for name in SANDBOXES)


def __getattr__(name: str) -> Any:
    if name in _SERVING:
        from ._kit.sandbox import serve

        return getattr(serve, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
