"""Settings of one Tailer sandbox instance: the kit's common settings plus Tailer's own.

Kept free of server imports: `platforge sandbox tailer` reads these at every start.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..._kit.sandbox.settings import SandboxSettings

__all__ = ["API_KEY_ENV", "MIN_SECRET_CHARS", "REFRESH_TOKEN_ENV", "SandboxConfig"]

#: Where `platforge sandbox tailer` reads the credentials when the flags are not given: the
#: environment keeps them out of the process list and the shell history.
REFRESH_TOKEN_ENV = "PLATFORGE_TAILER_REFRESH_TOKEN"
API_KEY_ENV = "PLATFORGE_TAILER_FIREBASE_API_KEY"
MIN_SECRET_CHARS = 16
_SECRET = re.compile(r"[!-~]+")  # printable ASCII, no spaces: they travel in JSON bodies and query strings
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
_PROFILE = re.compile(r"[a-z][a-z0-9-]{4,61}[a-z0-9]")  # a GCP project id


def _words(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class SandboxConfig(SandboxSettings):
    #: The refresh token F1 accepts (`--refresh-token` or $PLATFORGE_TAILER_REFRESH_TOKEN). Only
    #: its SHA-256 is stored. None: the embedding code or the CLI must supply one.
    refresh_token: str | None = field(default=None, repr=False)
    #: The Firebase API key F1 accepts in `?key=` (`--firebase-api-key`); SHA-256 only stored.
    firebase_api_key: str | None = field(default=None, repr=False)
    #: The one Firebase user of the sandbox: `user_id` in F1's answer and in every ID token.
    user_id: str = "sandbox-user"
    #: The GCP projects D6 offers, comma-separated; the first is D2's fallback.
    project_profiles: str = "sandbox-project"
    #: Lifetime of the ID tokens F1 signs, in seconds (Firebase: 3600).
    token_seconds: int = 3600
    #: Seconds a launched run stays RUNNING before it reads as SUCCESS (the sandbox runs nothing).
    run_seconds: float = 0.0
    #: The RSA private key (PEM) that opens sealed secrets. None: generated once and kept in the
    #: database. Given: used as is, and not stored (embedding code and tests reuse one key).
    rsa_private_key: str | None = field(default=None, repr=False)

    def validate(self) -> None:
        super().validate()
        for name, flag in (("refresh_token", "--refresh-token"), ("firebase_api_key", "--firebase-api-key")):
            value = getattr(self, name)
            if value is not None and (len(value) < MIN_SECRET_CHARS or len(value) > 512 or not _SECRET.fullmatch(value)):
                raise ValueError(f"{flag} must be {MIN_SECRET_CHARS} to 512 printable characters without spaces")
        if not _USER.fullmatch(self.user_id):
            raise ValueError(f"--user-id must be 1-128 letters, digits, '_', '.', '@' or '-'; got {self.user_id!r}")
        profiles = self.profiles
        if not profiles or not all(_PROFILE.fullmatch(p) for p in profiles):
            raise ValueError("--project-profiles must name at least one GCP project id (6-63 lower-case letters, digits, '-')")
        if not 60 <= self.token_seconds <= 86400:
            raise ValueError(f"--token-seconds must be between 60 and 86400, got {self.token_seconds}")
        if not (math.isfinite(self.run_seconds) and 0 <= self.run_seconds <= 86400):
            raise ValueError(f"--run-seconds must be between 0 and 86400, got {self.run_seconds}")

    @property
    def profiles(self) -> tuple[str, ...]:
        return _words(self.project_profiles)
