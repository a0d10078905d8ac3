"""`DataikuClient`: the one object that talks to a Dataiku DSS instance's public API.

Authentication is an API key sent as HTTP Basic username with an empty password (contract
§0.2); the key is masked in every message and never part of a repr. Every path is below one
prefix, `/public/api` by default (DSS also serves `/dip/publicapi`, which the official client
uses: contract §0.1), and every identifier in a path is escaped whole (`quote(x, safe="")`), since
the official client does not escape `/`, `?` or `#` and then addresses the wrong object (§0.5).

Errors come as JSON `{"errorType", "message", "detailedMessage"}` (§2.7). `dataiku_error` maps
them to the kit's typed errors by status, and by `errorType`/message where the status lies: DSS
answers some "not found" as HTTP 500 (a missing code environment: `CodedIOException ... doesn't
exist`; `UnknownObjectException`), which must read as absent (`NotFound`) and never be retried or
decided again as a server failure; and a duplicate create has no documented status (§5.6), so
"already exists" is a `Conflict` whatever the status.

Listings are not paged in DSS (§2.7: every list endpoint returns the full array, connections a
dict), so each listing is exactly one request. Long operations (code environment builds,
deletes) return futures (`{"jobId", "hasResult", "alive"}`), awaited with the kit's bounded
poller on the client's clock; a result whose `messages.error` is set is an `OperationFailed`.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from .._kit.client import (
    DEFAULT_TIMEOUT,
    AuthenticationError,
    BaseClient,
    ConfigurationError,
    Conflict,
    NotFound,
    OperationFailed,
    PermissionDenied,
    PlatformError,
    RateLimiter,
    Redactor,
    RetryPolicy,
    ServerError,
    checked_base_url,
    error_class_for_status,
    truncate,
    user_agent,
)

#: The documented REST base; `/dip/publicapi` is the same API under the official client's prefix.
DEFAULT_PREFIX = "/public/api"
PREFIXES = ("/public/api", "/dip/publicapi")
#: How long a future (a code environment build) may run before the wait gives up, in seconds.
DEFAULT_FUTURE_TIMEOUT = 900.0

#: `errorType`s that mean "no such object" whatever the status (DSS's own class for it).
_NOT_FOUND_TYPES = ("UnknownObjectException", "NotFoundException")
#: Messages that mean "no such object" when DSS answers with a 500 (contract §2.7, §1.2 CodeEnv):
#: "PYTHON env my_env doesn't exist", "... does not exist", "User nobody not found".
_NOT_FOUND_MESSAGE = re.compile(r"(doesn't|does not|doesnt) exist|\bnot found\b|\bno such\b", re.IGNORECASE)
_EXISTS_MESSAGE = re.compile(r"already exists?|\bduplicate\b", re.IGNORECASE)
_DENIED_TYPES = ("UnauthorizedException", "AccessDeniedException", "ForbiddenException")




def normalize_base_url(url: str) -> str:
    """Strip spaces and trailing `/` (the official client then sends `//dip/...`, §3.2); a
    scheme-less URL or one with credentials in it is an error, never a guess."""
    return checked_base_url(url, "the DSS URL")


def seg(value: Any) -> str:
    """One path segment, escaped whole: `/`, `?`, `#` and spaces never change the route."""
    return quote(str(value), safe="")


def flag(value: bool) -> str:
    """Booleans in a query as DSS's own client sends them (`True`/`False`, contract §0.4)."""
    return "True" if value else "False"


def _error_body(response: httpx.Response) -> dict[str, Any]:
    text = response.text
    if text[:1] != "{":
        return {}
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def dataiku_error(response: httpx.Response) -> PlatformError | None:
    """The error mapper for `Transport`: None for a success, else the typed error (§2.7)."""
    status = response.status_code
    if status < 400:
        return None
    body = _error_body(response)
    error_type = _text(body.get("errorType"))
    message = _text(body.get("detailedMessage")) or _text(body.get("message"))
    if not message:
        title = re.search(r"<title[^>]*>(.*?)</title>", response.text, re.IGNORECASE | re.DOTALL)
        message = (f"HTML page {title.group(1).strip()!r}" if title else response.text.strip()) \
            or f"HTTP {status} with an empty body"
    short_type = error_type.rsplit(".", 1)[-1]
    text = truncate(f"{short_type}: {message}" if short_type else message)
    cls: type[PlatformError]
    if status == 404 or short_type in _NOT_FOUND_TYPES:
        cls = NotFound
    elif status == 500 and _NOT_FOUND_MESSAGE.search(message):
        # DSS's "not found as a 500" (contract §2.7): absent, not a server failure.
        cls = NotFound
    elif status in (400, 409, 500) and _EXISTS_MESSAGE.search(message):
        cls = Conflict
    elif status == 401:
        cls = AuthenticationError
    elif status == 403 or short_type in _DENIED_TYPES:
        cls = PermissionDenied
    else:
        cls = error_class_for_status(status)
    return cls(text, status=status)


def is_future(data: Any) -> bool:
    return isinstance(data, dict) and ("jobId" in data or "hasResult" in data)


def _future_failed(state: Any) -> bool:
    return isinstance(state, dict) and (not state.get("hasResult") and state.get("alive") is False
                                        or bool(state.get("exception")))


def check_messages(result: Any, what: str) -> Any:
    """In-band failures on a 200 (`messages.error`, contract §2.7): the work was refused or failed."""
    messages = result.get("messages") if isinstance(result, dict) else None
    if isinstance(messages, dict) and messages.get("error"):
        details = [m.get("message") or m.get("title") or "" for m in messages.get("messages") or []
                   if isinstance(m, dict) and m.get("severity") in (None, "ERROR")]
        reason = "; ".join(d for d in details if d) or "DSS reported an error"
        raise OperationFailed(f"{what} failed: {truncate(reason)}", what=what)
    return result


class DataikuClient(BaseClient):
    """Typed access to the DSS public API. Thread-safe; use as a context manager or `close()`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        rate_limiter: RateLimiter | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        future_timeout: float = DEFAULT_FUTURE_TIMEOUT,
        verify: bool | str = True,
        http_transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ConfigurationError("the DSS API key is empty")
        prefix = "/" + prefix.strip().strip("/")
        if prefix not in PREFIXES:
            raise ConfigurationError(f"the API prefix must be one of {', '.join(PREFIXES)}")
        base_url = normalize_base_url(base_url)
        self.prefix = prefix
        self.future_timeout = future_timeout
        redactor = Redactor([api_key])
        super().__init__(
            base_url,
            auth=httpx.BasicAuth(api_key, ""),
            error_mapper=dataiku_error,
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
        return f"DataikuClient({self.base_url!r}, prefix={self.prefix!r})"

    # ---- the wire ------------------------------------------------------------------------

    def call(self, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None,
             idempotent: bool | None = None, secret_values: tuple[str, ...] = ()) -> Any:
        """One request below the prefix; the JSON answer, or None for an empty or non-JSON body
        (DSS answers many writes with an empty body or text, contract §2 "E"/"T")."""
        response = self.request(method, self.prefix + path, params=params, json=body, idempotent=idempotent,
                                secret_values=secret_values)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.call("GET", path, params=params)

    def get_json(self, path: str, expect: type, params: Mapping[str, str] | None = None) -> Any:
        """A GET whose answer must be JSON of the type `expect` (a document or a listing)."""
        data = self.get(path, params)
        if not isinstance(data, expect):
            raise PlatformError(f"unexpected answer: expected a JSON {expect.__name__}, got {type(data).__name__}",
                                method="GET", path=self.prefix + path)
        return data

    def await_future(self, answer: Any, what: str) -> Any:
        """The result of a long operation: answered at once (a result, or a future that already
        has it), or polled at `GET /futures/{jobId}` within `future_timeout` (`PollTimeout`:
        the operation may still finish; `OperationFailed`: it failed)."""
        if not is_future(answer):
            return check_messages(answer, what)
        state = answer
        if not state.get("hasResult"):
            if _future_failed(state):
                raise OperationFailed(f"{what} failed: {truncate(repr(state), 200)}", what=what)
            job = seg(state.get("jobId", ""))
            state = self.poll(lambda: self.get_json(f"/futures/{job}", dict, {"peek": flag(False)}), what=what,
                              timeout=self.future_timeout, interval=0.2, backoff=1.5, max_interval=15.0,
                              is_done=lambda s: bool(s.get("hasResult")), is_failed=_future_failed)
        return check_messages(state.get("result"), what)

    # ---- identity --------------------------------------------------------------------------

    def auth_info(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json("/auth/info", dict, {"withSecrets": flag(False)})
        return result

    # ---- users and groups ------------------------------------------------------------------

    def list_users(self) -> list[dict[str, Any]]:
        """Every user with its whole settings document, in one request (`includeSettings`)."""
        result: list[dict[str, Any]] = self.get_json("/admin/users/", list, {"includeSettings": flag(True)})
        return result

    def get_user(self, login: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/admin/users/{seg(login)}", dict)
        return result

    def create_user(self, body: Mapping[str, Any], secret_values: tuple[str, ...] = ()) -> None:
        self.call("POST", "/admin/users/", body=dict(body), secret_values=secret_values)

    def put_user(self, login: str, document: Mapping[str, Any], secret_values: tuple[str, ...] = ()) -> None:
        self.call("PUT", f"/admin/users/{seg(login)}", body=dict(document), secret_values=secret_values)

    def delete_user(self, login: str) -> None:
        self.call("DELETE", f"/admin/users/{seg(login)}", params={"allowSelfDeletion": flag(False)})

    def list_groups(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get_json("/admin/groups/", list)
        return result

    def get_group(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/admin/groups/{seg(name)}", dict)
        return result

    def create_group(self, body: Mapping[str, Any]) -> None:
        self.call("POST", "/admin/groups/", body=dict(body))

    def put_group(self, name: str, document: Mapping[str, Any]) -> None:
        self.call("PUT", f"/admin/groups/{seg(name)}", body=dict(document))

    def delete_group(self, name: str) -> None:
        self.call("DELETE", f"/admin/groups/{seg(name)}")

    # ---- projects --------------------------------------------------------------------------

    def list_projects(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get_json("/projects/", list)
        return result

    def get_project(self, key: str) -> dict[str, Any]:
        """The project's summary: the fields of its listing item, for one project."""
        result: dict[str, Any] = self.get_json(f"/projects/{seg(key)}", dict)
        return result

    def create_project(self, body: Mapping[str, Any]) -> None:
        self.call("POST", "/projects/", body=dict(body))

    def delete_project(self, key: str) -> None:
        answer = self.call("DELETE", f"/projects/{seg(key)}", params={
            "clearManagedDatasets": flag(False), "clearOutputManagedFolders": flag(False),
            "clearJobAndScenarioLogs": flag(True), "clearManagedKnowledgeBanks": flag(False), "wait": flag(False)})
        if answer is not None:
            self.await_future(answer, f"the deletion of project {key}")

    def get_metadata(self, key: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/projects/{seg(key)}/metadata", dict)
        return result

    def put_metadata(self, key: str, document: Mapping[str, Any]) -> None:
        self.call("PUT", f"/projects/{seg(key)}/metadata", body=dict(document))

    def get_permissions(self, key: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/projects/{seg(key)}/permissions", dict)
        return result

    def put_permissions(self, key: str, document: Mapping[str, Any]) -> None:
        self.call("PUT", f"/projects/{seg(key)}/permissions", body=dict(document))

    def get_project_variables(self, key: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/projects/{seg(key)}/variables/", dict)
        return result

    def put_project_variables(self, key: str, document: Mapping[str, Any]) -> None:
        self.call("PUT", f"/projects/{seg(key)}/variables/", body=dict(document))

    # ---- instance variables ------------------------------------------------------------------

    def get_instance_variables(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json("/admin/variables/", dict)
        return result

    def put_instance_variables(self, document: Mapping[str, Any]) -> None:
        self.call("PUT", "/admin/variables/", body=dict(document))

    # ---- connections -------------------------------------------------------------------------

    def list_connections(self) -> dict[str, dict[str, Any]]:
        """Every connection's definition (secrets in DSS's encrypted form), in one request."""
        result: dict[str, dict[str, Any]] = self.get_json("/admin/connections/", dict)
        return result

    def get_connection(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/admin/connections/{seg(name)}", dict)
        return result

    def create_connection(self, body: Mapping[str, Any], secret_values: tuple[str, ...] = ()) -> None:
        self.call("POST", "/admin/connections/", body=dict(body), secret_values=secret_values)

    def put_connection(self, name: str, document: Mapping[str, Any], secret_values: tuple[str, ...] = ()) -> None:
        self.call("PUT", f"/admin/connections/{seg(name)}", body=dict(document), secret_values=secret_values)

    def delete_connection(self, name: str) -> None:
        self.call("DELETE", f"/admin/connections/{seg(name)}")

    # ---- scenarios -------------------------------------------------------------------------

    def list_scenarios(self, project: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get_json(f"/projects/{seg(project)}/scenarios/", list)
        return result

    def get_scenario(self, project: str, scenario_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/projects/{seg(project)}/scenarios/{seg(scenario_id)}", dict)
        return result

    def create_scenario(self, project: str, name: str, scenario_type: str,
                        definition: Mapping[str, Any] | None = None) -> str:
        """Create a scenario; DSS assigns its id (from the name) and answers it (§1.2 Scenario).
        `definition` holds further keys of the scenario's document (`active`, `triggers`): the
        create body takes any of them (§2), which saves a read and a write after the create."""
        answer = self.call("POST", f"/projects/{seg(project)}/scenarios/",
                           body={"params": {}, **(definition or {}), "type": scenario_type, "name": name})
        if not isinstance(answer, dict) or not answer.get("id"):
            raise PlatformError("the scenario was created but DSS did not answer its id", method="POST",
                                path=f"{self.prefix}/projects/{seg(project)}/scenarios/")
        return str(answer["id"])

    def put_scenario(self, project: str, scenario_id: str, document: Mapping[str, Any]) -> None:
        self.call("PUT", f"/projects/{seg(project)}/scenarios/{seg(scenario_id)}", body=dict(document))

    def delete_scenario(self, project: str, scenario_id: str) -> None:
        self.call("DELETE", f"/projects/{seg(project)}/scenarios/{seg(scenario_id)}")

    # ---- code environments -----------------------------------------------------------------

    def list_code_envs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get_json("/admin/code-envs/", list)
        return result

    def get_code_env(self, lang: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/admin/code-envs/{seg(lang)}/{seg(name)}", dict)
        return result

    def create_code_env(self, lang: str, name: str, params: Mapping[str, Any]) -> Any:
        """Create (and build) an environment, awaited as a future within `future_timeout`."""
        answer = self.call("POST", f"/admin/code-envs/{seg(lang)}/{seg(name)}", params={"wait": flag(False)},
                           body=dict(params))
        return self.await_future(answer, f"the creation of {lang} code environment {name}")

    def put_code_env(self, lang: str, name: str, document: Mapping[str, Any]) -> None:
        answer = self.call("PUT", f"/admin/code-envs/{seg(lang)}/{seg(name)}", body=dict(document))
        check_messages(answer, f"saving {lang} code environment {name}")

    def update_code_env_packages(self, lang: str, name: str) -> Any:
        """Install the saved package list: saving the spec installs nothing (§1.2 CodeEnv)."""
        answer = self.call("POST", f"/admin/code-envs/{seg(lang)}/{seg(name)}/packages",
                           params={"forceRebuildEnv": flag(False), "wait": flag(False)}, idempotent=True)
        return self.await_future(answer, f"installing the packages of {lang} code environment {name}")

    def delete_code_env(self, lang: str, name: str) -> None:
        answer = self.call("DELETE", f"/admin/code-envs/{seg(lang)}/{seg(name)}", params={"wait": flag(False)})
        if answer is not None:
            self.await_future(answer, f"the deletion of {lang} code environment {name}")

    # ---- global API keys -------------------------------------------------------------------

    def list_global_api_keys(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get_json("/admin/global-api-keys/", list)
        return result

    def get_global_api_key(self, key_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get_json(f"/admin/global-api-keys/{seg(key_id)}", dict)
        return result

    def create_global_api_key(self, body: Mapping[str, Any]) -> tuple[str, str]:
        """Create a key: (its id, its secret). The secret is shown this once (§1.2 GlobalApiKey);
        it is masked in this client's messages from now on."""
        path = "/admin/global-api-keys/"
        answer = check_messages(self.call("POST", path, body=dict(body)), "creating a global API key")
        if not isinstance(answer, dict) or not answer.get("id") or not answer.get("key"):
            raise PlatformError("the API key was created but DSS did not answer its id and secret", method="POST",
                                path=self.prefix + path)
        secret = str(answer["key"])
        self.redactor.add(secret)
        return str(answer["id"]), secret

    def put_global_api_key(self, key_id: str, document: Mapping[str, Any],
                           secret_values: tuple[str, ...] = ()) -> None:
        self.call("PUT", f"/admin/global-api-keys/{seg(key_id)}", body=dict(document), secret_values=secret_values)

    def delete_global_api_key(self, key_id: str) -> None:
        self.call("DELETE", f"/admin/global-api-keys/{seg(key_id)}")


__all__ = [
    "DEFAULT_FUTURE_TIMEOUT",
    "DEFAULT_PREFIX",
    "PREFIXES",
    "ConfigurationError",
    "DataikuClient",
    "ServerError",
    "check_messages",
    "dataiku_error",
    "flag",
    "is_future",
    "normalize_base_url",
    "seg",
]
