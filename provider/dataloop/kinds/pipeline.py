"""Kind `pipeline`: a Dataloop pipeline (nodes, the connections between their ports, the node
it starts at) and whether it is installed (running).

    [pipeline.ingest]
    project = "vision-prod"
    description = "new images to the detector"
    installed = true
    start_node = "incoming"              # the first node unless it says otherwise
    [[pipeline.ingest.nodes]]
    name = "incoming"
    type = "storage"
    namespace = { function_name = "dataset_handler", project_name = "DataloopTasks", service_name = "pipeline-utils" }
    outputs = [{ name = "item", type = "Item" }]
    metadata = { datasetId = "973e0c1e2a3b4c5d6e7f8091" }
    [[pipeline.ingest.nodes]]
    name = "detect"
    type = "function"
    namespace = { function_name = "run", service_name = "detector", module_name = "default_module" }
    inputs = [{ name = "item", type = "Item" }]
    [[pipeline.ingest.connections]]
    source = "incoming"                  # ports default to the node's only output / input
    target = "detect"

Node and port ids are the client's on Dataloop (UUIDs, contract §1.0), so platforge makes them:
a new node's id is a UUID5 of the project, the pipeline and the node's name, a port's a UUID5 of
its node's id, its direction and its name; a node or port that already exists keeps its id (a
rename of the pipeline does not renumber its nodes, and runs keep pointing at the same nodes),
and so does its place on the canvas (`metadata.position`, which the UI owns and is never
compared). Nodes compare by name and connections by their link (`incoming:item -> detect:item`),
so order is no difference (`incoming:item -> detect:item`); namespace and metadata keys a stack does not declare are Dataloop's
(undeclared keys are not compared), while every node and connection is the stack's: one added in
the UI is drift. `installed` is the desired state: `POST …/install` or `…/uninstall`.

Dataloop does not say whether an installed pipeline may be changed (contract §5.6), and the UI
pauses it first, so an update of an installed pipeline uninstalls it, PATCHes it, and installs it
again (when it is to stay installed). The listing is `POST /pipelines/query`, every page of it.
"""

from __future__ import annotations

import builtins
import copy
import json
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from platforge.core.kind import Context, Kind
from platforge.core.model import Created, LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import ANY, Collection, FieldRule
from platforge.core.schema import Name, StrictBool, expects

from .common import (
    LIST_PAGE_SIZE,
    DlName,
    FreshReads,
    NodeName,
    ProjectScoped,
    QueriedAcrossProjects,
    ReadsById,
    Spec,
    cached,
    client,
    forget,
    from_wire,
    ignore_missing,
    project_id,
    project_ref,
    required_project_id,
    to_wire,
)

NodeType = Literal["code", "function", "task", "merge", "split", "ml", "storage", "api", "custom", "updateVariable"]
NAMESPACE = ("function_name", "service_name", "module_name", "package_name", "project_name")
#: Pipeline statuses in which it runs (contract §1.1 CompositionStatus).
RUNNING = frozenset({"Installed", "Activated", "Initializing", "Reconfiguring", "Updating"})
#: The UUID5 namespace of platforge's pipeline node and port ids.
NODE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://platforge.dev/dataloop/pipeline-node")
#: Where new nodes go on the canvas: a row, left to right.
COLUMN_WIDTH = 300.0
ROW_Y = 200.0
#: Pipeline fields written by a PATCH (the rest are written by install/uninstall).
DOCUMENT_FIELDS = frozenset({"name", "description", "nodes", "connections", "start_node"})


class PortSpec(Spec):
    name: NodeName
    type: Name = "Item"


class NamespaceSpec(Spec):
    function_name: DlName | None = None
    service_name: DlName | None = None
    module_name: DlName | None = None
    package_name: DlName | None = None
    project_name: DlName | None = None


class NodeSpec(Spec):
    name: NodeName
    type: NodeType
    namespace: NamespaceSpec | None = None
    inputs: list[PortSpec] = Field(default_factory=list)
    outputs: list[PortSpec] = Field(default_factory=list)
    metadata: dict[str, Any] | None = Field(default=None, json_schema_extra=expects("a table of node metadata"))

    @model_validator(mode="after")
    def _ports_unique(self) -> NodeSpec:
        for direction in ("inputs", "outputs"):
            names = [p.name for p in getattr(self, direction)]
            if len(names) != len(set(names)):
                raise ValueError(f"node {self.name}: two {direction} share a name")
        if self.metadata and "position" in self.metadata:
            raise ValueError(f"node {self.name}: metadata.position is the canvas layout, kept by Dataloop's UI; "
                             "leave it out")
        return self


class ConnectionSpec(Spec):
    source: NodeName
    target: NodeName
    source_port: NodeName | None = None
    target_port: NodeName | None = None
    action: DlName | None = None
    condition: dict[str, Any] | None = Field(default=None, json_schema_extra=expects("a DQL condition table"))


class PipelineSpec(Spec):
    project: DlName
    name: DlName
    description: str | None = Field(default=None, strict=True)
    installed: StrictBool | None = None
    start_node: NodeName | None = None
    nodes: list[NodeSpec] = Field(min_length=1, json_schema_extra=expects("a list of node tables"))
    connections: list[ConnectionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSpec:
        nodes = {n.name: n for n in self.nodes}
        if len(nodes) != len(self.nodes):
            raise ValueError("two nodes share a name: node names identify nodes")
        if self.start_node is not None and self.start_node not in nodes:
            raise ValueError(f"start_node {self.start_node!r} is not a node of this pipeline")
        for c in self.connections:
            for end, node_name, port, direction in (("source", c.source, c.source_port, "outputs"),
                                                    ("target", c.target, c.target_port, "inputs")):
                node = nodes.get(node_name)
                if node is None:
                    raise ValueError(f"connection {c.source} -> {c.target}: no node {node_name!r}")
                ports = [p.name for p in getattr(node, direction)]
                if port is None and len(ports) != 1:
                    raise ValueError(f"connection {c.source} -> {c.target}: node {node_name} has {len(ports)} "
                                     f"{direction}; name the {end}_port")
                if port is not None and port not in ports:
                    raise ValueError(f"connection {c.source} -> {c.target}: node {node_name} has no {direction[:-1]} "
                                     f"{port!r}")
        links = [item["link"] for item in _canonical_connections(self)]
        if len(links) != len(set(links)):
            raise ValueError("two connections join the same ports: each link is declared once")
        return self


def node_id(project: str, pipeline: str, node: str) -> str:
    """A new node's id: the same for the same project, pipeline and node name, every time."""
    return str(uuid.uuid5(NODE_NAMESPACE, f"{project}/{pipeline}/{node}"))


def port_id(node: str, direction: str, port: str) -> str:
    return str(uuid.uuid5(NODE_NAMESPACE, f"{node}/{direction}/{port}"))


def link(source: str, source_port: str, target: str, target_port: str) -> dict[str, str]:
    """A connection's ends, and the key it is compared by (without dots: keys are field paths)."""
    return {"link": f"{source}:{source_port} -> {target}:{target_port}", "source": source, "source_port": source_port,
            "target": target, "target_port": target_port}


def _canonical_connections(model: PipelineSpec) -> list[dict[str, Any]]:
    nodes = {n.name: n for n in model.nodes}
    out = []
    for c in model.connections:
        source_port = c.source_port or nodes[c.source].outputs[0].name
        target_port = c.target_port or nodes[c.target].inputs[0].name
        item: dict[str, Any] = link(c.source, source_port, c.target, target_port)
        if c.action is not None:
            item["action"] = c.action
        if c.condition is not None:
            item["condition"] = c.condition
        out.append(item)
    return sorted(out, key=lambda i: i["link"])


def _canonical_node(node: NodeSpec) -> dict[str, Any]:
    item: dict[str, Any] = {"name": node.name, "type": node.type,
                            "inputs": [{"name": p.name, "type": p.type} for p in node.inputs],
                            "outputs": [{"name": p.name, "type": p.type} for p in node.outputs]}
    if node.namespace is not None:
        item["namespace"] = node.namespace.model_dump(exclude_none=True)
    if node.metadata is not None:
        item["metadata"] = node.metadata
    return item


def _ports(node: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    return [p for p in node.get(direction) or () if isinstance(p, dict)]


def _condition(value: Any) -> Any:
    """A connection's condition is a JSON string on the wire (contract §1.2)."""
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except ValueError:
            return value
    return value if value is not None else {}


def live_fields(scope: str, row: dict[str, Any]) -> dict[str, Any]:
    """A pipeline document in the stack's terms: nodes by name, connections by link."""
    nodes = [n for n in row.get("nodes") or () if isinstance(n, dict)]
    names = {n.get("id"): n.get("name") for n in nodes}
    port_names = {(n.get("id"), p.get("portId")): p.get("name")
                  for n in nodes for direction in ("inputs", "outputs") for p in _ports(n, direction)}
    out_nodes = []
    for n in nodes:
        item: dict[str, Any] = {"name": n.get("name"), "type": n.get("type"),
                                "inputs": [{"name": p.get("name"), "type": p.get("type")} for p in _ports(n, "inputs")],
                                "outputs": [{"name": p.get("name"), "type": p.get("type")} for p in _ports(n, "outputs")]}
        if isinstance(n.get("namespace"), dict):
            item["namespace"] = from_wire(n["namespace"], NAMESPACE)
        metadata = n.get("metadata")
        if isinstance(metadata, dict):
            item["metadata"] = {k: v for k, v in metadata.items() if k != "position"}
        out_nodes.append(item)
    connections = []
    for c in row.get("connections") or ():
        if not isinstance(c, dict):
            continue
        src, tgt = c.get("src") or {}, c.get("tgt") or {}
        connection: dict[str, Any] = link(str(names.get(src.get("nodeId"), src.get("nodeId"))),
                                    str(port_names.get((src.get("nodeId"), src.get("portId")), src.get("portId"))),
                                    str(names.get(tgt.get("nodeId"), tgt.get("nodeId"))),
                                    str(port_names.get((tgt.get("nodeId"), tgt.get("portId")), tgt.get("portId"))))
        if c.get("action") is not None:
            connection["action"] = c["action"]
        connection["condition"] = _condition(c.get("condition"))
        connections.append(connection)
    roots = [s for s in row.get("startNodes") or () if isinstance(s, dict) and s.get("type", "root") == "root"]
    return {"project": scope, "name": row.get("name"), "description": row.get("description"),
            "installed": row.get("status") in RUNNING, "start_node": names.get(roots[0].get("nodeId")) if roots else None,
            "nodes": out_nodes, "connections": sorted(connections, key=lambda i: i["link"])}


class PipelineKind(QueriedAcrossProjects, ReadsById, ProjectScoped, FreshReads, Kind):
    name = "pipeline"
    spec_model = PipelineSpec
    identity_fields = ("project", "name")
    list_page_size = LIST_PAGE_SIZE
    identified_by_id = True
    field_rules = {
        "nodes": FieldRule(collection=Collection.KEYED, key="name", document=True, server_defaults={
            "*.namespace": ANY, "*.namespace.*": ANY, "*.metadata": ANY, "*.metadata.*": ANY}),
        "connections": FieldRule(collection=Collection.KEYED, key="link", server_defaults={
            "*.action": ANY, "*.condition": {}}),
    }

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return (f"pipelines:{identity[0]}",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model: PipelineSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        spec["nodes"] = [_canonical_node(n) for n in sorted(model.nodes, key=lambda n: n.name)]
        spec["connections"] = _canonical_connections(model)
        spec["start_node"] = model.start_node or model.nodes[0].name
        return spec

    def references(self, model: PipelineSpec) -> list[Ref]:  # type: ignore[override]
        return project_ref(model.project)

    def declaration_of(self, live: LiveObject, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        """Connections as a stack writes them: their ends, without the `link` they are compared
        by (made from the ends) and without an empty condition."""
        declaration = super().declaration_of(live, settings)
        if declaration is None:
            return None
        connections = [{k: v for k, v in c.items() if k != "link" and not (k == "condition" and v in ({}, None))}
                       for c in live.fields.get("connections") or () if isinstance(c, Mapping)]
        if connections:
            declaration["connections"] = connections
        return declaration

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        if scope is None:
            return []
        pid = project_id(ctx, scope)
        if pid is None:
            return []
        rows = cached(ctx, f"pipelines:{scope}", lambda: client(ctx).list_pipelines(pid))
        return self.lives(ctx, scope, rows)

    listing_key = "pipelines"

    def query_projects(self, ctx: Context, project_ids: builtins.list[str]) -> builtins.list[dict[str, Any]]:
        return client(ctx).list_pipelines_in(project_ids)

    def fetch_one(self, ctx: Context, platform_id: str) -> dict[str, Any]:
        return client(ctx).get_pipeline(platform_id)

    def lives(self, ctx: Context, scope: Any, rows: builtins.list[dict[str, Any]]) -> builtins.list[LiveObject]:
        return [LiveObject(kind=self.name, identity=(scope, row["name"]), fields=live_fields(scope, row),
                           platform_id=row["id"], extra={"document": row})
                for row in rows if row.get("id") and isinstance(row.get("name"), str)]

    # ---- the document ----------------------------------------------------------------------

    def document(self, spec: dict[str, Any], pid: str, live: dict[str, Any] | None) -> dict[str, Any]:
        """The nodes, connections and start node as Dataloop takes them, keeping the ids and
        canvas positions of the nodes and ports that exist already."""
        live_nodes = {n.get("name"): n for n in (live or {}).get("nodes") or () if isinstance(n, dict)}
        nodes, ids, ports = [], {}, {}
        for index, node in enumerate(spec["nodes"]):
            old = live_nodes.get(node["name"]) or {}
            nid = str(old.get("id") or node_id(spec["project"], spec["name"], node["name"]))
            ids[node["name"]] = nid
            wire: dict[str, Any] = {"id": nid, "name": node["name"], "type": node["type"], "projectId": pid,
                                    "namespace": {**(old.get("namespace") or {}), **to_wire(node.get("namespace") or {})}}
            for direction in ("inputs", "outputs"):
                old_ports = {p.get("name"): p for p in _ports(old, direction)}
                wire[direction] = []
                for port in node[direction]:
                    pid_ = str(old_ports.get(port["name"], {}).get("portId") or port_id(nid, direction, port["name"]))
                    ports[(node["name"], direction, port["name"])] = pid_
                    wire[direction].append({"portId": pid_, "name": port["name"], "type": port["type"],
                                            "displayName": port["name"]})
            metadata = dict(old.get("metadata") or {}) if isinstance(old.get("metadata"), dict) else {}
            metadata.update(copy.deepcopy(node.get("metadata") or {}))
            metadata.setdefault("position", {"x": COLUMN_WIDTH * index + 100.0, "y": ROW_Y, "z": 0})
            wire["metadata"] = metadata
            nodes.append(wire)
        connections = []
        for c in spec["connections"]:
            source_node, source_port, target_node, target_port = (c["source"], c["source_port"], c["target"],
                                                                   c["target_port"])
            item = {"src": {"nodeId": ids[source_node], "portId": ports[(source_node, "outputs", source_port)]},
                    "tgt": {"nodeId": ids[target_node], "portId": ports[(target_node, "inputs", target_port)]},
                    "condition": json.dumps(c.get("condition") or {}, sort_keys=True)}
            if c.get("action") is not None:
                item["action"] = c["action"]
            connections.append(item)
        start = ids[spec["start_node"]]
        return {"nodes": nodes, "connections": connections,
                "startNodes": [{"id": str(uuid.uuid5(NODE_NAMESPACE, f"{start}/start")), "nodeId": start,
                                "type": "root"}]}

    # ---- writes ----------------------------------------------------------------------------

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        pid = required_project_id(ctx, spec["project"])
        api = client(ctx)
        body = {"name": spec["name"], "projectId": pid, "variables": [], **self.document(spec, pid, None)}
        if spec.get("description") is not None:
            body["description"] = spec["description"]
        created = api.create_pipeline(body)
        pipeline_id = str(created["id"])
        if spec.get("installed"):
            api.install_pipeline(pipeline_id)
        forget(ctx, f"pipelines:{spec['project']}")
        return Created(platform_id=pipeline_id)

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        """Uninstall, PATCH, install again: an installed pipeline is never changed in place."""
        spec = resource.spec
        api = client(ctx)
        document = live.extra.get("document") or {}
        running = bool(live.fields.get("installed"))
        wanted = bool(spec.get("installed", running))
        if changed & DOCUMENT_FIELDS:
            if running:
                api.uninstall_pipeline(live.platform_id)
                running = False
            pid = str(document.get("projectId") or required_project_id(ctx, spec["project"]))
            body: dict[str, Any] = {"name": spec["name"], **self.document(spec, pid, document)}
            if spec.get("description") is not None:
                body["description"] = spec["description"]
            api.patch_pipeline(live.platform_id, body)
        if wanted and not running:
            api.install_pipeline(live.platform_id)
        elif running and not wanted:
            api.uninstall_pipeline(live.platform_id)
        forget(ctx, f"pipelines:{spec['project']}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is None:
            return
        api = client(ctx)
        if live is not None and live.fields.get("installed"):
            ignore_missing(lambda: api.uninstall_pipeline(platform_id))
        ignore_missing(lambda: api.delete_pipeline(platform_id))
        forget(ctx, f"pipelines:{ref.identity[0]}")


__all__ = ["PipelineKind", "live_fields", "node_id", "port_id"]
