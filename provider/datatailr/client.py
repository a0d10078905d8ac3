"""`DatatailrClient`: the one object that talks to a Datatailr installation.

It owns the session (password login or a ready JWT, contract §5.1), turns `call(method,
"cmd/sub", args)` into the wire form of `wire.py`, and exposes one typed namespace per kind:
`users`, `groups`, `kv`, `secrets`, `blobs`, `jobs`, `tags`. Retries, throttling, error classes,
paging and session renewal come from the platform-neutral client kit (`BaseClient`).

Credentials come from the caller or the environment (`from_env`), never from files; they are
masked in every error message and never part of a repr. A client cannot be pickled, so that no
framework (Pulumi dynamic providers pickle their closures) writes it into state.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.cookies import CookieError, SimpleCookie
from typing import Any

import httpx

from .._kit.client import (
    DEFAULT_TIMEOUT,
    AuthenticationError,
    BaseClient,
    ConfigurationError,
    PlatformError,
    RateLimiter,
    Redactor,
    RetryPolicy,
    SessionAuth,
    checked_base_url,
    cookie,
    user_agent,
)
from .blobs import BlobsApi
from .jobs import JobsApi
from .kv import KvApi, SecretsApi
from .tags import TagsApi
from .users import GroupsApi, UsersApi
from .wire import (
    COOKIE_NAME,
    PAGING,
    SDK_VERSION,
    Arg,
    api_path,
    datatailr_error,
    encode_body,
    encode_query,
    is_session_rejected,
    unwrap,
)


@dataclass(frozen=True)
class PasswordLogin:
    """Log in with HTTP Basic at `POST /login`; a 401 mid-session logs in again once."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class TokenLogin:
    """A ready session JWT (the `X-Datatailr-Oidc-Data` cookie value); cannot be renewed."""

    jwt: str = field(repr=False)


Credentials = PasswordLogin | TokenLogin


def normalize_base_url(url: str) -> str:
    """Strip spaces and trailing `/`. Unlike the SDK, never guess a scheme (it guesses https
    for anything but `localhost`, contract §5.1): a scheme-less URL is an error."""
    return checked_base_url(url, "the Datatailr base URL")


class DatatailrClient(BaseClient):
    """Typed access to the Datatailr API. Thread-safe; use as a context manager or `close()`."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        page_size: int = 100,
        verify: bool | str = True,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if page_size < 1:
            raise ConfigurationError("page_size must be >= 1")
        base_url = normalize_base_url(base_url)
        self.page_size = page_size
        self._credentials = credentials
        redactor = Redactor()
        if isinstance(credentials, PasswordLogin):
            redactor.add(credentials.password)
        # A 401, a redirect to the login page or the login page itself means "log in again";
        # only a password can do that (a ready JWT cannot be renewed).
        self._session = SessionAuth(
            login=self._log_in if isinstance(credentials, PasswordLogin) else None,
            token=credentials.jwt if isinstance(credentials, TokenLogin) else None,
            apply=cookie(COOKIE_NAME),
            is_rejected=is_session_rejected,
            redactor=redactor,
        )
        super().__init__(
            base_url,
            auth=self._session,
            error_mapper=datatailr_error,
            retry=retry,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            rate_limiter=rate_limiter,
            timeout=timeout,
            headers={
                "User-Agent": user_agent(),
                "Accept": "application/json",
                "X-Datatailr-SDK-Version": SDK_VERSION,
            },
            redactor=redactor,
            verify=verify,
            http_transport=http_transport,
            sleep=sleep,
            rng=rng,
            wall_clock=wall_clock,
        )
        self.users = UsersApi(self)
        self.groups = GroupsApi(self)
        self.kv = KvApi(self)
        self.secrets = SecretsApi(self)
        self.blobs = BlobsApi(self)
        self.jobs = JobsApi(self)
        self.tags = TagsApi(self)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        base_url_var: str = "DATATAILR_BASE_URL",
        jwt_var: str = "DATATAILR_JWT",
        username_var: str = "DATATAILR_USER_NAME",
        password_var: str = "DATATAILR_USER_PASSWORD",
        **kwargs: Any,
    ) -> DatatailrClient:
        """Build from environment variables: the base URL plus either a JWT or a username and
        password. With both, the password wins (it can renew the session) and the JWT is the
        first session."""
        env = os.environ if environ is None else environ
        base_url = env.get(base_url_var, "").strip()
        if not base_url:
            raise ConfigurationError(f"{base_url_var} is not set")
        jwt = env.get(jwt_var, "").strip()
        username = env.get(username_var, "").strip()
        password = env.get(password_var, "")
        if username and password:
            client = cls(base_url, PasswordLogin(username, password), **kwargs)
            if jwt:
                client._set_token(jwt)
            return client
        if jwt:
            return cls(base_url, TokenLogin(jwt), **kwargs)
        if username or password:
            missing = password_var if username else username_var
            raise ConfigurationError(f"{missing} is not set (both {username_var} and {password_var} are needed)")
        raise ConfigurationError(f"set {jwt_var}, or {username_var} and {password_var}")

    # Plumbing -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        who = (f"user={self._credentials.username!r}" if isinstance(self._credentials, PasswordLogin)
               else "auth='token'")
        return f"DatatailrClient({self.base_url!r}, {who})"

    def _set_token(self, token: str) -> None:
        self._session.set_token(token)

    # Session --------------------------------------------------------------------------------

    def login(self) -> None:
        """Exchange the username and password for a session cookie (contract §5.1)."""
        if not isinstance(self._credentials, PasswordLogin):
            raise AuthenticationError("this client has a session token only and cannot log in; "
                                      "provide a fresh token or a username and password")
        self._session.renew()

    def _log_in(self) -> str:
        """The login request itself (HTTP Basic, its own auth): the new session token."""
        creds = self._credentials
        assert isinstance(creds, PasswordLogin)
        try:
            response = self.transport.request(
                "POST", "/login", params={"response_type": "id_token"},
                auth=(creds.username, creds.password), idempotent=True,
            )
        except AuthenticationError as exc:
            raise AuthenticationError(
                f"login as {creds.username!r} failed: invalid username or password",
                status=exc.status, method=exc.method, path=exc.path, attempts=exc.attempts,
            ) from None
        token = _session_cookie(response)
        if not token:
            raise AuthenticationError(f"login succeeded but no {COOKIE_NAME} cookie came back",
                                      status=response.status_code, method="POST", path="/login")
        return token

    # The wire -------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        command: str,
        args: Mapping[str, Arg] | None = None,
        *,
        idempotent: bool | None = None,
        secret_values: Iterable[str] = (),
    ) -> Any:
        """Run one API command (`"user/ls"`) and return its unwrapped `result`.

        GET arguments go in the query, every other method's in a JSON body (contract §1.2);
        `idempotent` overrides the method's retry safety (see the client kit's `_retry`). A
        rejected session is renewed once and the request replayed, for any method: the server
        refused it before doing anything (`SessionAuth`)."""
        method = method.upper()
        path = api_path(command)
        args = args or {}
        params = encode_query(args) if method == "GET" else None
        body = encode_body(args) if method != "GET" else None
        response = self.transport.request(method, path, params=params, json=body or None,
                                          idempotent=idempotent, secret_values=tuple(secret_values))
        return unwrap(response)

    def _ls(self, command: str, args: Mapping[str, Any], *,
            key: Callable[[Any], Hashable] | None = None) -> list[Any]:
        """Every row of a paged `ls`-style command (`offset` + `batch-size`, contract §1.4)."""
        paging = replace(PAGING, page_size=self.page_size)
        return paging.collect(lambda page: self.call("GET", command, {**args, **page}), key=key)


def _session_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        if COOKIE_NAME in jar and jar[COOKIE_NAME].value:
            return jar[COOKIE_NAME].value
    return None


__all__ = [
    "ConfigurationError",
    "Credentials",
    "DatatailrClient",
    "PasswordLogin",
    "PlatformError",
    "TokenLogin",
    "normalize_base_url",
]
