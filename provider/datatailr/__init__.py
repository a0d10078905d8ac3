"""The Datatailr platform: its HTTP client and the typed views of its objects.

    from platforge.provider.datatailr import DatatailrClient
    with DatatailrClient.from_env() as dt:
        dt.groups.add("analysts")
        dt.kv.put("db_url", "postgres://h/db", acl=Acl(groups={"analysts": "r"}))

`wire.py` is the only module that knows the encoding; the typed namespaces (`users`, `groups`,
`kv`, `secrets`, `blobs`, `jobs`, `tags`) only say which command takes which arguments.
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
from .client import ConfigurationError, DatatailrClient, PasswordLogin, TokenLogin, normalize_base_url
from .filters import all_of, eq, quote, where
from .jobs import RepoBundle, ScheduleHelpers, normalize_job_name, platform_job_id
from .models import (
    PERMISSIONS,
    Acl,
    AclIds,
    BlobEntry,
    CronSchedule,
    Group,
    Job,
    JobRun,
    JobSaveResult,
    KvEntry,
    Permission,
    SignedUser,
    StartResult,
    User,
    memory_bytes,
    memory_text,
)

__all__ = [
    "PERMISSIONS",
    "Acl",
    "AclIds",
    "AuthenticationError",
    "BadRequest",
    "BlobEntry",
    "ConfigurationError",
    "Conflict",
    "CronSchedule",
    "DatatailrClient",
    "Group",
    "Job",
    "JobRun",
    "JobSaveResult",
    "KvEntry",
    "NotFound",
    "PasswordLogin",
    "Permission",
    "PermissionDenied",
    "PlatformError",
    "RateLimited",
    "RepoBundle",
    "RetryPolicy",
    "ScheduleHelpers",
    "ServerError",
    "SignedUser",
    "StartResult",
    "TokenLogin",
    "TransportError",
    "User",
    "all_of",
    "eq",
    "memory_bytes",
    "memory_text",
    "normalize_base_url",
    "normalize_job_name",
    "platform_job_id",
    "quote",
    "where",
]
