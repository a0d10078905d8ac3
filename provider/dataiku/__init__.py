"""The Dataiku DSS platform, in one folder shaped like every other platform's.

- `client.py`: the httpx client on the client kit. DSS has one wire convention for every
  object (JSON documents under `/public/api`, read-modify-write, futures for long work), so
  unlike Datatailr there is no separate wire module: the client owns the error mapping (DSS
  answers some "not found" with a 500), the futures and one method per endpoint the kinds use.
- `kinds/`: one module per kind. Most DSS objects are settings documents the kinds share with
  people and other tools, so `kinds/common.py` holds the one read-modify-write helper they all
  use: a kind changes the fields it declares and puts every other field back as it read it.
- `platform.py`: the `PLATFORM` the core drives (the `[platform]` table, connecting with an API
  key from the environment, the kinds, and the state backends: local only).
- `sandbox/`: the local DSS emulator (built and documented on its own, see its `DECISIONS.md`).
"""

from .._kit.client import (
    AuthenticationError,
    BadRequest,
    Conflict,
    NotFound,
    OperationFailed,
    PermissionDenied,
    PlatformError,
    PollTimeout,
    RateLimited,
    RetryPolicy,
    ServerError,
    TransportError,
)
from .client import DEFAULT_PREFIX, ConfigurationError, DataikuClient, dataiku_error

__all__ = [
    "DEFAULT_PREFIX",
    "AuthenticationError",
    "BadRequest",
    "ConfigurationError",
    "Conflict",
    "DataikuClient",
    "NotFound",
    "OperationFailed",
    "PermissionDenied",
    "PlatformError",
    "PollTimeout",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "dataiku_error",
]
