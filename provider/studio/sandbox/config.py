"""Settings of one DataChain Studio sandbox instance: the kit's common settings plus Studio's own.

Kept free of server imports: `platforge sandbox studio` reads these at every start.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..._kit.sandbox.settings import SandboxSettings

__all__ = ["MIN_TOKEN_CHARS", "TOKEN_ENV", "SandboxConfig"]

#: Where `platforge sandbox studio` reads the seeded token when `--token` is not given: an
#: environment variable keeps it out of the process list and the shell history.
TOKEN_ENV = "PLATFORGE_STUDIO_TOKEN"
MIN_TOKEN_CHARS = 16
_TOKEN_CHARS = re.compile(r"[!-~]+")  # printable, no spaces: it travels in `Authorization: token <t>`
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _words(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class SandboxConfig(SandboxSettings):
    #: The team seeded at first start; the seeded token's default team (`--team`).
    team: str = "sandbox-team"
    #: The seeded administrator's token (`--token` or $PLATFORGE_STUDIO_TOKEN). Only its SHA-256
    #: is stored. None: the embedding code or the CLI must supply one.
    token: str | None = field(default=None, repr=False)
    #: Seconds a job spends queued and running before it is COMPLETE (the sandbox runs nothing).
    job_seconds: float = 1.0
    #: Accepted values of the undocumented enums (contract §5 #3), comma-separated.
    roles: str = "read,write,admin"
    permissions: str = "read,write,admin"
    resource_types: str = "namespace,project,dataset"

    def validate(self) -> None:
        super().validate()
        if not _NAME.fullmatch(self.team):
            raise ValueError(f"--team must be 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit; got {self.team!r}")
        token = self.token
        if token is not None and (len(token) < MIN_TOKEN_CHARS or len(token) > 512 or not _TOKEN_CHARS.fullmatch(token)):
            raise ValueError(f"--token must be {MIN_TOKEN_CHARS} to 512 printable characters without spaces")
        if not (math.isfinite(self.job_seconds) and 0 <= self.job_seconds <= 86400):
            raise ValueError(f"--job-seconds must be between 0 and 86400, got {self.job_seconds}")
        for name in ("roles", "permissions", "resource_types"):
            if not _words(getattr(self, name)):
                raise ValueError(f"--{name.replace('_', '-')} must name at least one value")

    @property
    def role_values(self) -> tuple[str, ...]:
        return _words(self.roles)

    @property
    def permission_values(self) -> tuple[str, ...]:
        return _words(self.permissions)

    @property
    def resource_type_values(self) -> tuple[str, ...]:
        return _words(self.resource_types)
