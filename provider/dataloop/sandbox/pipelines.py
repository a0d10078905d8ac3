"""Pipelines: nodes, connections, start nodes, variables, settings, install state (contract §1.2
Pipeline, §2.6, §3.4 items 8-9, §5.4-6).

- Nodes keep every field a client sends; each gets an `id` (client UUIDs are kept), a `type` from
  dtlpy's list, and `metadata.position` (`PipelineNode.from_json` reads it without a default).
  Ports get a `portId`. Connections and start nodes must name nodes of the pipeline (400
  otherwise); `connection.condition` is always a JSON string (`"{}"` by default, an object is
  encoded).
- Variables go through `PATCH /pipelines/{id}/variables` (or with the pipeline); each gets an `id`
  and `reference` = the pipeline.
- Settings: only well-typed values are taken (`keepTriggersActive` and `activeTriggerAskAgain`
  booleans, `defaultResumeOption` one of dtlpy's two), so the string that dtlpy's
  `PipelineSettings.to_json()` bug puts in every key is ignored instead of stored (§3.4 item 8).
  `PATCH /pipelines/{id}/settings` is accepted too (§5.5).
- `status` is `Created`, `Installed` after `/install`, `Uninstalled` after `/uninstall`. A PATCH is
  allowed in any state (§5.6): the provider uninstalls first anyway.
- `DELETE` answers 200 `{}` (§5.4) and takes the triggers that run the pipeline with it.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from .access import WRITERS, check_id, project_of
from .auth import Principal, current
from .dql import parse_query
from .errors import BadRequest
from .objects import check_unique, insert, load, query_page, save
from .store import iso_now, new_id, store_of
from .urls import api_url
from .wire import dict_field, json_body, list_field, name_field, obj, reply, str_field

__all__ = ["router"]

router = APIRouter(tags=["pipelines"])

NODE_TYPES = ("code", "function", "task", "merge", "split", "ml", "storage", "api", "custom", "updateVariable")
START_TYPES = ("root", "trigger")
RESUME_OPTIONS = ("terminateExistingCycles", "resumeExistingCycles")
MAX_NODES = 200


def _uid(value: Any) -> str:
    return value if isinstance(value, str) and 0 < len(value) <= 100 else str(uuid.uuid4())


def _ports(node: dict[str, Any], key: str) -> list[dict[str, Any]]:
    ports = list_field(node, key, "pipeline.nodes[]", of=dict, max_len=100) or []
    return [{**p, "portId": _uid(p.get("portId"))} for p in ports]


def _nodes(value: Any, project_id: str) -> list[dict[str, Any]]:
    nodes = list_field({"nodes": value}, "nodes", "pipeline", of=dict, max_len=MAX_NODES) or []
    out = []
    seen: set[str] = set()
    for raw in nodes:
        node = copy.deepcopy(raw)
        node["id"] = _uid(node.get("id"))
        if node["id"] in seen:
            raise BadRequest(f"Invalid pipeline.nodes: node id {node['id']!r} appears twice")
        seen.add(node["id"])
        node["type"] = str_field(node, "type", "pipeline.nodes[]", choices=NODE_TYPES) or "code"
        node["name"] = str_field(node, "name", "pipeline.nodes[]", max_len=256) or node["type"]
        node["projectId"] = str_field(node, "projectId", "pipeline.nodes[]", max_len=100) or project_id
        dict_field(node, "namespace", "pipeline.nodes[]")
        node["inputs"] = _ports(node, "inputs")
        node["outputs"] = _ports(node, "outputs")
        metadata = dict_field(node, "metadata", "pipeline.nodes[]") or {}
        position = metadata.get("position")
        if not isinstance(position, dict) or not all(isinstance(position.get(k), (int, float)) and
                                                     not isinstance(position.get(k), bool) for k in ("x", "y")):
            position = {"x": 0.0, "y": 0.0, "z": 0}
        node["metadata"] = {**metadata, "position": position}
        out.append(node)
    return out


def _endpoint(value: Any, where: str, node_ids: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("nodeId") not in node_ids:
        raise BadRequest(f"Invalid {where}: nodeId must name a node of the pipeline")
    return copy.deepcopy(value)


def _connections(value: Any, node_ids: set[str]) -> list[dict[str, Any]]:
    connections = list_field({"connections": value}, "connections", "pipeline", of=dict, max_len=MAX_NODES * 4) or []
    out = []
    for raw in connections:
        connection = copy.deepcopy(raw)
        connection["src"] = _endpoint(raw.get("src"), "pipeline.connections[].src", node_ids)
        connection["tgt"] = _endpoint(raw.get("tgt"), "pipeline.connections[].tgt", node_ids)
        condition = raw.get("condition")
        if condition is None:
            condition = "{}"
        elif isinstance(condition, dict):
            condition = json.dumps(condition)
        elif not isinstance(condition, str):
            raise BadRequest("Invalid pipeline.connections[].condition: a JSON string or object")
        connection["condition"] = condition
        out.append(connection)
    return out


def _start_nodes(value: Any, node_ids: set[str]) -> list[dict[str, Any]]:
    starts = list_field({"startNodes": value}, "startNodes", "pipeline", of=dict, max_len=MAX_NODES) or []
    out = []
    for raw in starts:
        start = _endpoint(raw, "pipeline.startNodes[]", node_ids)
        start["id"] = _uid(start.get("id"))
        start["type"] = str_field(start, "type", "pipeline.startNodes[]", choices=START_TYPES) or "root"
        dict_field(start, "trigger", "pipeline.startNodes[]")
        out.append(start)
    return out


def _variables(value: Any, pipeline_id: str, creator: str) -> list[dict[str, Any]]:
    variables = list_field({"variables": value}, "variables", "pipeline", of=dict, max_len=500) or []
    out = []
    for raw in variables:
        variable = copy.deepcopy(raw)
        str_field(variable, "name", "pipeline.variables[]", required=True, max_len=256)
        str_field(variable, "type", "pipeline.variables[]", max_len=100)
        variable["id"] = _uid(variable.get("id"))
        variable["reference"] = pipeline_id
        variable.setdefault("creator", creator)
        out.append(variable)
    return out


def _settings(value: Any, current: dict[str, Any], email: str) -> dict[str, Any]:
    if value is None:
        return current
    if not isinstance(value, dict):
        raise BadRequest("Invalid pipeline.settings: expected an object")
    out = dict(current)
    for key in ("keepTriggersActive", "activeTriggerAskAgain"):
        if isinstance(value.get(key), bool):
            out[key] = value[key]
    if value.get("defaultResumeOption") in RESUME_OPTIONS:
        out["defaultResumeOption"] = value["defaultResumeOption"]
    if out != current:
        out["lastUpdate"] = {"updatedAt": iso_now(), "updatedBy": email}
    return out


def _graph(doc: dict[str, Any], body: dict[str, Any]) -> None:
    """Nodes, connections and start nodes from `body` (each kept when absent), checked together."""
    if "nodes" in body:
        doc["nodes"] = _nodes(body["nodes"], doc["projectId"])
    node_ids = {n["id"] for n in doc["nodes"]}
    doc["connections"] = _connections(body.get("connections", doc["connections"]), node_ids)
    doc["startNodes"] = _start_nodes(body.get("startNodes", doc["startNodes"]), node_ids)


@router.post("/pipelines")
async def create_pipeline(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "pipeline")
    name = name_field(body, "name", "pipeline")
    project_id = str_field(body, "projectId", "pipeline", required=True, max_len=100)
    description = str_field(body, "description", "pipeline", max_len=10_000) or ""
    preview = str_field(body, "preview", "pipeline", max_len=100_000) or ""
    with store_of(request).tx() as db:
        project, _ = project_of(db, check_id(project_id, "Project"), principal, need=WRITERS)
        check_unique(request, db, "pipelines", project["id"], name)
        pipeline_id = new_id()
        stamp = iso_now()
        doc: dict[str, Any] = {
            "id": pipeline_id, "name": name, "projectId": project["id"], "orgId": project["org_id"],
            "creator": principal.email, "status": "Created", "compositionId": new_id(), "description": description,
            "preview": preview, "url": api_url(request, f"/pipelines/{pipeline_id}"), "createdAt": stamp,
            "updatedAt": stamp, "updatedBy": principal.email, "nodes": [], "connections": [], "startNodes": [],
            "variables": [], "settings": {"defaultResumeOption": "terminateExistingCycles", "keepTriggersActive": False,
                                          "activeTriggerAskAgain": True,
                                          "lastUpdate": {"updatedAt": stamp, "updatedBy": principal.email}}}
        _graph(doc, body)
        doc["variables"] = _variables(body.get("variables"), pipeline_id, principal.email)
        doc["settings"] = _settings(body.get("settings"), doc["settings"], principal.email)
        insert(db, "pipelines", doc)
        return reply(doc)


@router.post("/pipelines/query")
async def query_pipelines(request: Request, principal: Principal = Depends(current)) -> Any:
    query = parse_query(await json_body(request), ("pipeline", "pipelines"))
    with store_of(request).read() as db:
        return reply(query_page(db, "pipelines", principal, query))


@router.get("/pipelines/{pipeline_id}")
def get_pipeline(pipeline_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        _, doc = load(db, "pipelines", pipeline_id, principal)
        return reply(doc)


async def _patch(pipeline_id: str, request: Request, principal: Principal, *, only: str | None = None) -> Any:
    body = obj(await json_body(request), "pipeline")
    if only == "settings":
        body = {"settings": body.get("settings", body)}
    elif only == "variables":
        body = {"variables": body.get("variables")}
    name = name_field(body, "name", "pipeline", required=False)
    description = str_field(body, "description", "pipeline", max_len=10_000)
    with store_of(request).tx() as db:
        row, doc = load(db, "pipelines", pipeline_id, principal, write=True)
        if name is not None and name != doc["name"]:
            check_unique(request, db, "pipelines", row["project_id"], name, row["id"])
            doc["name"] = name
        if description is not None:
            doc["description"] = description
        _graph(doc, body)
        if "variables" in body:
            doc["variables"] = _variables(body["variables"], doc["id"], principal.email)
        doc["settings"] = _settings(body.get("settings"), doc["settings"], principal.email)
        doc["updatedAt"] = iso_now()
        doc["updatedBy"] = principal.email
        save(db, "pipelines", doc)
        return reply(doc)


@router.patch("/pipelines/{pipeline_id}")
async def update_pipeline(pipeline_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return await _patch(pipeline_id, request, principal)


@router.patch("/pipelines/{pipeline_id}/variables")
async def update_variables(pipeline_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return await _patch(pipeline_id, request, principal, only="variables")


@router.patch("/pipelines/{pipeline_id}/settings")
async def update_settings(pipeline_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return await _patch(pipeline_id, request, principal, only="settings")


async def _set_status(pipeline_id: str, request: Request, principal: Principal, status: str) -> Any:
    body = obj(await json_body(request), "pipeline", empty_ok=True)
    str_field(body, "resumeOption", "pipeline", choices=RESUME_OPTIONS)
    with store_of(request).tx() as db:
        _, doc = load(db, "pipelines", pipeline_id, principal, write=True)
        doc["status"] = status
        doc["updatedAt"] = iso_now()
        save(db, "pipelines", doc)
        return reply(doc)


@router.post("/pipelines/{pipeline_id}/install")
async def install(pipeline_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return await _set_status(pipeline_id, request, principal, "Installed")


@router.post("/pipelines/{pipeline_id}/uninstall")
async def uninstall(pipeline_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return await _set_status(pipeline_id, request, principal, "Uninstalled")


@router.delete("/pipelines/{pipeline_id}")
def delete_pipeline(pipeline_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row, _ = load(db, "pipelines", pipeline_id, principal, write=True)
        db.execute("DELETE FROM dl_pipelines WHERE id = ?", (row["id"],))
    return reply({})
