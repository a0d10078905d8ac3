"""Triggers: cron schedules and event rules in one kind (contract §1.2 Trigger, §2.5, §4 kind 7).

A trigger runs a service's function (`operation: {type: function, serviceId, functionName}`) or
a pipeline (`{type: pipeline, id}`) of its own project, and goes when its target goes. The
sandbox has no webhooks, so a `webhook` operation is a 400. `Cron` specs carry `cron` (5 or 6
fields), `startAt`, `endAt`; `Event` specs carry `resource`, `actions`, `executionMode` and a
`filter` object. `type` cannot change (a 400: §4 says replace). Every answer carries `id`
(`CronTrigger.from_json` reads it without a default, §3.4 item 9). `DELETE` answers 204.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from fastapi import APIRouter, Depends, Request

from .access import WRITERS, check_id, project_of
from .auth import Principal, current
from .errors import BadRequest
from .objects import check_unique, insert, load, save
from .store import Db, iso_now, new_id, store_of
from .urls import api_url
from .wire import bool_field, dict_field, json_body, list_field, name_field, no_content, obj, reply, str_field

__all__ = ["router"]

router = APIRouter(tags=["triggers"])

TYPES = ("Event", "Cron")
RESOURCES = ("Item", "Dataset", "Annotation", "Task", "Assignment", "ItemStatus", "Model", "Execution", "PipelineExecution")
ACTIONS = ("Created", "Updated", "Deleted", "statusChanged", "Clone")
EXECUTION_MODES = ("Once", "Always")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?#LW-]{1,64}")


def _cron(value: Any) -> str:
    if not isinstance(value, str) or not 5 <= len(value.split()) <= 6 or not all(_CRON_FIELD.fullmatch(f) for f in value.split()):
        raise BadRequest(f"Invalid trigger.spec.cron {str(value)[:60]!r}: a cron expression of 5 or 6 fields is required")
    return " ".join(value.split())


def _operation(db: Db, value: Any, project_id: str) -> tuple[dict[str, Any], str | None, str | None]:
    """The operation, and the service or pipeline it runs (checked to be in the project)."""
    if not isinstance(value, dict):
        raise BadRequest("Missing trigger.spec.operation: {type: function, serviceId, functionName} or {type: pipeline, id}")
    kind = str_field(value, "type", "trigger.spec.operation", choices=("function", "pipeline", "webhook", "rabbitmq")) \
        or "function"
    op = copy.deepcopy(value)
    op["type"] = kind
    if kind == "function":
        service_id = str_field(value, "serviceId", "trigger.spec.operation", required=True, max_len=100)
        row = db.one("SELECT doc FROM dl_services WHERE id = ? AND project_id = ?", (service_id, project_id))
        if row is None:
            raise BadRequest("Invalid trigger.spec.operation.serviceId: no such service in the trigger's project")
        op["functionName"] = str_field(value, "functionName", "trigger.spec.operation", max_len=200) or "run"
        return op, service_id, None
    if kind == "pipeline":
        pipeline_id = str_field(value, "id", "trigger.spec.operation", required=True, max_len=100)
        if db.scalar("SELECT 1 FROM dl_pipelines WHERE id = ? AND project_id = ?", (pipeline_id, project_id)) is None:
            raise BadRequest("Invalid trigger.spec.operation.id: no such pipeline in the trigger's project")
        return op, None, pipeline_id
    raise BadRequest(f"Unsupported trigger operation type {kind!r} in the sandbox: use function or pipeline")


def _spec(db: Db, kind: str, given: Any, current: dict[str, Any] | None, project_id: str) -> tuple[dict[str, Any], str | None,
                                                                                                     str | None]:
    if not isinstance(given, dict):
        raise BadRequest("Invalid trigger.spec: expected an object")
    what = "trigger.spec"
    spec = copy.deepcopy(current) if current else {}
    spec.update(copy.deepcopy(given))
    spec["input"] = dict_field(spec, "input", what) or {}
    if kind == "Cron":
        spec["cron"] = _cron(spec.get("cron"))
        for key in ("startAt", "endAt"):
            str_field(spec, key, what, max_len=64)
            spec.setdefault(key, None)
        for key in ("filter", "resource", "actions", "executionMode"):
            spec.pop(key, None)
    else:
        spec["resource"] = str_field(spec, "resource", what, choices=RESOURCES) or "Item"
        actions = spec.get("actions")
        actions = [actions] if isinstance(actions, str) else actions
        spec["actions"] = list_field({"actions": actions}, "actions", what, of=str, max_len=10) or ["Created"]
        for action in spec["actions"]:
            if action not in ACTIONS:
                raise BadRequest(f"Invalid trigger.spec.actions entry {action[:40]!r}: expected one of {', '.join(ACTIONS)}")
        spec["executionMode"] = str_field(spec, "executionMode", what, choices=EXECUTION_MODES) or "Once"
        spec["filter"] = dict_field(spec, "filter", what) or {}
        for key in ("cron", "startAt", "endAt"):
            spec.pop(key, None)
    operation, service_id, pipeline_id = _operation(db, spec.get("operation"), project_id)
    spec["operation"] = operation
    return spec, service_id, pipeline_id


@router.post("/triggers")
async def create_trigger(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "trigger")
    kind = str_field(body, "type", "trigger", choices=TYPES) or "Event"
    project_id = str_field(body, "projectId", "trigger", required=True, max_len=100)
    active = bool_field(body, "active", "trigger")
    name = name_field(body, "name", "trigger", required=False)
    scope = str_field(body, "scope", "trigger", choices=("project",))
    with store_of(request).tx() as db:
        project, _ = project_of(db, check_id(project_id, "Project"), principal, need=WRITERS)
        spec, service_id, pipeline_id = _spec(db, kind, body.get("spec"), None, project["id"])
        if name is None:
            name = "defaulttrigger"
            if service_id is not None:
                name = db.scalar("SELECT name FROM dl_services WHERE id = ?", (service_id,))
        check_unique(request, db, "triggers", project["id"], name)
        trigger_id = new_id()
        stamp = iso_now()
        doc = {"id": trigger_id, "name": name, "type": kind, "active": True if active is None else active,
               "projectId": project["id"], "orgId": project["org_id"], "scope": scope or "project", "global": False,
               "creator": principal.email, "url": api_url(request, f"/triggers/{trigger_id}"), "spec": spec,
               "createdAt": stamp, "updatedAt": stamp}
        insert(db, "triggers", doc, service_id=service_id, pipeline_id=pipeline_id)
        return reply(doc)


@router.get("/triggers/{trigger_id}")
def get_trigger(trigger_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        _, doc = load(db, "triggers", trigger_id, principal)
        return reply(doc)


@router.patch("/triggers/{trigger_id}")
async def update_trigger(trigger_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "trigger")
    name = name_field(body, "name", "trigger", required=False)
    active = bool_field(body, "active", "trigger")
    kind = str_field(body, "type", "trigger", choices=TYPES)
    with store_of(request).tx() as db:
        row, doc = load(db, "triggers", trigger_id, principal, write=True)
        if kind is not None and kind != doc["type"]:
            raise BadRequest(f"A trigger's type cannot change ({doc['type']} to {kind}): create a new trigger")
        service_id, pipeline_id = row["service_id"], row["pipeline_id"]
        if body.get("spec") is not None:
            doc["spec"], service_id, pipeline_id = _spec(db, doc["type"], body["spec"], doc["spec"], row["project_id"])
        if name is not None and name != doc["name"]:
            check_unique(request, db, "triggers", row["project_id"], name, row["id"])
            doc["name"] = name
        if active is not None:
            doc["active"] = active
        doc["updatedAt"] = iso_now()
        save(db, "triggers", doc, service_id=service_id, pipeline_id=pipeline_id)
        return reply(doc)


@router.delete("/triggers/{trigger_id}")
def delete_trigger(trigger_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row, _ = load(db, "triggers", trigger_id, principal, write=True)
        db.execute("DELETE FROM dl_triggers WHERE id = ?", (row["id"],))
    return no_content()
