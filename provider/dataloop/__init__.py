"""The Dataloop platform, in one folder shaped like every other platform's.

- `client.py`: the httpx client on the client kit: the login at `POST /token?default` and a
  renewable bearer session, Dataloop's error body, complete listings of its two styles (bare
  arrays, and `…/query` pages read to the end) and the bounded wait for asynchronous deletes.
- `kinds/`: one module per kind (project, org and project members, integrations, datasets,
  services, triggers, pipelines). Dataloop assigns ids and does not keep names unique, so
  `kinds/common.py` holds what the kinds share: projects named by name and turned into ids, with
  ambiguity refused, and the run's cached listings.
- `platform.py`: the `PLATFORM` the core drives (the `[platform]` table, logging in with
  credentials from the environment, the kinds, and the state backends: local only).
- `sandbox/`: the local Dataloop emulator (built and documented on its own, see its `DECISIONS.md`).
"""

from .._kit.client import (
    AuthenticationError,
    BadRequest,
    Conflict,
    NotFound,
    OperationFailed,
    PagingError,
    PermissionDenied,
    PlatformError,
    PollTimeout,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from .client import API_PREFIX, ConfigurationError, DataloopClient, dataloop_error, query_body

__all__ = [
    "API_PREFIX",
    "AuthenticationError",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "DataloopClient",
    "NotFound",
    "OperationFailed",
    "PagingError",
    "PermissionDenied",
    "PlatformError",
    "PollTimeout",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "dataloop_error",
    "query_body",
]
