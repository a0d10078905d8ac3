"""Sessions as an `httpx.Auth` flow: attach the session, renew it once on rejection, replay.

A session expires mid-run (Datatailr's cookie, Dataloop's and Tailer's short-lived JWTs), and a
rejected request was refused before the server did anything, so renewing and replaying it is
safe for any method, POST included. Doing this inside httpx's auth flow keeps it out of every
call site and out of the retry loop: the transport sees one attempt whose final response is the
replay's, and a 401 is never a transport retry.

Renewal is shared: when N threads are rejected with the same stale session, the first logs in
and the others reuse its session (each remembers the session it sent and only logs in if that
is still the current one). A second rejection of the replayed request is returned as is, so the
error mapper raises it (`AuthenticationError`): credentials that do not work are not retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncGenerator, Callable, Generator

import httpx

from ._errors import AuthenticationError
from ._redact import Redactor

log = logging.getLogger("platforge.auth")

#: Puts a session on a request (a header or a cookie).
Apply = Callable[[httpx.Request, str], None]


def bearer(scheme: str = "Bearer") -> Apply:
    """`Authorization: <scheme> <token>`: "Bearer" for Dataloop and Tailer, "token" for
    DataChain Studio's official client."""

    def apply(request: httpx.Request, token: str) -> None:
        request.headers["Authorization"] = f"{scheme} {token}"

    return apply


def cookie(name: str) -> Apply:
    """`Cookie: <name>=<token>`, replacing any cookie header: the session is the only cookie a
    client sends (transports keep no cookie jar)."""

    def apply(request: httpx.Request, token: str) -> None:
        request.headers["Cookie"] = f"{name}={token}"

    return apply


def status_401(response: httpx.Response) -> bool:
    return response.status_code == 401


def _copy(request: httpx.Request) -> httpx.Request:
    """A new request with the same method, URL, headers and body (a stream httpx can send
    again: bytes, or a multipart body that rewinds its files), so that the rejected request and
    its response keep the session they were sent with."""
    return httpx.Request(request.method, request.url, headers=request.headers.copy(), stream=request.stream,
                         extensions=dict(request.extensions))


class SessionAuth(httpx.Auth):
    """A renewable session. `login` obtains a new session token (it must send its own request
    with its own credentials, e.g. `auth=(user, password)`, never through this auth); without
    one the session cannot be renewed and a rejection is returned as is. `is_rejected` says
    which responses mean "session not accepted" (a 401 by default; Datatailr also redirects to a
    login page). Every token is registered with `redactor`, and a replaced one unregistered.

    Synchronous only: the flow blocks on a lock and on the login request."""

    requires_response_body = True  # `is_rejected` may need the body (an HTML login page)

    def __init__(
        self,
        *,
        login: Callable[[], str] | None = None,
        token: str | None = None,
        apply: Apply | None = None,
        is_rejected: Callable[[httpx.Response], bool] = status_401,
        redactor: Redactor | None = None,
    ) -> None:
        self._login = login
        self._apply = apply or bearer()
        self._is_rejected = is_rejected
        self.redactor = redactor or Redactor()
        self._token: str | None = None
        self._lock = threading.RLock()
        self._logging_in = False
        self.logins = 0
        if token:
            self.set_token(token)

    def __repr__(self) -> str:
        state = "a session" if self._token else "no session"
        return f"{type(self).__name__}({state}, {'renewable' if self.can_renew else 'not renewable'})"

    @property
    def can_renew(self) -> bool:
        return self._login is not None

    @property
    def token(self) -> str | None:
        return self._token

    def set_token(self, token: str) -> None:
        with self._lock:
            if self._token and self._token != token:
                self.redactor.discard(self._token)
            self._token = token
            self.redactor.add(token)

    def renew(self, stale: str | None = None) -> str:
        """Log in and return the new session; with `stale`, only if the current session is still
        that one (another thread may have renewed it meanwhile)."""
        if self._login is None:
            raise AuthenticationError("the session cannot be renewed: no login is configured")
        with self._lock:
            self._refuse_reentry()
            if stale is not None and self._token is not None and self._token != stale:
                return self._token
            self._logging_in = True
            try:
                token = self._login()
            finally:
                self._logging_in = False
            self.logins += 1
            self.set_token(token)
            return token

    def current(self) -> str:
        """The session, logging in first if there is none yet (lazily: a client that is built
        and never used sends nothing)."""
        with self._lock:
            self._refuse_reentry()
            if self._token is not None:
                return self._token
            if self._login is None:
                raise AuthenticationError("no session: give a token or a way to log in")
            return self.renew()

    def _refuse_reentry(self) -> None:
        """The lock is re-entrant so that a login that wrongly sends through this auth fails
        here, loudly, instead of deadlocking (or logging in recursively)."""
        if self._logging_in:
            raise RuntimeError("the login request was sent with the SessionAuth it renews; "
                               "send it with its own auth= (e.g. the user's password)")

    def attach(self, request: httpx.Request, token: str) -> None:
        """Put `token` on `request` as this session's requests carry it."""
        self._apply(request, token)

    def rejects(self, response: httpx.Response) -> bool:
        """Whether `response` says the session it was sent with was not accepted."""
        return self._is_rejected(response)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.current()
        self._apply(request, token)
        response = yield request
        if not self._is_rejected(response) or not self.can_renew:
            return
        log.info("session rejected; logging in again")
        replay = _copy(request)
        self._apply(replay, self.renew(stale=token))
        yield replay

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise RuntimeError("SessionAuth is synchronous (it blocks on a lock and a login request)")
        yield request  # pragma: no cover - makes this an async generator, as httpx expects
