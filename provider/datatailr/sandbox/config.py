"""Settings of one Datatailr sandbox instance: the kit's common settings plus Datatailr's own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..._kit.sandbox.settings import MIB, SandboxSettings

__all__ = ["DEFAULT_MAX_BLOB_BYTES_PER_USER", "SandboxConfig"]

DEFAULT_MAX_BLOB_BYTES_PER_USER = 256 * MIB


@dataclass(frozen=True)
class SandboxConfig(SandboxSettings):
    # Tag values the SDK reads (contract §2.8); `blob_storage_prefix` names the user bucket.
    blob_storage_prefix: str = "sandbox-"
    public_hostname: str = "sandbox"
    public_domain: str = "localhost"
    # 0 means no limit.
    max_blob_bytes_per_user: int = DEFAULT_MAX_BLOB_BYTES_PER_USER
    # How long a saved job version stays `building` before it is `ready` (or `failed`); 0: built at
    # once, as before builds were simulated. Opt-in, so that clients that wait for builds can be tested.
    build_seconds: float = 0.0

    QUOTAS: ClassVar[tuple[str, ...]] = ("max_blob_bytes_per_user", "max_db_bytes")

    def validate(self) -> None:
        super().validate()
        if not (math.isfinite(self.build_seconds) and self.build_seconds >= 0):
            raise ValueError(f"--build-seconds must be a number >= 0 (0: built at once), got {self.build_seconds}")
