"""The DataChain Studio platform, in one folder shaped like every other platform's.

- `client.py`: the httpx client on the client kit: a long-lived token sent as `token` (what the
  official `datachain` client sends) or `Bearer`, the team named on every request, Studio's
  error body, and complete listings (bare arrays; pipelines read with a growing `limit`).
- `kinds/`: one module per kind (access groups, group members, access rules, pipeline
  schedules); `kinds/common.py` holds what they share: the run's cached listings and the data
  sources that turn the names stacks use (groups, users by e-mail, pipelines, clusters) into
  Studio's ids, with a plan error for a name that matches nothing.
- `platform.py`: the `PLATFORM` the core drives (the `[platform]` table, the token from the
  environment, the kinds, and the state backends: local only).
- `sandbox/`: the local Studio emulator (built and documented on its own, see its `DECISIONS.md`).
"""

from .._kit.client import (
    AuthenticationError,
    BadRequest,
    Conflict,
    NotFound,
    PagingError,
    PermissionDenied,
    PlatformError,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from .client import API_PREFIX, AUTH_SCHEMES, DEFAULT_AUTH_SCHEME, ConfigurationError, StudioClient, studio_error

__all__ = [
    "API_PREFIX",
    "AUTH_SCHEMES",
    "DEFAULT_AUTH_SCHEME",
    "AuthenticationError",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "NotFound",
    "PagingError",
    "PermissionDenied",
    "PlatformError",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "StudioClient",
    "TransportError",
    "studio_error",
]
