"""Settings of one Datatailr sandbox instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..._kit.sandbox.faults import FaultConfig
from ..._kit.sandbox.serve import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, ServerLimits

MIB = 1024 * 1024
MIN_SECRET_CHARS = 16
DEFAULT_MAX_BLOB_BYTES_PER_USER = 256 * MIB
DEFAULT_MAX_DB_BYTES = 1024 * MIB


@dataclass(frozen=True)
class SandboxConfig:
    db_path: str = ":memory:"
    admin_user: str = "admin"
    admin_password: str | None = None
    access_log: str | None = None
    # The request body limit is `faults.max_body_bytes` (shared by every sandbox).
    faults: FaultConfig = field(default_factory=FaultConfig)
    # Tag values the SDK reads (contract §2.8); `blob_storage_prefix` names the user bucket.
    blob_storage_prefix: str = "sandbox-"
    public_hostname: str = "sandbox"
    public_domain: str = "localhost"
    # Sessions are signed with a key derived from this secret when it is given; otherwise with a
    # random key kept in the owner-only file `<db_path>.signing-key` (in memory for ":memory:").
    session_secret: str | None = field(default=None, repr=False)
    # Quotas; 0 means no limit (except `idle_timeout`, which must be > 0).
    max_blob_bytes_per_user: int = DEFAULT_MAX_BLOB_BYTES_PER_USER
    max_db_bytes: int = DEFAULT_MAX_DB_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT

    @property
    def server_limits(self) -> ServerLimits:
        return ServerLimits(max_connections=self.max_connections, idle_timeout=self.idle_timeout)

    def validate(self) -> None:
        """Raise ValueError naming the CLI flag of the first bad setting."""
        self.faults.validate()
        if self.faults.max_body_bytes <= 0:
            raise ValueError(f"--max-body-bytes must be > 0, got {self.faults.max_body_bytes}")
        for name in ("max_blob_bytes_per_user", "max_db_bytes"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0 (0: no limit), got {getattr(self, name)}")
        if self.session_secret is not None and len(self.session_secret) < MIN_SECRET_CHARS:
            raise ValueError(f"--session-secret must be at least {MIN_SECRET_CHARS} characters")
        self.server_limits.validate()
