"""Kind `service`: a FaaS service (Dataloop's deployed function), running one revision of a
package, which triggers and pipeline nodes call.

    [service.detector]
    project = "vision-prod"
    package_id = "5f5f0c1e2a3b4c5d6e7f8091"     # the package, by id
    package_revision = "1.0.0"                  # and the revision of it to run
    module_name = "default_module"
    init_params = { threshold = 0.5 }
    secrets = ["openai-key"]                    # integrations, by name, exposed as environment variables
    active = true
    execution_timeout = 600
    [service.detector.runtime]
    pod_type = "regular-xs"
    concurrency = 5
    autoscaler = { type = "rabbitmq", min_replicas = 0, max_replicas = 2, queue_length = 20 }

Packages are not managed here: a service names the package by id and the revision to run, as
dtlpy's `deploy` does (contract §4). `secrets` names integrations of the organisation; the
service holds their ids, which are shown as names again (a set: order is no difference). Only
declared `runtime` keys are managed: Dataloop fills in the rest (its defaults, its own
autoscaler fields), and a write merges the declared keys into the live runtime.

Deleting a service answers a command and completes later (§5.17): the delete waits, bounded,
until the service is gone. Services an app installed (`appId`) belong to the app: they are never
reported as unmanaged. The listing is `POST /query/faas` (resource `services`), every page of it.
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field

from platforge.core.errors import PlanError
from platforge.core.kind import Context, Kind, sorted_unique
from platforge.core.model import Created, LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import ANY, Collection, FieldRule
from platforge.core.schema import StrictBool, StrictInt, expects

from ..._kit.client import NotFound
from .common import (
    LIST_PAGE_SIZE,
    DlName,
    FreshReads,
    ObjectId,
    ProjectScoped,
    QueriedAcrossProjects,
    ReadsById,
    Spec,
    cached,
    client,
    forget,
    from_wire,
    ignore_missing,
    is_object_id,
    project_id,
    project_ref,
    required_project_id,
    rows_by_scope,
    to_wire,
)
from .integration import integration_ids

PodType = Literal["regular-xs", "regular-s", "regular-m", "regular-l", "highmem-xs", "highmem-s", "highmem-m",
                  "highmem-l", "highcpu-xs", "gpu-t4", "gpu-t4-m"]
#: Top-level stack fields that are plain scalars or documents on the wire (snake -> camel).
PLAIN = ("package_id", "package_revision", "module_name", "init_params", "active", "execution_timeout", "drain_time",
         "on_reset", "max_attempts", "run_execution_as_process")
RUNTIME = ("pod_type", "num_replicas", "concurrency", "autoscaler")
AUTOSCALER = ("type", "min_replicas", "max_replicas", "queue_length")

Seconds = StrictInt
#: What a new service's runtime holds where the stack declares a runtime but not these keys:
#: dtlpy's `KubernetesRuntime` and rabbitmq autoscaler defaults (contract §1.1), so that the
#: gate never stores an autoscaler without its `type` (which dtlpy cannot read back).
RUNTIME_DEFAULTS = {"podType": "regular-s", "numReplicas": 1, "concurrency": 10}
AUTOSCALER_DEFAULTS = {"type": "rabbitmq", "minReplicas": 0, "maxReplicas": 1, "queueLength": 1000}


class AutoscalerSpec(Spec):
    type: Literal["rabbitmq", "cpu", "rps"] | None = None
    min_replicas: StrictInt | None = Field(default=None, ge=0, json_schema_extra=expects("an integer of at least 0"))
    max_replicas: StrictInt | None = Field(default=None, ge=0, json_schema_extra=expects("an integer of at least 0"))
    queue_length: StrictInt | None = Field(default=None, ge=1, json_schema_extra=expects("a positive integer"))


class RuntimeSpec(Spec):
    pod_type: PodType | None = None
    num_replicas: StrictInt | None = Field(default=None, ge=0, json_schema_extra=expects("an integer of at least 0"))
    concurrency: StrictInt | None = Field(default=None, ge=1, json_schema_extra=expects("a positive integer"))
    autoscaler: AutoscalerSpec | None = None


class ServiceSpec(Spec):
    project: DlName
    name: DlName
    package_id: ObjectId
    package_revision: DlName | None = None
    module_name: DlName | None = None
    init_params: dict[str, Any] | None = Field(default=None, json_schema_extra=expects("a table of parameters"))
    runtime: RuntimeSpec | None = None
    secrets: set[DlName] | None = Field(default=None, json_schema_extra=expects("a list of integration names"))
    active: StrictBool | None = None
    execution_timeout: Seconds | None = Field(default=None, ge=1, json_schema_extra=expects("a positive number of seconds"))
    drain_time: Seconds | None = Field(default=None, ge=0, json_schema_extra=expects("a number of seconds"))
    on_reset: Literal["failed", "rerun"] | None = None
    max_attempts: StrictInt | None = Field(default=None, ge=1, json_schema_extra=expects("a positive integer"))
    run_execution_as_process: StrictBool | None = None


def services(ctx: Context, scope: str) -> list[dict[str, Any]]:
    """A project's services, one listing per run (every page)."""
    pid = project_id(ctx, scope)
    if pid is None:
        return []
    result: list[dict[str, Any]] = cached(ctx, f"services:{scope}", lambda: client(ctx).list_services(pid))
    return result


def services_of_projects(ctx: Context, scopes: Iterable[Any]) -> dict[Any, list[dict[str, Any]]]:
    """The services of many projects, with the service kind's own query (one per hundred
    projects, shared with it for the run)."""
    return rows_by_scope(ctx, "services", scopes, client(ctx).list_services_in, _project_of_row)


def _project_of_row(row: Mapping[str, Any]) -> Any:
    return row.get("projectId")


#: The run's setting that maps a declared service's table name to its Dataloop name (what a
#: trigger's `service` names), made by the platform from the stack.
SERVICE_NAMES = "dataloop.service_names"


def service_names(resources: list[Resource]) -> dict[str, str]:
    return {r.name: str(r.spec.get("name", r.name)) for r in resources if r.kind == "service"}


def service_id(ctx: Context, scope: str, service: str) -> str:
    """The id of the service a trigger names (by name in its project, or by id), for a write."""
    if is_object_id(service):
        return service
    matches = [s for s in services(ctx, scope) if s.get("name") == service]
    if len(matches) != 1:
        # The run's listing answers when it shows exactly one (every service write drops it, so
        # it never holds a service this run replaced); else it may be older than the service.
        forget(ctx, f"services:{scope}")
        matches = [s for s in services(ctx, scope) if s.get("name") == service]
    if len(matches) > 1:
        ids = ", ".join(str(s["id"]) for s in matches)
        raise PlanError(f"{len(matches)} services of project {scope} are named {service!r} (ids {ids}): name the "
                        "one meant by its id")
    if not matches:
        raise NotFound(f"no service {service!r} in project {scope}")
    return str(matches[0]["id"])


def _runtime_fields(runtime: Any) -> dict[str, Any] | None:
    if not isinstance(runtime, dict):
        return None
    fields = from_wire(runtime, RUNTIME)
    if isinstance(fields.get("autoscaler"), dict):
        fields["autoscaler"] = from_wire(fields["autoscaler"], AUTOSCALER)
    return fields


class ServiceKind(QueriedAcrossProjects, ReadsById, ProjectScoped, FreshReads, Kind):
    name = "service"
    spec_model = ServiceSpec
    identity_fields = ("project", "name")
    list_page_size = LIST_PAGE_SIZE
    identified_by_id = True
    field_rules = {
        "runtime": FieldRule(server_defaults={"*": ANY, "autoscaler.*": ANY}),
        "secrets": FieldRule(collection=Collection.SET),
    }
    #: Deleting a service finishes asynchronously; the client waits for it.
    ready_timeout = 120.0

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return (f"services:{identity[0]}",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model: ServiceSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        if model.secrets is not None:
            spec["secrets"] = sorted_unique(model.secrets)
        return spec

    def references(self, model: ServiceSpec) -> list[Ref]:  # type: ignore[override]
        refs = project_ref(model.project)
        refs += [Ref("integration", s) for s in sorted(model.secrets or ()) if not is_object_id(s)]
        return refs

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        if scope is None:
            return []
        return self.lives(ctx, scope, services(ctx, scope))

    listing_key = "services"
    def query_projects(self, ctx: Context, project_ids: builtins.list[str]) -> builtins.list[dict[str, Any]]:
        # The same query (and cache key) as `services_of_projects`: read once for both kinds.
        return client(ctx).list_services_in(project_ids)

    def fetch_one(self, ctx: Context, platform_id: str) -> dict[str, Any]:
        return client(ctx).get_service(platform_id)

    def lives(self, ctx: Context, scope: Any, rows: builtins.list[dict[str, Any]]) -> builtins.list[LiveObject]:
        if not rows:
            return []
        names = self._integration_names(ctx) if any(r.get("secrets") for r in rows) else {}
        found = []
        for row in rows:
            if not row.get("id") or not isinstance(row.get("name"), str):
                continue
            fields: dict[str, Any] = {"project": scope, "name": row["name"], **from_wire(row, PLAIN)}
            fields["runtime"] = _runtime_fields(row.get("runtime"))
            fields["secrets"] = sorted({names.get(str(s), str(s)) for s in row.get("secrets") or ()})
            found.append(LiveObject(kind=self.name, identity=(scope, row["name"]), fields=fields, platform_id=row["id"],
                                    extra={"document": row}, builtin=bool(row.get("appId") or row.get("app"))))
        return found

    @staticmethod
    def _integration_names(ctx: Context) -> dict[str, str]:
        return {i: name for name, ids in integration_ids(ctx).items() for i in ids}

    def _secret_ids(self, ctx: Context, declared: Iterable[str]) -> builtins.list[str]:
        """The integrations a service's `secrets` name, from the run's integration listing; read
        again only when it cannot answer (an integration created after it was read), not once
        per service written."""
        declared = builtins.list(declared)
        by_name = integration_ids(ctx)
        if any(not (is_object_id(name) and name not in by_name) and len(by_name.get(name, [])) != 1
               for name in declared):
            forget(ctx, "integrations")
            by_name = integration_ids(ctx)
        ids = []
        for name in declared:
            if is_object_id(name) and name not in by_name:
                ids.append(name)
                continue
            found = by_name.get(name, [])
            if len(found) != 1:
                what = f"{len(found)} integrations are named {name!r} (ids {', '.join(found)})" if found \
                    else f"no integration {name!r} in the organisation"
                raise PlanError(f"service secrets: {what}")
            ids.append(found[0])
        return ids

    def _body(self, ctx: Context, spec: dict[str, Any], fields: set[str], live_runtime: Any = None) -> dict[str, Any]:
        body = to_wire({k: spec[k] for k in PLAIN if k in fields and k in spec and k != "init_params"})
        if "init_params" in fields and "init_params" in spec:
            body["initParams"] = copy.deepcopy(spec["init_params"])  # free-form: keys as declared
        if "runtime" in fields and spec.get("runtime") is not None:
            runtime = copy.deepcopy(live_runtime) if isinstance(live_runtime, dict) else {}
            declared = to_wire(spec["runtime"])
            autoscaler = declared.pop("autoscaler", None)
            runtime.update(declared)
            if autoscaler is not None:
                runtime["autoscaler"] = {**(runtime.get("autoscaler") or {}), **autoscaler}
            body["runtime"] = runtime
        if "secrets" in fields and "secrets" in spec:
            body["secrets"] = self._secret_ids(ctx, spec["secrets"])
        return body

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        pid = required_project_id(ctx, spec["project"])
        body = {"name": spec["name"], "projectId": pid, **self._body(ctx, spec, set(spec))}
        body.setdefault("initParams", {})
        if "runtime" in body:
            runtime = {**RUNTIME_DEFAULTS, **body["runtime"]}
            if "autoscaler" in runtime:
                runtime["autoscaler"] = {**AUTOSCALER_DEFAULTS, **runtime["autoscaler"]}
            body["runtime"] = runtime
        created = client(ctx).create_service(body)
        forget(ctx, f"services:{spec['project']}")
        return Created(platform_id=str(created["id"]))

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        document = live.extra.get("document") or {}
        body = self._body(ctx, spec, changed, document.get("runtime"))
        if "name" in changed:
            body["name"] = spec["name"]
        if body:
            client(ctx).patch_service(live.platform_id, body)
        forget(ctx, f"services:{spec['project']}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is not None:
            ignore_missing(lambda: client(ctx).delete_service(platform_id))
        forget(ctx, f"services:{ref.identity[0]}")


__all__ = ["ServiceKind", "service_id", "services"]
