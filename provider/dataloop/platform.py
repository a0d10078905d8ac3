"""Dataloop as the core sees it: its `[platform]` table, how to log in, its kinds, and where
state can live.

    [platform]
    type = "dataloop"
    endpoint = "https://gate.dataloop.ai"     # the gate (".../api/v1" is accepted too)
    org = "acme"                              # the organisation: a name or an id (optional when the
                                              # user belongs to one only)
    email_env = "DATALOOP_EMAIL"              # names of the variables holding the credentials,
    password_env = "DATALOOP_PASSWORD"        # never the credentials themselves
    # token_env = "DATALOOP_TOKEN"            # or a token (a JWT), used as it is: not renewable
    # page_size = 1000                        # items per page of a `…/query` listing
    # delete_timeout = 120.0                  # seconds an asynchronous delete may take
    # parallelism = 4; rate_limit = 20.0

Logging in exchanges the e-mail and password for a JWT at `POST /token?default` (contract §3.1);
a rejected token logs in again once and replays the request. The organisation is part of the
target a state is bound to: a state written for one organisation is refused for another.

State: local only. Dataloop stores files as dataset items, which could hold a state document,
but their protection is the whole project's membership (anyone who may annotate may overwrite
it), there is no per-object access control or conditional write to take a lock with, and the
item API is outside what this provider speaks. A stack that asks for `backend = "platform"` is
refused before anything is written.

Temporary failures: connection failures, throttling and 502/503/504 (a gateway, a restarting
gate). A 500 and every 4xx are permanent: deciding them again changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field

from platforge.core.errors import Problem, StateError
from platforge.core.model import Resource
from platforge.core.plan import problem_at
from platforge.core.schema import Name, StrictFloat, StrictInt, expects
from platforge.core.stack import PlatformConfig

from .. import PlatformConnectionError
from .._kit.client import PlatformError, worth_deciding_again
from .client import DEFAULT_DELETE_TIMEOUT, DEFAULT_PAGE_SIZE, ConfigurationError, DataloopClient
from .kinds import (
    DatasetKind,
    IntegrationKind,
    OrgMemberKind,
    PipelineKind,
    ProjectKind,
    ProjectMemberKind,
    ServiceKind,
    TriggerKind,
)
from .kinds.service import SERVICE_NAMES, service_names

DEFAULT_EMAIL_ENV = "DATALOOP_EMAIL"
DEFAULT_PASSWORD_ENV = "DATALOOP_PASSWORD"
DEFAULT_TOKEN_ENV = "DATALOOP_TOKEN"
#: Statuses a decision made again may outlive: a gateway or a restarting gate.
TRANSIENT_STATUSES = frozenset({502, 503, 504})


class DataloopConfig(PlatformConfig):
    """Dataloop's `[platform]` table: the organisation, and the names of the variables holding
    the credentials."""

    credential_fields: ClassVar[Mapping[str, str]] = {
        "email": "email_env", "password": "password_env", "token": "token_env"}

    org: Name | None = None
    email_env: Name | None = None
    password_env: Name | None = None
    token_env: Name | None = None
    page_size: StrictInt = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=1000,
                                 json_schema_extra=expects("an integer from 1 to 1000"))
    delete_timeout: StrictFloat = Field(default=DEFAULT_DELETE_TIMEOUT, gt=0,
                                        json_schema_extra=expects("a positive number of seconds"))
    rate_limit: StrictFloat | None = Field(default=None, gt=0,
                                           json_schema_extra=expects("a positive number of requests per second"))

    def scope(self) -> str:
        return self.org or ""


class DataloopPlatform:
    name = "dataloop"
    config_model = DataloopConfig
    object_settings: dict[str, tuple[str, str]] = {}
    secret_detection = (
        "fingerprint: Dataloop never returns an integration's options, so platforge compares the keyed "
        "HMAC-SHA256 fingerprint of each declared options document with the one recorded at the last apply; "
        "a change made in Dataloop itself cannot be seen"
    )

    def __init__(self) -> None:
        kinds = [OrgMemberKind(), IntegrationKind(), ProjectKind(), ProjectMemberKind(), DatasetKind(), ServiceKind(),
                 TriggerKind(), PipelineKind()]
        self.kinds = {k.name: k for k in kinds}

    # ---- stack rules -------------------------------------------------------------------

    def validate_stack(self, resources: list[Resource]) -> list[Problem]:
        """A trigger runs a service of its own project, found there by name when it is written:
        naming a declared service of another project would fail halfway through an apply, so it
        is refused before any request."""
        services = {r.name: r for r in resources if r.kind == "service"}
        problems: list[Problem] = []
        for r in resources:
            if r.kind != "trigger":
                continue
            service = services.get(r.spec["service"])
            if service is not None and service.spec["project"] != r.spec["project"]:
                problems.append(problem_at(r, f"service {r.spec['service']!r} is declared in project "
                                            f"{service.spec['project']!r}, but a trigger runs a service of its own "
                                            f"project ({r.spec['project']!r})"))
        return problems

    def settings(self, config: DataloopConfig, resources: list[Resource]) -> dict[str, Any]:
        return {SERVICE_NAMES: service_names(resources)}

    # ---- connection --------------------------------------------------------------------

    def connect(self, config: DataloopConfig, endpoint: str | None = None,
                environ: Mapping[str, str] | None = None) -> DataloopClient:
        """A client that has proved its credentials work (`GET /users/me`, after logging in),
        with the credentials from the variables the stack names."""
        environ = os.environ if environ is None else environ
        base_url = endpoint or config.endpoint
        email_env = config.email_env or DEFAULT_EMAIL_ENV
        password_env = config.password_env or DEFAULT_PASSWORD_ENV
        token_env = config.token_env or DEFAULT_TOKEN_ENV
        email, password = environ.get(email_env, "").strip(), environ.get(password_env, "")
        token = environ.get(token_env, "").strip()
        if not (email and password) and not token:
            raise PlatformConnectionError(
                f"no Dataloop credentials: set {email_env} and {password_env}, or {token_env} (the stack's "
                "[platform] email_env / password_env / token_env name other variables)")
        try:
            client = DataloopClient(base_url, email=email or None, password=password or None,
                                    token=None if email and password else token, org=config.org,
                                    page_size=config.page_size, delete_timeout=config.delete_timeout,
                                    rate_limit=config.rate_limit)
        except ConfigurationError as exc:
            raise PlatformConnectionError(f"[platform] endpoint {base_url!r}: {exc}") from None
        try:
            client.me()
            if config.org is not None:
                client.org_id()
        except ConfigurationError as exc:
            client.close()
            raise PlatformConnectionError(f"[platform] org: {exc}") from None
        except PlatformError as exc:
            client.close()
            how = f"{email_env} and {password_env}" if email and password else token_env
            raise PlatformConnectionError(f"cannot log in to {base_url} with the credentials in {how}: {exc}") from None
        return client

    def is_internal(self, kind: str, identity: tuple[Any, ...]) -> bool:
        return False

    def is_transient(self, exc: Exception) -> bool:
        return worth_deciding_again(exc, TRANSIENT_STATUSES)

    def endpoint_of(self, client: DataloopClient) -> str:
        return client.base_url

    def object_store(self, client: DataloopClient, config: DataloopConfig) -> Any:
        raise StateError("Dataloop offers no platform state backend: no object there has access control of its own "
                         "or a conditional write to lock with; use [state] backend = \"local\" (and keep the state "
                         "where your CI can share it)")


PLATFORM = DataloopPlatform()
