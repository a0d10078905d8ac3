"""Tailer as the core sees it: its `[platform]` table, how to connect, its kinds, and where
state can live.

    [platform]
    type = "tailer"
    endpoint = "https://fd-io-jarvis-platform-api-proxy-a7nkzexitq-ew.a.run.app/"   # the SDK API proxy
    ops_endpoint = "https://tailer-api-nqonovswsq-ew.a.run.app"                    # the ops API (/v1/...)
    # securetoken_url = "https://securetoken.googleapis.com/v1/token"
    # id_token_env = "PLATFORGE_TAILER_ID_TOKEN"             # an ID token, or:
    # refresh_token_env = "PLATFORGE_TAILER_REFRESH_TOKEN"   # a refresh token ...
    # firebase_api_key_env = "PLATFORGE_TAILER_FIREBASE_API_KEY"   # ... and the Firebase API key
    # public_key_file = "$TAILER_HOME/tailer_public_key.pem" # seals secrets (default shown)
    # project_profile = "my-gcp-project"                    # D8's project_profile where an object has none
    # verify_tls = true; rate_limit = 10.0; parallelism = 4

Credentials are read from the environment variables the table names (never from the stack),
and nothing is sent when connecting: the token is obtained (F1) or checked only by the first
request that needs it, so a plan, which reads nothing of Tailer (no read API: every kind is
planned from the state), makes no request at all. `drift` makes one T3 request per applied
object (the alive probe) and applies one D8 per changed configuration (or one T7 for an
`activated`-only change, or an archive).

State: local only. Tailer has no object store in its API.

Temporary failures: connection failures, throttling and 502/503/504; every other 4xx/5xx is
permanent (the SDK retries nothing on D8).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from platforge.core.errors import Problem, StateError
from platforge.core.model import Resource
from platforge.core.schema import Name, StrictBool, StrictFloat, expects
from platforge.core.stack import PlatformConfig

from .. import PlatformConnectionError
from .._kit.client import worth_deciding_again
from .client import DEFAULT_SECURETOKEN_URL, ConfigurationError, TailerClient
from .kinds import KINDS
from .kinds.common import CONTEXTS, PROJECT_PROFILE, TailerKind

DEFAULT_ID_TOKEN_ENV = "PLATFORGE_TAILER_ID_TOKEN"
DEFAULT_REFRESH_TOKEN_ENV = "PLATFORGE_TAILER_REFRESH_TOKEN"
DEFAULT_FIREBASE_API_KEY_ENV = "PLATFORGE_TAILER_FIREBASE_API_KEY"
PUBLIC_KEY_NAME = "tailer_public_key.pem"
TRANSIENT_STATUSES = frozenset({502, 503, 504})


class TailerConfig(PlatformConfig):
    """Tailer's `[platform]` table: the two services, where credentials come from, the public
    key secrets are sealed with."""

    credential_fields: ClassVar[Mapping[str, str]] = {
        "id_token": "id_token_env", "refresh_token": "refresh_token_env", "firebase_api_key": "firebase_api_key_env"}

    ops_endpoint: Name = Field(json_schema_extra=expects("the Tailer ops API's URL"))
    securetoken_url: Name = DEFAULT_SECURETOKEN_URL
    id_token_env: Name | None = None
    refresh_token_env: Name | None = None
    firebase_api_key_env: Name | None = None
    public_key_file: Name | None = Field(default=None, json_schema_extra=expects(
        "the path of Tailer's public key (default $TAILER_HOME/tailer_public_key.pem)"))
    project_profile: Name | None = None
    verify_tls: StrictBool = True
    rate_limit: StrictFloat | None = Field(default=None, gt=0,
                                           json_schema_extra=expects("a positive number of requests per second"))


class TailerPlatform:
    name = "tailer"
    config_model = TailerConfig
    object_settings: dict[str, tuple[str, str]] = {}
    secret_detection = ("none: Tailer cannot show a deployed configuration, so its secrets are compared with the "
                        "fingerprints recorded at the last apply (a declared change is found; a change made on "
                        "the platform is not)")

    def __init__(self) -> None:
        kinds: list[TailerKind] = [k() for k in KINDS]
        self.kinds = {k.name: k for k in kinds}

    # ---- stack rules -------------------------------------------------------------------

    def validate_stack(self, resources: list[Resource]) -> list[Problem]:
        """A context reference must name a declared `[context.<name>]` (the core checks that the
        reference resolves; this says it when it names another kind's table)."""
        return []

    def declaration_defaults(self, kind: Any, config: TailerConfig) -> dict[str, Any]:
        """`[platform] project_profile` for the kinds whose document has no `gcp_project_id` to
        default to (STS, STT)."""
        if config.project_profile and isinstance(kind, TailerKind) and not kind.has_project:
            return {"project_profile": config.project_profile}
        return {}

    def settings(self, config: TailerConfig, resources: list[Resource]) -> dict[str, Any]:
        return {CONTEXTS: {r.name: r for r in resources if r.kind == "context"},
                PROJECT_PROFILE: config.project_profile}

    # ---- connection --------------------------------------------------------------------

    def connect(self, config: TailerConfig, endpoint: str | None = None,
                environ: Mapping[str, str] | None = None) -> TailerClient:
        """A client with the credentials the table names; nothing is sent yet (lazy login)."""
        environ = os.environ if environ is None else environ
        id_env = config.id_token_env or DEFAULT_ID_TOKEN_ENV
        refresh_env = config.refresh_token_env or DEFAULT_REFRESH_TOKEN_ENV
        key_env = config.firebase_api_key_env or DEFAULT_FIREBASE_API_KEY_ENV
        id_token = environ.get(id_env, "").strip() or None
        refresh_token = environ.get(refresh_env, "").strip() or None
        api_key = environ.get(key_env, "").strip() or None
        if id_token is None and refresh_token is None:
            raise PlatformConnectionError(f"no Tailer credentials: set {id_env} (an ID token) or {refresh_env} and "
                                          f"{key_env} (a refresh token and the Firebase API key)")
        if refresh_token is not None and api_key is None:
            raise PlatformConnectionError(f"{refresh_env} is set but {key_env} is not: a refresh token needs the "
                                          "Firebase API key")
        public_key = config.public_key_file
        if public_key is None and environ.get("TAILER_HOME"):
            public_key = str(Path(environ["TAILER_HOME"]) / PUBLIC_KEY_NAME)
        elif public_key is not None:
            public_key = os.path.expandvars(os.path.expanduser(public_key))
        base_url = endpoint or config.endpoint
        try:
            return TailerClient(base_url, config.ops_endpoint, id_token=id_token, refresh_token=refresh_token,
                                firebase_api_key=api_key, securetoken_url=config.securetoken_url,
                                public_key_file=public_key, rate_limit=config.rate_limit, verify=config.verify_tls)
        except ConfigurationError as exc:
            raise PlatformConnectionError(f"[platform]: {exc}") from None

    def is_internal(self, kind: str, identity: tuple[Any, ...]) -> bool:
        return False

    def is_transient(self, exc: Exception) -> bool:
        return worth_deciding_again(exc, TRANSIENT_STATUSES)

    def endpoint_of(self, client: TailerClient) -> str:
        return client.base_url

    def object_store(self, client: TailerClient, config: TailerConfig) -> Any:
        raise StateError("Tailer offers no platform state backend: its API has no object store; use [state] "
                         "backend = \"local\"")


PLATFORM = TailerPlatform()
