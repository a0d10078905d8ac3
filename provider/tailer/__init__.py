"""The Tailer platform, in one folder shaped like every other platform's.

- `client.py`: the httpx client on the client kit, for Tailer's two services: the SDK API proxy
  (D8, the deploy) and the ops API (T7 enable/disable/archive, T3 the last run's status), with
  a lazily obtained Firebase ID token (given, or refreshed through F1; a 401 refreshes once) and
  secrets sealed as the SDK seals them (`seal`).
- `kinds/`: one module per configuration type (context, storage-to-storage, storage-to-tables,
  table-to-storage v3, workflow v2, vm-launcher v2); `kinds/common.py` holds what they share:
  the common fields, secret references at their natural places, the SDK's transforms, context
  application, and deploy / status / archive / probe. Every kind is deploy-only
  (`Observability.NONE`): Tailer cannot read a configuration back.
- `platform.py`: the `PLATFORM` the core drives (the `[platform]` table, credentials from the
  environment, the kinds, local state only).
- `sandbox/`: the local Tailer emulator (built and documented on its own).
"""

from .._kit.client import (
    AuthenticationError,
    BadRequest,
    Conflict,
    NotFound,
    PermissionDenied,
    PlatformError,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from .client import CLIENT_TYPE, CLIENT_VERSION, ConfigurationError, Run, TailerClient, is_sealed, seal, tailer_error

__all__ = [
    "CLIENT_TYPE",
    "CLIENT_VERSION",
    "AuthenticationError",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "NotFound",
    "PermissionDenied",
    "PlatformError",
    "RateLimited",
    "RetryPolicy",
    "Run",
    "ServerError",
    "TailerClient",
    "TransportError",
    "is_sealed",
    "seal",
    "tailer_error",
]
