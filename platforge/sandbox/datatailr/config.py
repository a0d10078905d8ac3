"""Settings of one Datatailr sandbox instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..faults import FaultConfig


@dataclass(frozen=True)
class SandboxConfig:
    db_path: str = ":memory:"
    admin_user: str = "admin"
    admin_password: str | None = None
    access_log: str | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    # Tag values the SDK reads (contract §2.8); `blob_storage_prefix` names the user bucket.
    blob_storage_prefix: str = "sandbox-"
    public_hostname: str = "sandbox"
    public_domain: str = "localhost"
