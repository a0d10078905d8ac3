"""The Datatailr sandbox: the platform's HTTP API (the remote API as the datatailr 0.2.3 SDK speaks
it) over SQLite. `create_app(SandboxConfig(...))` builds it; `DECISIONS.md` records every choice
made where the vendor's API is open, and its "Security" section the sandbox's safety measures."""

from __future__ import annotations

from .app import create_app
from .config import SandboxConfig

__all__ = ["SandboxConfig", "create_app"]
