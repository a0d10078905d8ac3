"""DataChain Studio as the core sees it: its `[platform]` table, how to connect, its kinds, and
where state can live.

    [platform]
    type = "studio"
    endpoint = "https://studio.datachain.ai"  # Studio's root, as DATACHAIN_STUDIO_URL ("…/api" is accepted too)
    team = "acme"                             # the team every object belongs to
    token_env = "DATACHAIN_STUDIO_TOKEN"      # the name of the variable holding the token, never the token
    # auth_scheme = "token"                   # or "Bearer"
    # page_size = 100                         # first `limit` of a pipeline listing (doubled while full)
    # parallelism = 4; rate_limit = 20.0

Choices the contract leaves open (§5), made where the provider had to choose before the
sandbox's `DECISIONS.md` said anything, for what the official client (`datachain==0.62.0`)
does, since that is what production Studio answers:

- **auth** (§3.1, §5.1): `Authorization: token <t>` by default, what the official client sends;
  `auth_scheme = "Bearer"` for the seed's form. A token is never renewed (Studio has no session
  to renew): a rejected one is an error at connect, before any change.
- **team** (§5.2): named on every request (`?team_name=` on reads and RBAC calls, in the body
  of the pipeline RPCs, as the official client and the seed put it), never left to the token's
  default team, which need not be the stack's. The team is part of the target a state is bound
  to: a state written for one team is refused for another.
- **exactly one principal** per access rule (§1.3, "inferred, not stated"): checked when the
  stack is read, although Studio accepts both.
- **users by e-mail** (§1.2): Studio has no user directory; e-mails are turned into ids from the
  team's group members and access rules (a data source), and an unknown one is a plan error.
- **`pause_pipeline` is write-only** (§1.4): compared with the value last applied, never read
  back from a pipeline's status (see `kinds/pipeline_schedule.py`).
- **uniqueness** (§5.5): group and schedule names are assumed unique per team; a name two
  share is refused with their ids, never guessed.

State: local only. The API offers no object store at all (datasets are outside it, §1, and
would not be protected per object), so a stack that asks for `backend = "platform"` is refused
before anything is written.

Temporary failures: connection failures, throttling and 502/503/504. A 500 and every 4xx are
permanent: deciding them again changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from platforge.core.errors import Problem, StateError
from platforge.core.model import Resource
from platforge.core.schema import Name, StrictFloat, StrictInt, expects
from platforge.core.stack import PlatformConfig

from .. import PlatformConnectionError
from .._kit.client import PlatformError, worth_deciding_again
from .client import DEFAULT_AUTH_SCHEME, DEFAULT_PAGE_SIZE, ConfigurationError, StudioClient
from .kinds import AccessGroupKind, AccessGroupMemberKind, AccessRuleKind, PipelineScheduleKind
from .kinds.common import GROUP_NAMES, RULE_RESOURCES, group_names, rule_resources

#: The variable the official client reads its token from.
DEFAULT_TOKEN_ENV = "DATACHAIN_STUDIO_TOKEN"
#: Statuses a decision made again may outlive: a gateway or a restarting Studio.
TRANSIENT_STATUSES = frozenset({502, 503, 504})


class StudioConfig(PlatformConfig):
    """Studio's `[platform]` table: the team, the name of the variable holding the token, and
    how to send it."""

    credential_fields: ClassVar[Mapping[str, str]] = {"token": "token_env"}

    team: Name = Field(json_schema_extra=expects("the name of the Studio team"))
    token_env: Name | None = None
    auth_scheme: Literal["token", "Bearer"] = DEFAULT_AUTH_SCHEME
    page_size: StrictInt = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=10_000,
                                 json_schema_extra=expects("an integer from 1 to 10000"))
    rate_limit: StrictFloat | None = Field(default=None, gt=0,
                                           json_schema_extra=expects("a positive number of requests per second"))

    def scope(self) -> str:
        return self.team


class StudioPlatform:
    name = "studio"
    config_model = StudioConfig
    object_settings: dict[str, tuple[str, str]] = {}
    secret_detection = "none: no Studio kind of this version holds a secret (the token is a credential of the run)"

    def __init__(self) -> None:
        kinds = [AccessGroupKind(), AccessGroupMemberKind(), AccessRuleKind(), PipelineScheduleKind()]
        self.kinds = {k.name: k for k in kinds}

    # ---- stack rules -------------------------------------------------------------------

    def validate_stack(self, resources: list[Resource]) -> list[Problem]:
        return []

    def settings(self, config: StudioConfig, resources: list[Resource]) -> dict[str, Any]:
        return {GROUP_NAMES: group_names(resources), RULE_RESOURCES: rule_resources(resources)}

    # ---- connection --------------------------------------------------------------------

    def connect(self, config: StudioConfig, endpoint: str | None = None,
                environ: Mapping[str, str] | None = None) -> StudioClient:
        """A client that has proved its token works in the team (one listing of the team's
        access groups), with the token from the variable the stack names."""
        environ = os.environ if environ is None else environ
        base_url = endpoint or config.endpoint
        token_env = config.token_env or DEFAULT_TOKEN_ENV
        token = environ.get(token_env, "").strip()
        if not token:
            raise PlatformConnectionError(f"no Studio token: set {token_env} (the stack's [platform] token_env names "
                                          "another variable)")
        try:
            client = StudioClient(base_url, token=token, team=config.team, auth_scheme=config.auth_scheme,
                                  page_size=config.page_size, rate_limit=config.rate_limit)
        except ConfigurationError as exc:
            raise PlatformConnectionError(f"[platform] endpoint {base_url!r}: {exc}") from None
        try:
            client.list_groups()
        except PlatformError as exc:
            client.close()
            raise PlatformConnectionError(f"cannot use Studio at {base_url} as team {config.team!r} with the token in "
                                          f"{token_env}: {exc}") from None
        return client

    def is_internal(self, kind: str, identity: tuple[Any, ...]) -> bool:
        return False

    def is_transient(self, exc: Exception) -> bool:
        return worth_deciding_again(exc, TRANSIENT_STATUSES)

    def endpoint_of(self, client: StudioClient) -> str:
        return client.base_url

    def object_store(self, client: StudioClient, config: StudioConfig) -> Any:
        raise StateError("DataChain Studio offers no platform state backend: its API has no object store to keep a "
                         "state in; use [state] backend = \"local\" (and keep the state where your CI can share it)")


PLATFORM = StudioPlatform()
