"""`StudioClient`: the one object that talks to DataChain Studio's REST API.

The client is built from Studio's root URL, as `DATACHAIN_STUDIO_URL` names it (a URL that
already ends in `/api` is accepted and trimmed), every path being under `/api` (contract §2).
It authenticates with a long-lived token, no login: `Authorization: token <t>` by default,
because that is what the official client (`datachain==0.62.0`, `StudioClient._send_request`)
sends and so what production Studio receives; the seed documents `Bearer`, so the scheme is a
setting (§3.1, §5.1). A rejected token is an `AuthenticationError`, never retried. The token is
registered with the redactor and never appears in a message or a repr.

Every request names its team (§2, §5.2), because a token may belong to several teams and the
RBAC routes that document no `team_name` would otherwise act on the token's default team, which
is not necessarily the stack's: GETs and RBAC writes carry `?team_name=`, the pipeline RPCs
(`pipeline/create-schedule`, …) carry it in the JSON body as the seed's bodies do.

Errors come as `{"message": ...}` (the official client reads `message`) or DRF's
`{"detail": ...}` (§2.2); the status decides the class. A 403 is "not authorized for the team",
which is how the official client reports it too. Which failures are repeated is the kit's
table: reads after 502/503/504 and dropped connections, writes never (an apply decides again
from live state); the official client retries every 5xx, POSTs included, which would send a
write twice, so this client does not copy it.

Listings are bare JSON arrays (§2.3). RBAC and schedule lists have no paging parameters and are
one request whatever their size. `pipeline/list` takes only `limit` (newest first, no offset or
cursor): it is read with a growing limit, `page_size` first and doubled while an answer comes
back full, so that a listing never ends early on a silent server-side default.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx

from .._kit.client import (
    DEFAULT_TIMEOUT,
    BaseClient,
    ConfigurationError,
    ErrorMapper,
    PagingError,
    PlatformError,
    RateLimiter,
    Redactor,
    RetryPolicy,
    SessionAuth,
    bearer,
    checked_base_url,
    error_class_for_status,
    json_object,
    response_message,
    truncate,
    user_agent,
)

API_PREFIX = "/api"
#: What the official client sends (`Authorization: token …`); the seed says `Bearer`.
DEFAULT_AUTH_SCHEME: Literal["token", "Bearer"] = "token"
AuthScheme = Literal["token", "Bearer"]
AUTH_SCHEMES: tuple[str, ...] = ("token", "Bearer")
#: First `limit` of a `pipeline/list` read; doubled while the answer comes back full.
DEFAULT_PAGE_SIZE = 100
#: The largest `limit` a pipeline listing asks for before it refuses to guess further.
MAX_LIST_LIMIT = 1 << 20

Json = dict[str, Any]

RBAC = "/datachain/rbac"
PIPELINE = "/datachain/pipeline"


def seg(value: Any) -> str:
    """One path segment, escaped whole (ids are UUIDs or integers; nothing else goes in a path)."""
    return quote(str(value), safe="")


def studio_url(url: str) -> str:
    """Studio's root, `https://studio.datachain.ai`, from itself or from `…/api`."""
    text = checked_base_url(url, "the Studio endpoint")
    return text[: -len(API_PREFIX)] if text.endswith(API_PREFIX) else text


def studio_error(team: str) -> ErrorMapper:
    """The error mapper for the transport: None for a success, else the typed error (§2.2)."""

    def mapper(response: httpx.Response) -> PlatformError | None:
        status = response.status_code
        if status < 400:
            return None
        message = ""
        body = json_object(response)
        if body is not None:
            for key in ("message", "detail"):
                if isinstance(body.get(key), str) and body[key]:
                    message = body[key]
                    break
        if status == 403:
            message = f"not authorized for the team {team!r}" + (f" ({message})" if message else "")
        return error_class_for_status(status)(truncate(message or response_message(response)), status=status)

    return mapper


class StudioClient(BaseClient):
    """Typed access to the Studio REST API for one team. Thread-safe; use as a context manager
    or `close()`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str,
        team: str,
        auth_scheme: str = DEFAULT_AUTH_SCHEME,
        page_size: int = DEFAULT_PAGE_SIZE,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not token or not token.strip():
            raise ConfigurationError("Studio needs a token")
        if not team or not team.strip():
            raise ConfigurationError("Studio needs a team name")
        if auth_scheme not in AUTH_SCHEMES:
            raise ConfigurationError(f"auth_scheme must be one of {', '.join(AUTH_SCHEMES)}")
        if page_size < 1:
            raise ConfigurationError("page_size must be at least 1")
        self.team = team
        self.auth_scheme = auth_scheme
        self.page_size = page_size
        redactor = Redactor([token])
        session = SessionAuth(token=token.strip(), apply=bearer(auth_scheme), redactor=redactor)
        super().__init__(
            studio_url(base_url),
            auth=session,
            error_mapper=studio_error(team),
            retry=retry,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            rate_limiter=rate_limiter,
            timeout=timeout,
            headers={"User-Agent": user_agent(), "Accept": "application/json"},
            redactor=redactor,
            verify=verify,
            http_transport=http_transport,
            sleep=sleep,
            rng=rng,
            wall_clock=wall_clock,
            monotonic=monotonic,
        )

    def __repr__(self) -> str:
        return f"StudioClient({self.base_url!r}, team={self.team!r})"

    # ---- the wire ------------------------------------------------------------------------

    def call(self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None,
             team_in_body: bool = False) -> Any:
        """One request below `/api`, naming the team (in the query, or in the JSON body for the
        pipeline RPCs); the JSON answer, or None for an empty body (204)."""
        query = {k: str(v) for k, v in (params or {}).items()}
        if team_in_body:
            body = {**(body or {}), "team_name": self.team}
        else:
            query["team_name"] = self.team
        response = self.request(method, API_PREFIX + path, json=body, params=query or None)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def _expect(self, data: Any, expect: type, method: str, path: str) -> Any:
        if not isinstance(data, expect):
            raise PlatformError(f"unexpected answer: expected a JSON {expect.__name__}, got {type(data).__name__}",
                                method=method, path=API_PREFIX + path)
        return data

    def get_list(self, path: str, params: Mapping[str, Any] | None = None) -> list[Json]:
        """A bare-array listing: its objects (anything else in it is not an object of the API)."""
        data = self._expect(self.call("GET", path, params=params), list, "GET", path)
        return [item for item in data if isinstance(item, dict)]

    def write(self, method: str, path: str, body: Any = None, *, team_in_body: bool = False) -> Json:
        """A write whose answer is the object written (a create, a PATCH, a pipeline RPC)."""
        result: Json = self._expect(self.call(method, path, body=body, team_in_body=team_in_body), dict, method, path)
        return result

    # ---- compute clusters (read-only) ----------------------------------------------------

    def list_clusters(self) -> list[Json]:
        return self.get_list("/datachain/clusters/")

    # ---- pipelines (read-only here) ------------------------------------------------------

    def list_pipelines(self) -> list[Json]:
        """Every pipeline of the team: `pipeline/list` has only `limit` (newest first, no
        offset), so the listing asks again with twice the limit while an answer is full."""
        limit = self.page_size
        while True:
            items = self.get_list(f"{PIPELINE}/list", {"limit": limit})
            if len(items) != limit:  # short: the end; longer: the server ignored the limit and sent all
                seen: dict[Any, Json] = {}
                for item in items:
                    seen.setdefault(item.get("pipeline_id") or id(item), item)
                return list(seen.values())
            if limit >= MAX_LIST_LIMIT:
                raise PagingError(f"pipeline/list still answers {limit} pipelines at limit {limit}: "
                                  "does the server honour `limit`?")
            limit *= 2

    # ---- access groups -------------------------------------------------------------------

    def list_groups(self) -> list[Json]:
        return self.get_list(f"{RBAC}/access-groups/")

    def create_group(self, name: str, description: str | None = None) -> Json:
        body: Json = {"name": name}
        if description is not None:
            body["description"] = description
        return self.write("POST", f"{RBAC}/access-groups/", body)

    def update_group(self, group_id: str, **fields: Any) -> Json:
        return self.write("PATCH", f"{RBAC}/access-groups/{seg(group_id)}/", fields)

    def delete_group(self, group_id: str) -> None:
        self.call("DELETE", f"{RBAC}/access-groups/{seg(group_id)}/")

    # ---- access group members ------------------------------------------------------------

    def list_members(self, group_id: str) -> list[Json]:
        return self.get_list(f"{RBAC}/access-groups/{seg(group_id)}/members/")

    def add_member(self, group_id: str, user_id: int, role: str | None = None) -> Json:
        body: Json = {"user_id": user_id}
        if role is not None:
            body["role"] = role
        return self.write("POST", f"{RBAC}/access-groups/{seg(group_id)}/members/", body)

    def update_member(self, group_id: str, user_id: int, role: str) -> Json:
        return self.write("PATCH", f"{RBAC}/access-groups/{seg(group_id)}/members/{seg(user_id)}/", {"role": role})

    def remove_member(self, group_id: str, user_id: int) -> None:
        self.call("DELETE", f"{RBAC}/access-groups/{seg(group_id)}/members/{seg(user_id)}/")

    # ---- access rules --------------------------------------------------------------------

    def list_rules(self) -> list[Json]:
        return self.get_list(f"{RBAC}/access-rules/")

    def create_rule(self, resource_type: str, resource_id: str, permission: str, *, user_id: int | None = None,
                    group_id: str | None = None) -> Json:
        """Exactly one principal (§1.3): a rule for nobody, or for two, is refused here too."""
        if (user_id is None) == (group_id is None):
            raise ValueError("an access rule needs exactly one principal: a user_id or a group_id")
        body: Json = {"resource_type": resource_type, "resource_id": resource_id, "permission": permission}
        body.update({"user_id": user_id} if user_id is not None else {"group_id": group_id})
        return self.write("POST", f"{RBAC}/access-rules/", body)

    def update_rule(self, rule_id: str, permission: str) -> Json:
        return self.write("PATCH", f"{RBAC}/access-rules/{seg(rule_id)}/", {"permission": permission})

    def delete_rule(self, rule_id: str) -> None:
        self.call("DELETE", f"{RBAC}/access-rules/{seg(rule_id)}/")

    # ---- pipeline schedules --------------------------------------------------------------

    def list_schedules(self) -> list[Json]:
        return self.get_list(f"{PIPELINE}/schedules")

    def get_schedule(self, schedule_id: int) -> Json:
        path = f"{PIPELINE}/schedule"
        result: Json = self._expect(self.call("GET", path, params={"schedule_id": schedule_id}), dict, "GET", path)
        return result

    def create_schedule(self, body: Mapping[str, Any]) -> Json:
        return _schedule_of(self.write("POST", f"{PIPELINE}/create-schedule", dict(body), team_in_body=True))

    def update_schedule(self, schedule_id: int, body: Mapping[str, Any]) -> Json:
        return _schedule_of(self.write("POST", f"{PIPELINE}/update-schedule",
                                       {**body, "schedule_id": schedule_id}, team_in_body=True))

    def delete_schedule(self, schedule_id: int) -> None:
        _ok(self.write("POST", f"{PIPELINE}/delete-schedule", {"schedule_id": schedule_id}, team_in_body=True))


def _ok(answer: Json) -> Json:
    """A pipeline RPC's answer, `{"ok": true, …}`; `"ok": false` with a 200 is still a failure."""
    if answer.get("ok") is False:
        message = answer.get("message") or answer.get("detail") or "the request was not carried out"
        raise PlatformError(truncate(str(message)), status=200, method="POST", path=API_PREFIX + PIPELINE)
    return answer


def _schedule_of(answer: Json) -> Json:
    """`{"ok": true, "schedule": {...}}` (§1.4): the schedule."""
    schedule = _ok(answer).get("schedule")
    if not isinstance(schedule, dict):
        raise PlatformError("unexpected answer: no schedule in it", method="POST", path=API_PREFIX + PIPELINE)
    return schedule


__all__ = [
    "API_PREFIX",
    "AUTH_SCHEMES",
    "DEFAULT_AUTH_SCHEME",
    "DEFAULT_PAGE_SIZE",
    "AuthScheme",
    "ConfigurationError",
    "StudioClient",
    "seg",
    "studio_error",
    "studio_url",
]
