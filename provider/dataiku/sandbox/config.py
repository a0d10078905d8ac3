"""Settings of one Dataiku DSS sandbox instance: the kit's common settings plus DSS's own."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..._kit.sandbox.settings import SandboxSettings

__all__ = ["ADMIN_KEY_ENV", "MIN_ADMIN_KEY_CHARS", "SandboxConfig"]

#: Where `platforge sandbox dataiku` reads the administrator's API key when `--admin-api-key` is
#: not given: an environment variable keeps the key out of the process list and shell history.
ADMIN_KEY_ENV = "PLATFORGE_DATAIKU_ADMIN_API_KEY"
MIN_ADMIN_KEY_CHARS = 16
# The key travels as the Basic user name, so it can hold neither a colon nor whitespace.
_KEY_CHARS = re.compile(r"[!-9;-~]+")


@dataclass(frozen=True)
class SandboxConfig(SandboxSettings):
    # The bootstrap administrator's API key (HTTP Basic user name, empty password). None: the
    # embedding code or the CLI must supply one (the app refuses to start without it).
    admin_api_key: str | None = field(default=None, repr=False)
    # How long a code-env build or package update (a DSS future) stays running before it has its
    # result; `wait=True` calls wait that long before answering. Short by default: clients that
    # poll futures are exercised without slowing anyone down.
    build_seconds: float = 0.3

    def validate(self) -> None:
        super().validate()
        if not (math.isfinite(self.build_seconds) and 0 <= self.build_seconds <= 60):
            raise ValueError(f"--build-seconds must be a number between 0 and 60, got {self.build_seconds}")
        key = self.admin_api_key
        if key is not None and (len(key) < MIN_ADMIN_KEY_CHARS or not _KEY_CHARS.fullmatch(key)):
            raise ValueError(
                f"--admin-api-key must be at least {MIN_ADMIN_KEY_CHARS} printable characters without spaces or ':'"
            )
