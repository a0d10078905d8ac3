"""Platform providers, installed as `platforge.provider`.

A platform is an httpx client plus its kinds of object. `transport` holds what every platform's
client shares (typed errors, retries, rate limiting, paging); each subpackage knows one wire and
exposes a `PLATFORM` object that the core drives (see `platforge.core.plan.Platform`).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Platform type (as written in a stack's [platform] table) -> module holding its PLATFORM.
PLATFORMS = {
    "datatailr": "platforge.provider.datatailr.platform",
}


class PlatformConnectionError(Exception):
    """Connecting or logging in failed before any change was attempted."""


def get_platform(name: str) -> Any:
    module = PLATFORMS.get(name)
    if module is None:
        raise KeyError(", ".join(sorted(PLATFORMS)))
    return importlib.import_module(module).PLATFORM
