"""The settings every sandbox shares, and their checks, kept free of FastAPI and uvicorn.

The CLI builds its options from these classes for every `platforge` invocation, so loading them
must cost nothing; the server modules import them, never the other way round. A platform
subclasses `SandboxSettings` for its own settings (and names its own quotas in `QUOTAS`, so that
they are checked in the order its flags are listed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

__all__ = ["DEFAULT_IDLE_TIMEOUT", "DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_CONNECTIONS", "DEFAULT_MAX_DB_BYTES", "MIB",
           "FaultConfig", "SandboxSettings", "ServerLimits"]

MIB = 1024 * 1024
MIN_SECRET_CHARS = 16
DEFAULT_MAX_BODY_BYTES = 100 * MIB
DEFAULT_MAX_DB_BYTES = 1024 * MIB
DEFAULT_MAX_CONNECTIONS = 128
DEFAULT_IDLE_TIMEOUT = 15.0


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: float = 0.0
    rate_limit: float = 0.0  # requests per second; 0 = unlimited
    error_rate: float = 0.0  # probability of an injected 503
    drop_rate: float = 0.0  # probability of closing the connection mid-request
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    seed: int | None = None

    def validate(self) -> None:
        for name in ("error_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")
        if self.latency_ms < 0:
            raise ValueError(f"--latency-ms must be >= 0, got {self.latency_ms}")
        if self.rate_limit < 0:
            raise ValueError(f"--rate-limit must be >= 0, got {self.rate_limit}")


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # 0: no limit
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT  # seconds; > 0

    def validate(self) -> None:
        if self.max_connections < 0:
            raise ValueError(f"--max-connections must be >= 0 (0: no limit), got {self.max_connections}")
        if not self.idle_timeout > 0:
            raise ValueError(f"--idle-timeout must be > 0 seconds, got {self.idle_timeout}")


@dataclass(frozen=True)
class SandboxSettings:
    """What every sandbox instance is started with; the CLI's common flags map onto these."""

    db_path: str = ":memory:"
    admin_user: str = "admin"
    admin_password: str | None = None
    access_log: str | None = None
    # The request body limit is `faults.max_body_bytes`.
    faults: FaultConfig = field(default_factory=FaultConfig)
    # Sessions are signed with a key derived from this secret when it is given; otherwise with a
    # random key kept in the owner-only file `<db_path>.signing-key` (in memory for ":memory:").
    session_secret: str | None = field(default=None, repr=False)
    # Quotas; 0 means no limit (except `idle_timeout`, which must be > 0).
    max_db_bytes: int = DEFAULT_MAX_DB_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT

    #: Byte quotas that must be >= 0 (0: no limit), checked in this order.
    QUOTAS: ClassVar[tuple[str, ...]] = ("max_db_bytes",)

    @property
    def server_limits(self) -> ServerLimits:
        return ServerLimits(max_connections=self.max_connections, idle_timeout=self.idle_timeout)

    def validate(self) -> None:
        """Raise ValueError naming the CLI flag of the first bad setting."""
        self.faults.validate()
        if self.faults.max_body_bytes <= 0:
            raise ValueError(f"--max-body-bytes must be > 0, got {self.faults.max_body_bytes}")
        for name in self.QUOTAS:
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0 (0: no limit), got {getattr(self, name)}")
        if self.session_secret is not None and len(self.session_secret) < MIN_SECRET_CHARS:
            raise ValueError(f"--session-secret must be at least {MIN_SECRET_CHARS} characters")
        self.server_limits.validate()
