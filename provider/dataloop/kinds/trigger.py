"""Kind `trigger`: a cron schedule or an event rule that runs a service's function.

    [trigger.nightly]
    project = "vision-prod"
    type = "Cron"                        # Cron or Event; a change of type is a replace
    service = "detector"                 # a service of the project, by name (or id)
    function_name = "run"
    cron = "0 2 * * *"
    input = { threshold = 0.9 }

    [trigger.on-upload]
    project = "vision-prod"
    type = "Event"
    service = "detector"
    resource = "Item"                    # Item, Dataset, Annotation, Task, Assignment, ItemStatus
    actions = ["Created"]
    execution_mode = "Once"
    filter = { "$and" = [{ dir = "/incoming" }] }

Dataloop keeps the two in one resource, told apart by `type` (contract §1.2), and cannot turn one
into the other: a change of `type` replaces the trigger (delete, then create). Everything else
changes in place with a `PATCH` carrying the whole trigger back, read-modify-write: what the stack
does not declare (Dataloop's own `spec` keys, a webhook or pipeline operation's fields) is sent
back as it was read. A cron field on an event rule, or an event field on a schedule, is refused
when the stack is read.

The service is named as the stack names it; the trigger holds its id, shown as the name again
from the project's one service listing. Triggers an app installed (`appId`) belong to the app
and are never reported as unmanaged. The listing is `POST /query/faas` (resource `triggers`).
"""

from __future__ import annotations

import builtins
import copy
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Literal

from pydantic import Field, model_validator

from platforge.core.kind import Context, Kind
from platforge.core.model import Created, LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import FieldRule
from platforge.core.schema import StrictBool, expects

from .common import (
    LIST_PAGE_SIZE,
    DlName,
    FreshReads,
    ProjectScoped,
    QueriedAcrossProjects,
    ReadsById,
    Spec,
    cached,
    client,
    forget,
    ignore_missing,
    is_object_id,
    project_id,
    project_ref,
    required_project_id,
)
from .service import SERVICE_NAMES, service_id, services, services_of_projects

Action = Literal["Created", "Updated", "Deleted", "statusChanged", "Clone"]
#: Stack field -> key of the trigger's `spec`, for each type.
CRON_FIELDS = {"cron": "cron", "start_at": "startAt", "end_at": "endAt"}
EVENT_FIELDS = {"resource": "resource", "actions": "actions", "execution_mode": "executionMode", "filter": "filter"}
#: What an event rule gets when the stack leaves it out (dtlpy's defaults, contract §1.1).
EVENT_DEFAULTS: dict[str, Any] = {"resource": "Item", "actions": ["Created"], "executionMode": "Once", "filter": {}}


class TriggerSpec(Spec):
    project: DlName
    name: DlName
    type: Literal["Cron", "Event"]
    service: DlName
    function_name: DlName = "run"
    active: StrictBool | None = None
    input: dict[str, Any] | None = Field(default=None, json_schema_extra=expects("a table of inputs"))
    cron: DlName | None = Field(default=None, json_schema_extra=expects('a cron expression such as "0 2 * * *"'))
    start_at: DlName | None = None
    end_at: DlName | None = None
    resource: Literal["Item", "Dataset", "Annotation", "Task", "Assignment", "ItemStatus"] | None = None
    actions: list[Action] | None = None
    execution_mode: Literal["Once", "Always"] | None = None
    filter: dict[str, Any] | None = Field(default=None, json_schema_extra=expects("a DQL filter table"))

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> TriggerSpec:
        if self.type == "Cron":
            wrong = [f for f in EVENT_FIELDS if getattr(self, f) is not None]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} belong to Event triggers, not Cron")
            if self.cron is None:
                raise ValueError("a Cron trigger needs cron (for example \"0 2 * * *\")")
        else:
            wrong = [f for f in CRON_FIELDS if getattr(self, f) is not None]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} belong to Cron triggers, not Event")
        return self


class TriggerKind(QueriedAcrossProjects, ReadsById, ProjectScoped, FreshReads, Kind):
    name = "trigger"
    spec_model = TriggerSpec
    identity_fields = ("project", "name")
    list_page_size = LIST_PAGE_SIZE
    identified_by_id = True
    field_rules = {"type": FieldRule(replace=True)}

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return (f"triggers:{identity[0]}",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model: TriggerSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        spec["type"] = model.type
        spec["function_name"] = model.function_name  # always managed: the function the trigger runs
        return spec

    settings_used = frozenset({SERVICE_NAMES})

    def desired(self, ctx: Context, resource: Resource) -> Resource:
        """`service` names a declared service by its table (the reference the stack checks);
        Dataloop knows the service by its own `name`, which may differ (two projects' services
        may share one name): compared and written, the trigger names that."""
        service = resource.spec.get("service")
        name = (ctx.settings.get(SERVICE_NAMES) or {}).get(service)
        if name is None or name == service:
            return resource
        return replace(resource, spec={**resource.spec, "service": name})

    def references(self, model: TriggerSpec) -> list[Ref]:  # type: ignore[override]
        refs = project_ref(model.project)
        if not is_object_id(model.service):
            refs.append(Ref("service", model.service))
        return refs

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        if scope is None:
            return []
        pid = project_id(ctx, scope)
        if pid is None:
            return []
        rows = cached(ctx, f"triggers:{scope}", lambda: client(ctx).list_triggers(pid))
        return self.lives(ctx, scope, rows)

    listing_key = "triggers"

    def query_projects(self, ctx: Context, project_ids: builtins.list[str]) -> builtins.list[dict[str, Any]]:
        return client(ctx).list_triggers_in(project_ids)

    def list_scopes(self, ctx: Context, scopes: Iterable[Any]) -> builtins.list[LiveObject]:
        """The services of the same projects first, with the query the service kind makes (read
        once for both): a trigger names its service, and one service listing per project would
        undo the one query per hundred projects."""
        scopes = builtins.list(scopes)
        services_of_projects(ctx, scopes)
        return super().list_scopes(ctx, scopes)

    def fetch_one(self, ctx: Context, platform_id: str) -> dict[str, Any]:
        return client(ctx).get_trigger(platform_id)

    def lives(self, ctx: Context, scope: Any, rows: builtins.list[dict[str, Any]]) -> builtins.list[LiveObject]:
        names: dict[str, str] | None = None
        found = []
        for row in rows:
            if not row.get("id") or not isinstance(row.get("name"), str):
                continue
            spec: dict[str, Any] = row["spec"] if isinstance(row.get("spec"), dict) else {}
            operation: dict[str, Any] = spec["operation"] if isinstance(spec.get("operation"), dict) else {}
            target = operation.get("serviceId")
            if target is not None and names is None:
                names = {str(s["id"]): str(s.get("name")) for s in services(ctx, scope)}
            fields: dict[str, Any] = {
                "project": scope, "name": row["name"], "type": row.get("type"), "active": row.get("active"),
                "service": (names or {}).get(str(target), target), "function_name": operation.get("functionName"),
                "input": spec.get("input"),
            }
            keys = CRON_FIELDS if row.get("type") == "Cron" else EVENT_FIELDS
            fields.update({name: spec.get(key) for name, key in keys.items()})
            found.append(LiveObject(kind=self.name, identity=(scope, row["name"]), fields=fields, platform_id=row["id"],
                                    extra={"document": row}, builtin=bool(row.get("appId") or row.get("app"))))
        return found

    def _spec(self, ctx: Context, spec: dict[str, Any], live_spec: dict[str, Any] | None,
              fields: set[str]) -> dict[str, Any]:
        """The trigger's `spec` document: the live one (or the type's defaults) with the declared
        `fields` set."""
        out: dict[str, Any] = copy.deepcopy(live_spec) if live_spec else \
            ({"cron": None, "startAt": None, "endAt": None, "input": {}} if spec["type"] == "Cron"
             else {**copy.deepcopy(EVENT_DEFAULTS), "input": {}})
        keys = CRON_FIELDS if spec["type"] == "Cron" else EVENT_FIELDS
        for name, key in keys.items():
            if name in fields and name in spec:
                out[key] = copy.deepcopy(spec[name])
        if "input" in fields and "input" in spec:
            out["input"] = copy.deepcopy(spec["input"])
        operation = dict(out.get("operation") or {})
        if not operation or {"service", "function_name"} & fields:
            operation.update({"type": "function", "serviceId": service_id(ctx, spec["project"], spec["service"]),
                              "functionName": spec["function_name"]})
            operation.pop("id", None)
            operation.pop("webhookId", None)
        out["operation"] = operation
        return out

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        pid = required_project_id(ctx, spec["project"])
        body = {"type": spec["type"], "name": spec["name"], "projectId": pid, "active": spec.get("active", True),
                "scope": "project", "spec": self._spec(ctx, spec, None, set(spec))}
        created = client(ctx).create_trigger(body)
        forget(ctx, f"triggers:{spec['project']}")
        return Created(platform_id=str(created["id"]))

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        document = copy.deepcopy(live.extra.get("document") or {})
        body: dict[str, Any] = {"name": spec["name"], "active": document.get("active"), "type": document.get("type"),
                                "projectId": document.get("projectId")}
        if "active" in changed and "active" in spec:
            body["active"] = spec["active"]
        live_spec = document.get("spec") if isinstance(document.get("spec"), dict) else {}
        body["spec"] = self._spec(ctx, spec, live_spec, changed)
        client(ctx).patch_trigger(live.platform_id, body)
        forget(ctx, f"triggers:{spec['project']}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is not None:
            ignore_missing(lambda: client(ctx).delete_trigger(platform_id))
        forget(ctx, f"triggers:{ref.identity[0]}")


__all__ = ["TriggerKind"]
