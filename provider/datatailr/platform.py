"""Datatailr as the core sees it: its kinds, how to log in, where state can live, and the
cross-resource rules that keep two resources from owning one collection."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from platforge.core.errors import Problem
from platforge.core.model import Resource
from platforge.core.state import ObjectStore

from .. import PlatformConnectionError
from ..transport import NotFound, PlatformError, RateLimited, ServerError, TransportError
from .client import ConfigurationError, DatatailrClient, PasswordLogin, TokenLogin
from .kinds import GroupKind, GroupMembershipKind, KvKind, SecretKind, UserKind
from .kinds.user import MEMBERSHIP_OWNED_ELSEWHERE

DEFAULT_USERNAME_ENV = "DATATAILR_USER_NAME"
DEFAULT_PASSWORD_ENV = "DATATAILR_USER_PASSWORD"
DEFAULT_TOKEN_ENV = "DATATAILR_JWT"


class DatatailrObjectStore(ObjectStore):
    """State as blobs in the user bucket; the fingerprint key as a secure KV entry."""

    def __init__(self, client: DatatailrClient, environment: str) -> None:
        self.client = client
        self.environment = environment

    def describe(self) -> str:
        return f"Datatailr blob storage at {self.client.base_url}"

    def get(self, name: str) -> bytes | None:
        try:
            return self.client.blobs.get(self.client.blobs.uri(name))
        except NotFound:
            return None

    def put(self, name: str, data: bytes) -> None:
        self.client.blobs.put(self.client.blobs.uri(name), data)

    def delete(self, name: str) -> None:
        try:
            self.client.blobs.rm(self.client.blobs.uri(name))
        except NotFound:
            pass

    def get_secret(self, name: str) -> str | None:
        try:
            return self.client.secrets.get(name, environment=self.environment).get_secret_value()
        except NotFound:
            return None

    def put_secret(self, name: str, value: str) -> None:
        self.client.secrets.put(name, value, environment=self.environment)


class DatatailrPlatform:
    name = "datatailr"
    secret_detection = (
        "fingerprint: Datatailr exposes no version or modification time for secure KV entries, so "
        "platforge reads each managed secret's value (kv get --secure) and compares its keyed "
        "HMAC-SHA256 fingerprint with the one recorded at the last apply; values are never stored"
    )

    def __init__(self) -> None:
        kinds = [GroupKind(), UserKind(), GroupMembershipKind(), KvKind(), SecretKind()]
        self.kinds = {k.name: k for k in kinds}

    # ---- stack rules -------------------------------------------------------------------

    def validate_stack(self, resources: list[Resource]) -> list[Problem]:
        problems: list[Problem] = []
        authoritative = {r.spec["name"]: r for r in resources if r.kind == "group" and "members" in r.spec}
        memberships = [r for r in resources if r.kind == "group_membership"]
        additive_groups = {r.spec["group"] for r in memberships}
        for r in memberships:
            owner = authoritative.get(r.spec["group"])
            if owner is not None:
                problems.append(_problem(r, f"group {r.spec['group']!r} declares its members in {owner.address} "
                                            f"({owner.source}); manage its membership there or with group_membership "
                                            "resources, not both"))
        owned_elsewhere = set(authoritative) | additive_groups
        for r in resources:
            if r.kind != "user" or "groups" not in r.spec:
                continue
            for group in r.spec["groups"]:
                if group in owned_elsewhere:
                    where = authoritative[group].address if group in authoritative else "group_membership resources"
                    problems.append(_problem(r, f"lists group {group!r} in `groups`, but that group's membership is "
                                                f"managed by {where}; remove it from this user's groups"))
        return problems

    def settings(self, config: Any, resources: list[Resource]) -> dict[str, Any]:
        owned = {r.spec["name"] for r in resources if r.kind == "group" and "members" in r.spec}
        owned |= {r.spec["group"] for r in resources if r.kind == "group_membership"}
        return {"environment": config.environment, MEMBERSHIP_OWNED_ELSEWHERE: sorted(owned)}

    # ---- connection --------------------------------------------------------------------

    def connect(self, config: Any, endpoint: str | None = None,
                environ: Mapping[str, str] | None = None) -> DatatailrClient:
        """Log in with the credentials the stack's [platform] table points at (variable names),
        looked up in `environ` (the process environment by default)."""
        environ = os.environ if environ is None else environ
        base_url = endpoint or config.endpoint
        token_env = config.token_env or DEFAULT_TOKEN_ENV
        user_env = config.username_env or DEFAULT_USERNAME_ENV
        password_env = config.password_env or DEFAULT_PASSWORD_ENV
        username, password, token = environ.get(user_env), environ.get(password_env), environ.get(token_env)
        if username and password:
            credentials: Any = PasswordLogin(username, password)
        elif token:
            credentials = TokenLogin(token)
        else:
            raise PlatformConnectionError(
                f"no Datatailr credentials: set {user_env} and {password_env}, or {token_env} "
                "(the stack's [platform] username_env / password_env / token_env name other variables)")
        try:
            client = DatatailrClient(base_url, credentials, rate_limit=config.rate_limit)
            if isinstance(credentials, PasswordLogin):
                client.login()
            else:
                client.users.signed_user()
        except ConfigurationError as exc:
            raise PlatformConnectionError(f"[platform] endpoint {base_url!r}: {exc}") from None
        except PlatformError as exc:
            raise PlatformConnectionError(f"cannot log in to {base_url}: {exc}") from None
        return client

    def is_transient(self, exc: Exception) -> bool:
        return isinstance(exc, (ServerError, TransportError, RateLimited))

    def endpoint_of(self, client: DatatailrClient) -> str:
        return client.base_url

    def object_store(self, client: DatatailrClient, config: Any) -> DatatailrObjectStore:
        return DatatailrObjectStore(client, config.environment)


def _problem(resource: Resource, message: str) -> Problem:
    source = resource.source
    return Problem(file=source.file if source else "<stack>", line=source.line if source else None,
                   path=resource.address, message=message)


PLATFORM = DatatailrPlatform()
