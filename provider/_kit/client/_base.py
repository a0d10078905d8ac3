"""`BaseClient`: what every platform client object is, before it knows its platform.

A platform client subclasses it and adds its wire convention and typed namespaces; the base
owns the pieces that must exist once per client and be shared by all its threads: the
`Transport` (one connection pool, one retry policy, the platform's error mapper), the rate
limiter, the authentication (a `SessionAuth` renews itself) and the redactor that keeps their
secrets out of messages. It cannot be pickled, so that no framework (Pulumi dynamic providers
pickle their closures) writes credentials or a live pool into state.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, Self, TypeVar

import httpx

from ._errors import ErrorMapper, error_from_status
from ._multipart import Files
from ._poll import poll
from ._ratelimit import AdaptiveRateLimiter, RateLimiter
from ._redact import Redactor
from ._retry import Jitter, RetryPolicy
from ._transport import DEFAULT_TIMEOUT, RequestAuth, Transport, TransportStats

T = TypeVar("T")


class BaseClient:
    """One platform endpoint with its session. Thread-safe; use as a context manager or call
    `close()`. `rate_limit` (requests per second, bursts of `rate_burst`) builds a limiter
    unless one is given to share between clients. `sleep`, `rng`, `wall_clock` and `monotonic`
    are injectable so that retries, throttling and polling can be tested on a fake clock."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        error_mapper: ErrorMapper = error_from_status,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        verify: bool | str | ssl.SSLContext = True,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Jitter | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url
        self._auth = auth
        self._redactor = redactor or Redactor()
        self._sleep = sleep
        self._rng: Jitter = rng or random.Random()
        self._monotonic = monotonic
        if rate_limiter is None:  # on by default: it learns the platform's limit from its 429s
            rate_limiter = AdaptiveRateLimiter(rate_limit or None, rate_burst, sleep=sleep, clock=monotonic)
        self._transport = Transport(
            base_url,
            error_mapper=error_mapper,
            retry=retry,
            rate_limiter=rate_limiter,
            timeout=timeout,
            headers=headers,
            auth=auth,
            redactor=self._redactor,
            http_transport=http_transport,
            verify=verify,
            sleep=sleep,
            rng=self._rng,
            wall_clock=wall_clock,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def __getstate__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds credentials and a live connection pool: it cannot be pickled")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    @property
    def auth(self) -> httpx.Auth | None:
        return self._auth

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def stats(self) -> TransportStats:
        return self._transport.stats

    @property
    def redactor(self) -> Redactor:
        return self._redactor

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: RequestAuth = None,
        idempotent: bool | None = None,
        secret_values: Iterable[str] = (),
    ) -> httpx.Response:
        """One request through the transport (retries, rate limit, session, typed errors)."""
        return self._transport.request(method, path, params=params, json=json, headers=headers, auth=auth,
                                       idempotent=idempotent, secret_values=secret_values)

    def upload(
        self,
        path: str,
        files: Files,
        *,
        method: str = "POST",
        fields: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        secret_values: Iterable[str] = (),
    ) -> httpx.Response:
        """A multipart upload through the transport (see `Transport.upload`)."""
        return self._transport.upload(path, files, method=method, fields=fields, params=params, headers=headers,
                                      idempotent=idempotent, secret_values=secret_values)

    def poll(
        self,
        check: Callable[[], T],
        *,
        what: str,
        timeout: float,
        interval: float = 0.5,
        backoff: float = 1.5,
        max_interval: float = 15.0,
        is_done: Callable[[T], bool] = bool,
        is_failed: Callable[[T], bool] = lambda _: False,
    ) -> T:
        """`poll` on this client's clock, so that a test's fake time drives it too."""
        return poll(check, what=what, timeout=timeout, interval=interval, backoff=backoff,
                    max_interval=max_interval, is_done=is_done, is_failed=is_failed,
                    sleep=self._sleep, monotonic=self._monotonic, rng=self._rng)
