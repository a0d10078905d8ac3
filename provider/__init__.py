"""Platform providers, installed as `platforge.provider`.

One folder per platform (`datatailr/`: its httpx client, its kinds and its sandbox), built on
the shared kits in `_kit/` (the client transport and the sandbox server kit). Each platform
exposes a `PLATFORM` object that the core drives (see `platforge.core.plan.Platform`). Front
doors import from here, never from a platform's or a kit's private modules.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._kit.client import PlatformError

__all__ = ["PLATFORMS", "PlatformConnectionError", "PlatformError", "get_platform"]

#: Platform type (as written in a stack's [platform] table) -> module holding its PLATFORM.
PLATFORMS = {
    "datatailr": "platforge.provider.datatailr.platform",
    "dataiku": "platforge.provider.dataiku.platform",
    "dataloop": "platforge.provider.dataloop.platform",
    "studio": "platforge.provider.studio.platform",
    "tailer": "platforge.provider.tailer.platform",
}


class PlatformConnectionError(Exception):
    """Connecting or logging in failed before any change was attempted."""


def get_platform(name: str) -> Any:
    module = PLATFORMS.get(name)
    if module is None:
        raise KeyError(", ".join(sorted(PLATFORMS)))
    return importlib.import_module(module).PLATFORM
