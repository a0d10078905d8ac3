"""`DataloopClient`: the one object that talks to a Dataloop gate.

The gate serves its API under `/api/v1`; the only route outside it is the login,
`POST /token?default` (contract §3.1). The client is built from the gate URL (a URL that already
ends in `/api/v1` is accepted and trimmed, since that is how dtlpy names environments) and logs in
lazily with an e-mail and a password, exchanging them for a short-lived JWT sent as
`Authorization: Bearer`. The session is the kit's `SessionAuth`: a 401 logs in again once and
replays the request, so an expired token never surfaces as a failure. A client may instead be
given a token (no renewal: a rejected token is an `AuthenticationError`). Passwords and tokens
are registered with the redactor and never appear in a message or a repr.

Errors come as `{"name", "message", "status"?}` (§2.8; only `message` is reliable); the status
decides the class. Which failures are repeated is the kit's table: reads after 502/503/504 and
dropped connections, writes never (an apply decides again from live state). dtlpy repeats every
method on 501-511; that would send a write twice, so this client does not copy it.

Listings come in two styles (§2.9): IAM lists (projects, members, orgs, integrations) are bare
arrays in one request; every `…/query` and `/query/faas` is a page-index cursor page
(`{items, totalItemsCount, totalPagesCount, hasNextPage}`), read completely with the kit's
`PageIndexPaging`, one request per page, with a DQL filter in the body.

Deleting a service answers a command and finishes later (§5.17): `delete_service` waits, within
`delete_timeout` seconds, until `GET /services/{id}` answers 404 (the kit's bounded poller).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from .._kit.client import (
    DEFAULT_TIMEOUT,
    BaseClient,
    ConfigurationError,
    NotFound,
    PageIndexPaging,
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

API_PREFIX = "/api/v1"
#: Items per page of a `…/query` listing: dtlpy's default and the gate's cap (§2.9).
DEFAULT_PAGE_SIZE = 1000
#: How long an asynchronous delete (a service's) may take before the wait gives up, in seconds.
DEFAULT_DELETE_TIMEOUT = 120.0

Json = dict[str, Any]


def seg(value: Any) -> str:
    """One path segment, escaped whole: e-mails and names go into paths raw in dtlpy (§3.4)."""
    return quote(str(value), safe="@")


def gate_url(url: str) -> str:
    """The gate's root: `https://gate.dataloop.ai`, from itself or from `…/api/v1`."""
    text = checked_base_url(url, "the Dataloop endpoint")
    return text[: -len(API_PREFIX)] if text.endswith(API_PREFIX) else text


def dataloop_error(response: httpx.Response) -> PlatformError | None:
    """The error mapper for the transport: None for a success, else the typed error (§2.8)."""
    status = response.status_code
    if status < 400:
        return None
    message = ""
    body = json_object(response)
    if body is not None and isinstance(body.get("message"), str):
        message = body["message"]
    return error_class_for_status(status)(truncate(message or response_message(response)), status=status)


def query_body(resource: str, filters: Sequence[Mapping[str, Any]] = (), *,
               context: Mapping[str, Any] | None = None) -> Json:
    """A DQL request (§2.9): conditions joined by `$and`, for one resource."""
    body: Json = {"filter": {"$and": [dict(f) for f in filters]}, "resource": resource}
    if context:
        body["context"] = dict(context)
    return body


class DataloopClient(BaseClient):
    """Typed access to the Dataloop REST API. Thread-safe; use as a context manager or `close()`."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None = None,
        password: str | None = None,
        token: str | None = None,
        org: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        delete_timeout: float = DEFAULT_DELETE_TIMEOUT,
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
        if token is None and not (email and password):
            raise ConfigurationError("Dataloop needs an e-mail and a password, or a token")
        if page_size < 1:
            raise ConfigurationError("page_size must be at least 1")
        self.email = email
        self.org = org
        self.page_size = page_size
        self.delete_timeout = delete_timeout
        redactor = Redactor([password or "", token or ""])
        self._password = password
        login = self._login if email and password else None
        self.session = SessionAuth(login=login, token=token, apply=bearer(), redactor=redactor)
        self._org_lock = threading.Lock()
        self._org_id: str | None = None
        super().__init__(
            gate_url(base_url),
            auth=self.session,
            error_mapper=dataloop_error,
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
        return f"DataloopClient({self.base_url!r}, email={self.email!r})"

    # ---- the wire ------------------------------------------------------------------------

    def _login(self) -> str:
        """`POST /token?default` with the user's credentials (what `dl.login_m2m` sends), outside
        the session (no bearer) and safe to repeat: a login changes nothing."""
        response = self.request("POST", "/token?default", auth=httpx.Auth(), idempotent=True,
                                json={"username": self.email, "password": self._password, "type": "user_credentials"})
        try:
            answer = response.json()
        except ValueError:
            answer = None
        token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise PlatformError("the login answered no id_token", method="POST", path="/token")
        return token

    def call(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None, secret_values: tuple[str, ...] = ()) -> Any:
        """One request below `/api/v1`; the JSON answer, or None for an empty body (204)."""
        response = self.request(method, API_PREFIX + path, json=body, params=params, headers=headers,
                                secret_values=secret_values)
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

    def get_json(self, path: str, expect: type = dict) -> Any:
        return self._expect(self.call("GET", path), expect, "GET", path)

    def write_json(self, method: str, path: str, body: Any = None, *,
                   secret_values: tuple[str, ...] = ()) -> Json:
        """A write whose answer is the object written (a create, a PATCH)."""
        result: Json = self._expect(self.call(method, path, body=body, secret_values=secret_values), dict, method,
                                    path)
        return result

    def query(self, path: str, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
              page_size: int | None = None) -> list[Json]:
        """Every item of a paged `…/query` listing: one POST per page (`page` 0, 1, … while
        `hasNextPage`), items kept once by id."""
        paging = PageIndexPaging(page_size=page_size or self.page_size)

        def send(params: dict[str, Any]) -> Any:
            return self.call("POST", path, body={**body, **params}, headers=headers)

        items = paging.collect(send, key=lambda item: item.get("id") if isinstance(item, dict) else repr(item))
        return [item for item in items if isinstance(item, dict)]

    # ---- identity and organisations ------------------------------------------------------

    def me(self) -> Json:
        result: Json = self.get_json("/users/me")
        return result

    def list_orgs(self) -> list[Json]:
        result: list[Json] = self.get_json("/orgs", list)
        return result

    def get_org(self, org_id: str) -> Json:
        result: Json = self.get_json(f"/orgs/{seg(org_id)}")
        return result

    def org_id(self) -> str:
        """The id of the organisation this client works in: the `org` it was given (an id or a
        unique name), else the only organisation the user belongs to. Read once."""
        with self._org_lock:
            if self._org_id is None:
                self._org_id = self._resolve_org()
            return self._org_id

    def _resolve_org(self) -> str:
        orgs = [o for o in self.list_orgs() if isinstance(o, dict) and o.get("id")]
        wanted = self.org
        if wanted is None:
            if len(orgs) == 1:
                return str(orgs[0]["id"])
            names = ", ".join(f"{o.get('name')} ({o['id']})" for o in orgs) or "none"
            raise ConfigurationError(f"set [platform] org: the user belongs to {len(orgs)} organisations ({names})")
        by_id = [o for o in orgs if o["id"] == wanted]
        if by_id:
            return wanted
        by_name = [o for o in orgs if o.get("name") == wanted]
        if len(by_name) == 1:
            return str(by_name[0]["id"])
        if by_name:
            ids = ", ".join(str(o["id"]) for o in by_name)
            raise ConfigurationError(f"{len(by_name)} organisations are named {wanted!r} (ids {ids}): "
                                     "set [platform] org to the id")
        raise ConfigurationError(f"no organisation {wanted!r} among the user's ({', '.join(str(o.get('name')) for o in orgs)})")

    def list_org_members(self, org_id: str) -> list[Json]:
        result: list[Json] = self.get_json(f"/orgs/{seg(org_id)}/members", list)
        return result

    def add_org_member(self, org_id: str, email: str, role: str) -> None:
        self.call("POST", f"/orgs/{seg(org_id)}/members", body={"emails": [email], "role": role})

    def update_org_member(self, org_id: str, email: str, role: str) -> None:
        self.call("PATCH", f"/orgs/{seg(org_id)}/members", body={"email": email, "role": role})

    def delete_org_member(self, org_id: str, email: str) -> None:
        self.call("DELETE", f"/orgs/{seg(org_id)}/members/{seg(email)}")

    # ---- projects ------------------------------------------------------------------------

    def list_projects(self) -> list[Json]:
        result: list[Json] = self.get_json("/projects", list)
        return result

    def get_project(self, project_id: str) -> Json:
        result: Json = self.get_json(f"/projects/{seg(project_id)}")
        return result

    def create_project(self, name: str, account: str | None = None) -> Json:
        """`account` is the organisation's id (contract §2.2: `{name, account?}`); without it
        the gate puts the project in the caller's first organisation."""
        return self.write_json("POST", "/projects", {"name": name, **({"account": account} if account else {})})

    def move_project(self, project_id: str, org_id: str) -> None:
        self.call("PATCH", f"/projects/{seg(project_id)}/org", body={"org_id": org_id})

    def rename_project(self, project_id: str, name: str) -> None:
        self.call("PATCH", f"/projects/{seg(project_id)}", body={"name": name})

    def delete_project(self, project_id: str) -> None:
        self.call("DELETE", f"/projects/{seg(project_id)}")

    def list_project_members(self, project_id: str) -> list[Json]:
        result: list[Json] = self.get_json(f"/projects/{seg(project_id)}/members", list)
        return result

    def add_project_member(self, project_id: str, email: str, role: str) -> None:
        self.call("POST", f"/projects/{seg(project_id)}/members/{seg(email)}", body={"role": role})

    def update_project_member(self, project_id: str, email: str, role: str) -> None:
        self.call("PATCH", f"/projects/{seg(project_id)}/members/{seg(email)}", body={"role": role})

    def remove_project_member(self, project_id: str, email: str) -> None:
        self.call("DELETE", f"/projects/{seg(project_id)}/members/{seg(email)}")

    # ---- integrations (secrets) ----------------------------------------------------------

    def list_integrations(self, org_id: str) -> list[Json]:
        result: list[Json] = self.get_json(f"/orgs/{seg(org_id)}/integrations", list)
        return result

    def create_integration(self, org_id: str, integration_type: str, name: str, options: Mapping[str, Any],
                           secret_values: tuple[str, ...] = ()) -> Json:
        return self.write_json("POST", f"/orgs/{seg(org_id)}/integrations",
                               {"type": integration_type, "name": name, "options": dict(options)},
                               secret_values=secret_values)

    def rename_integration(self, org_id: str, integration_id: str, name: str) -> None:
        self.call("PATCH", f"/orgs/{seg(org_id)}/integrations", body={"integrationId": integration_id, "name": name})

    def set_integration_options(self, org_id: str, integration_id: str, integration_type: str,
                                options: Mapping[str, Any], secret_values: tuple[str, ...] = ()) -> None:
        """New credentials; services using the integration reload them (`reloadServices`)."""
        self.call("PATCH", f"/orgs/{seg(org_id)}/integrations", params={"reloadServices": "true"},
                  body={"integrationId": integration_id, "credentials": {"options": dict(options),
                                                                         "type": integration_type}},
                  secret_values=secret_values)

    def delete_integration(self, org_id: str, integration_id: str) -> None:
        self.call("DELETE", f"/orgs/{seg(org_id)}/integrations/{seg(integration_id)}")

    # ---- datasets ------------------------------------------------------------------------

    def list_datasets(self, project_id: str, filters: Sequence[Mapping[str, Any]] = ()) -> list[Json]:
        """A project's datasets (`POST /datasets/query` with `context.projects`, §2.4)."""
        return self.query("/datasets/query", query_body("datasets", filters, context={"projects": [project_id]}),
                          headers={"user_query": "true"})

    def list_datasets_in(self, project_ids: Sequence[str]) -> list[Json]:
        """The datasets of several projects in one query (`context.projects` takes a list)."""
        return self.query("/datasets/query", query_body("datasets", context={"projects": list(project_ids)}),
                          headers={"user_query": "true"})

    def create_dataset(self, body: Mapping[str, Any]) -> Json:
        return self.write_json("POST", "/datasets", dict(body))

    def patch_dataset(self, dataset_id: str, body: Mapping[str, Any]) -> None:
        self.call("PATCH", f"/datasets/{seg(dataset_id)}", body=dict(body))

    def delete_dataset(self, dataset_id: str) -> None:
        self.call("DELETE", f"/datasets/{seg(dataset_id)}")

    # ---- FaaS: services and triggers ------------------------------------------------------

    def query_faas(self, resource: str, filters: Sequence[Mapping[str, Any]]) -> list[Json]:
        return self.query("/query/faas", query_body(resource, filters))

    def get_dataset(self, dataset_id: str) -> Json:
        result: Json = self.get_json(f"/datasets/{seg(dataset_id)}")
        return result

    def get_trigger(self, trigger_id: str) -> Json:
        result: Json = self.get_json(f"/triggers/{seg(trigger_id)}")
        return result

    def get_integration(self, integration_id: str) -> Json:
        result: Json = self.get_json(f"/orgs/{seg(self.org_id())}/integrations/{seg(integration_id)}")
        return result

    def list_services(self, project_id: str) -> list[Json]:
        """A project's own services (dtlpy's default filter leaves out global ones, §2.9)."""
        return self.query_faas("services", [{"projectId": project_id}, {"global": {"$ne": True}}])

    def list_services_in(self, project_ids: Sequence[str]) -> list[Json]:
        """The own services of several projects in one query (`projectId $in`, §2.9)."""
        return self.query_faas("services", [{"projectId": {"$in": list(project_ids)}}, {"global": {"$ne": True}}])

    def get_service(self, service_id: str) -> Json:
        result: Json = self.get_json(f"/services/{seg(service_id)}")
        return result

    def create_service(self, body: Mapping[str, Any]) -> Json:
        return self.write_json("POST", "/services", dict(body))

    def patch_service(self, service_id: str, body: Mapping[str, Any]) -> None:
        self.call("PATCH", f"/services/{seg(service_id)}", body=dict(body))

    def delete_service(self, service_id: str) -> None:
        """Delete, then wait until the service is gone: the delete answers a command (§5.17)."""
        self.call("DELETE", f"/services/{seg(service_id)}")

        def gone() -> bool:
            try:
                self.get_service(service_id)
            except NotFound:
                return True
            return False

        self.poll(gone, what=f"service {service_id} to be deleted", timeout=self.delete_timeout, interval=0.25,
                  max_interval=5.0)

    def list_triggers(self, project_id: str) -> list[Json]:
        return self.query_faas("triggers", [{"projectId": project_id}])

    def list_triggers_in(self, project_ids: Sequence[str]) -> list[Json]:
        return self.query_faas("triggers", [{"projectId": {"$in": list(project_ids)}}])

    def create_trigger(self, body: Mapping[str, Any]) -> Json:
        return self.write_json("POST", "/triggers", dict(body))

    def patch_trigger(self, trigger_id: str, body: Mapping[str, Any]) -> None:
        self.call("PATCH", f"/triggers/{seg(trigger_id)}", body=dict(body))

    def delete_trigger(self, trigger_id: str) -> None:
        self.call("DELETE", f"/triggers/{seg(trigger_id)}")

    # ---- pipelines -----------------------------------------------------------------------

    def list_pipelines(self, project_id: str) -> list[Json]:
        return self.query("/pipelines/query", query_body("pipeline", [{"projectId": project_id}]))

    def list_pipelines_in(self, project_ids: Sequence[str]) -> list[Json]:
        return self.query("/pipelines/query", query_body("pipeline", [{"projectId": {"$in": list(project_ids)}}]))

    def get_pipeline(self, pipeline_id: str) -> Json:
        result: Json = self.get_json(f"/pipelines/{seg(pipeline_id)}")
        return result

    def create_pipeline(self, body: Mapping[str, Any]) -> Json:
        return self.write_json("POST", "/pipelines", dict(body))

    def patch_pipeline(self, pipeline_id: str, body: Mapping[str, Any]) -> None:
        self.call("PATCH", f"/pipelines/{seg(pipeline_id)}", body=dict(body))

    def install_pipeline(self, pipeline_id: str) -> None:
        self.call("POST", f"/pipelines/{seg(pipeline_id)}/install", body={})

    def uninstall_pipeline(self, pipeline_id: str) -> None:
        self.call("POST", f"/pipelines/{seg(pipeline_id)}/uninstall", body={})

    def delete_pipeline(self, pipeline_id: str) -> None:
        self.call("DELETE", f"/pipelines/{seg(pipeline_id)}")


__all__ = [
    "API_PREFIX",
    "DEFAULT_DELETE_TIMEOUT",
    "DEFAULT_PAGE_SIZE",
    "ConfigurationError",
    "DataloopClient",
    "dataloop_error",
    "gate_url",
    "query_body",
    "seg",
]
