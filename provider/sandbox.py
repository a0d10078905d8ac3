"""Running a platform's sandbox: the public face the CLI, the demo and users' own test suites
import, over the sandbox kit's private modules (`_kit/sandbox/`).

    from platforge.provider.sandbox import FaultConfig, embedded
    from platforge.provider.datatailr.sandbox import SandboxConfig, create_app

    with embedded(create_app(SandboxConfig(db_path=":memory:", admin_password="..."))) as server:
        ...  # server.url is http://127.0.0.1:<a free port>
"""

from __future__ import annotations

from ._kit.sandbox.faults import FaultConfig
from ._kit.sandbox.private import tighten
from ._kit.sandbox.serve import EmbeddedServer, ServerLimits, bind, embedded, serve_foreground, url_of

__all__ = ["EmbeddedServer", "FaultConfig", "ServerLimits", "bind", "embedded", "serve_foreground", "tighten",
           "url_of"]
