"""Dataiku DSS as the core sees it: its `[platform]` table, how to connect with an API key, its
kinds, and where state can live.

    [platform]
    type = "dataiku"
    endpoint = "https://dss.example.com"
    api_key_env = "DATAIKU_API_KEY"     # the name of the variable holding the key, never the key
    # api_prefix = "/public/api"        # or "/dip/publicapi", the official client's prefix
    # project_owner = "admin"           # owner of projects created without a declared owner
    # future_timeout = 900.0            # seconds a code environment build may take
    # parallelism = 4; rate_limit = 20.0

State: local only. DSS has no object store a state could live in that the public API protects
the way the `platform` backend needs (ACLs on the object, a linearizable listing), so a stack
that asks for `backend = "platform"` is refused before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from platforge.core.errors import Problem, StateError
from platforge.core.model import Resource
from platforge.core.plan import problem_at
from platforge.core.schema import Name, StrictFloat, expects
from platforge.core.stack import PlatformConfig

from .. import PlatformConnectionError
from .._kit.client import PlatformError, worth_deciding_again
from .client import DEFAULT_FUTURE_TIMEOUT, ConfigurationError, DataikuClient
from .kinds import (
    CodeEnvKind,
    ConnectionKind,
    GlobalApiKeyKind,
    GroupKind,
    InstanceVariableKind,
    ProjectGroupGrantKind,
    ProjectKind,
    ProjectVariablesKind,
    ScenarioKind,
    UserKind,
)
from .kinds.common import PROJECT_OWNER

DEFAULT_API_KEY_ENV = "DATAIKU_API_KEY"
#: Statuses a repeat may outlive: a gateway or a restarting DSS. DSS's 500s are deterministic
#: (validation, "not found", bugs) and deciding them again changes nothing.
TRANSIENT_STATUSES = frozenset({502, 503, 504})


class DataikuConfig(PlatformConfig):
    """Dataiku's `[platform]` table: the name of the variable holding the API key, the API
    prefix, who owns new projects and how long a code environment build may take."""

    credential_fields: ClassVar[Mapping[str, str]] = {"api_key": "api_key_env"}

    api_key_env: Name | None = None
    api_prefix: Literal["/public/api", "/dip/publicapi"] = "/public/api"
    project_owner: Name = "admin"
    future_timeout: StrictFloat = Field(default=DEFAULT_FUTURE_TIMEOUT, gt=0,
                                        json_schema_extra=expects("a positive number of seconds"))
    rate_limit: StrictFloat | None = Field(default=None, gt=0,
                                           json_schema_extra=expects("a positive number of requests per second"))


class DataikuPlatform:
    name = "dataiku"
    config_model = DataikuConfig
    object_settings: dict[str, tuple[str, str]] = {}
    secret_detection = (
        "fingerprint: DSS never returns user passwords and returns connection passwords only encrypted, so "
        "platforge compares the keyed HMAC-SHA256 fingerprint of each declared secret with the one recorded at "
        "the last apply; a change made in DSS itself cannot be seen. API key secrets are shown once at creation "
        "and never stored"
    )

    def __init__(self) -> None:
        kinds = [GroupKind(), UserKind(), ProjectKind(), ProjectGroupGrantKind(), InstanceVariableKind(),
                 ProjectVariablesKind(), ConnectionKind(), CodeEnvKind(), ScenarioKind(), GlobalApiKeyKind()]
        self.kinds = {k.name: k for k in kinds}

    # ---- stack rules -------------------------------------------------------------------

    def validate_stack(self, resources: list[Resource]) -> list[Problem]:
        """Declarations DSS would refuse or silently misread, caught before any request."""
        problems: list[Problem] = []
        for r in resources:
            if r.kind == "code_env" and r.spec["lang"] != "PYTHON" and "python_interpreter" in r.spec:
                problems.append(problem_at(r, "python_interpreter applies to PYTHON environments only"))
            if r.kind == "global_api_key" and "groups" in r.spec and r.spec.get("admin"):
                problems.append(problem_at(r, "a global API key acts either for its groups or as an administrator "
                                            "(admin = true), not both; remove one"))
        return problems

    def settings(self, config: DataikuConfig, resources: list[Resource]) -> dict[str, Any]:
        return {PROJECT_OWNER: config.project_owner}

    # ---- connection --------------------------------------------------------------------

    def connect(self, config: DataikuConfig, endpoint: str | None = None,
                environ: Mapping[str, str] | None = None) -> DataikuClient:
        """A client that has proved its key works (`GET /auth/info`), with the key from the
        variable the stack names (`DATAIKU_API_KEY` by default)."""
        environ = os.environ if environ is None else environ
        base_url = endpoint or config.endpoint
        key_env = config.api_key_env or DEFAULT_API_KEY_ENV
        api_key = environ.get(key_env, "").strip()
        if not api_key:
            raise PlatformConnectionError(
                f"no Dataiku API key: set {key_env} (the stack's [platform] api_key_env names another variable)")
        try:
            client = DataikuClient(base_url, api_key, prefix=config.api_prefix, rate_limit=config.rate_limit,
                                   future_timeout=config.future_timeout)
        except ConfigurationError as exc:
            raise PlatformConnectionError(f"[platform] endpoint {base_url!r}: {exc}") from None
        try:
            client.auth_info()
        except PlatformError as exc:
            client.close()
            raise PlatformConnectionError(f"cannot sign in to {base_url} with the key in {key_env}: {exc}") from None
        return client

    def is_internal(self, kind: str, identity: tuple[Any, ...]) -> bool:
        return False

    def is_transient(self, exc: Exception) -> bool:
        return worth_deciding_again(exc, TRANSIENT_STATUSES)

    def endpoint_of(self, client: DataikuClient) -> str:
        return client.base_url

    def object_store(self, client: DataikuClient, config: DataikuConfig) -> Any:
        raise StateError("Dataiku offers no platform state backend: DSS has no object store the public API "
                         "protects for a shared state; use [state] backend = \"local\" (and keep the state "
                         "where your CI can share it)")


PLATFORM = DataikuPlatform()
