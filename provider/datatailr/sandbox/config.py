"""Settings of one Datatailr sandbox instance: the kit's common settings plus Datatailr's own."""

from __future__ import annotations

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

    QUOTAS: ClassVar[tuple[str, ...]] = ("max_blob_bytes_per_user", "max_db_bytes")
