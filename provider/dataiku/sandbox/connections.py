"""Connections (`/admin/connections/`) and the instance variables (`/admin/variables/`):
contract §1.2 Connection and InstanceVariables, §2.2, §2.3.

A connection's secret parameters are write-only: GET answers them in an "encrypted form"
(`docs.seal`), which a client PUTs back unchanged to keep the secret. `usableBy`/`allowedGroups`
say who may use the connection and `detailsReadability` who may read its details; the sandbox
checks their shape and applies `usableBy` to `/connections/get-names`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from .auth import Principal, current, require_admin
from .docs import bool_field, check_object, dict_field, int_field, route, seal, str_field, str_list_field
from .errors import BadRequest, Conflict, NotFound
from .store import Db, doc_of, now_ms, store_of, text_of
from .wire import json_body, msg, name_of, reply

__all__ = ["router", "seed"]

USABLE_BY = ("ALL", "ALLOWED")
READABLE_BY = ("NONE", "ALL", "ALLOWED")
VARIABLES = "instance-variables"

router = APIRouter(tags=["connections and variables"])


def _connection_or_404(db: Db, name: str) -> dict[str, Any]:
    row = db.one("SELECT doc FROM dss_connections WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"Connection {name} not found")
    doc: dict[str, Any] = doc_of(row["doc"])
    return doc


def _check(doc: dict[str, Any], what: str) -> dict[str, Any]:
    str_field(doc, "description", what)
    str_field(doc, "usableBy", what, choices=USABLE_BY, nullable=False)
    str_list_field(doc, "allowedGroups", what)
    for name in ("allowWrite", "allowManagedDatasets", "allowManagedFolders", "allowKnowledgeBanks", "useGlobalProxy"):
        bool_field(doc, name, what)
    int_field(doc, "maxActivities", what, low=0, nullable=False)
    str_field(doc, "credentialsMode", what, nullable=False)
    readability = dict_field(doc, "detailsReadability", what)
    if readability is not None:
        str_field(readability, "readableBy", f"{what}.detailsReadability", choices=READABLE_BY, nullable=False)
        str_list_field(readability, "allowedGroups", f"{what}.detailsReadability")
    params = dict_field(doc, "params", what)
    out = dict(doc)
    if params is not None:
        out["params"] = seal(params)
    return out


def _tag(login: str, version: int) -> dict[str, Any]:
    return {"versionNumber": version, "lastModifiedBy": {"login": login}, "lastModifiedOn": now_ms()}


@route(router, "GET", "/admin/connections/")
def list_connections(request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "list connections")
    with store_of(request).read() as db:
        rows = db.all("SELECT name, doc FROM dss_connections ORDER BY name")
    return reply({row["name"]: doc_of(row["doc"]) for row in rows})


@route(router, "POST", "/admin/connections/")
def create_connection(request: Request, body: Any = Depends(json_body), principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "create connections")
    what = "connection"
    body = check_object(body, what)
    name = name_of(body.get("name"), "connection name")
    kind = str_field(body, "type", what, optional=False, nullable=False)
    if not kind.strip():
        raise BadRequest("Invalid connection.type: must not be empty")
    checked = _check(body, what)
    doc = {"name": name, "type": kind, "description": None, "params": {}, "allowWrite": True,
           "allowManagedDatasets": True, "allowManagedFolders": True, "allowKnowledgeBanks": True,
           "useGlobalProxy": True, "maxActivities": 0, "customFields": {}, "credentialsMode": "GLOBAL",
           "usableBy": "ALL", "allowedGroups": [], "detailsReadability": {"readableBy": "NONE", "allowedGroups": []},
           "indexingSettings": {"indexIndices": False, "indexForeignKeys": False, "indexSystemTables": False},
           **{k: v for k, v in checked.items() if v is not None}}
    doc["creationTag"] = _tag(principal.identity, 0)
    with store_of(request).tx() as db:
        if db.scalar("SELECT 1 FROM dss_connections WHERE name = ?", (name,)) is not None:
            raise Conflict(f"Connection already exists: {name}")
        db.execute("INSERT INTO dss_connections(name, type, doc) VALUES (?, ?, ?)", (name, kind, text_of(doc)))
    return msg(f"Created connection {name}")


@route(router, "GET", "/admin/connections/{name}")
def get_connection(name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "read connection settings")
    with store_of(request).read() as db:
        return reply(_connection_or_404(db, name))


@route(router, "PUT", "/admin/connections/{name}")
def save_connection(name: str, request: Request, body: Any = Depends(json_body),
                    principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "edit connections")
    what = "connection"
    body = check_object(body, what)
    checked = _check(body, what)
    with store_of(request).tx() as db:
        stored = _connection_or_404(db, name)
        if body.get("name", name) != name:
            raise BadRequest(f"Invalid connection.name: a connection's name cannot change (it is {name})")
        if body.get("type", stored["type"]) != stored["type"]:
            raise BadRequest(f"Invalid connection.type: it cannot change (it is {stored['type']})")
        previous = stored.get("versionTag") or {}
        version = previous.get("versionNumber", 0) if isinstance(previous.get("versionNumber"), int) else 0
        doc = {**checked, "name": name, "type": stored["type"], "creationTag": stored.get("creationTag"),
               "versionTag": _tag(principal.identity, version + 1)}
        db.execute("UPDATE dss_connections SET doc = ? WHERE name = ?", (text_of(doc), name))
    return reply(doc)


@route(router, "DELETE", "/admin/connections/{name}")
def delete_connection(name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "delete connections")
    with store_of(request).tx() as db:
        _connection_or_404(db, name)
        db.execute("DELETE FROM dss_connections WHERE name = ?", (name,))
    return Response(status_code=204)


@route(router, "GET", "/connections/get-names")
def connection_names(request: Request, principal: Principal = Depends(current)) -> Any:
    """The connections the caller may use, of one type (`all`: every type)."""
    kind = request.query_params.get("type", "all")
    with store_of(request).read() as db:
        rows = db.all("SELECT name, type, doc FROM dss_connections ORDER BY name")
    names = []
    for row in rows:
        if kind.lower() != "all" and row["type"] != kind:
            continue
        doc = doc_of(row["doc"])
        usable = principal.is_admin or doc.get("usableBy") != "ALLOWED" or \
            bool(principal.groups & set(doc.get("allowedGroups") or ()))
        if usable:
            names.append(row["name"])
    return reply(names)


# ── instance variables ───────────────────────────────────────────────────────────────────────


@route(router, "GET", "/admin/variables/")
def get_variables(request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "read the instance variables")
    with store_of(request).read() as db:
        return reply(doc_of(db.scalar("SELECT doc FROM dss_documents WHERE name = ?", (VARIABLES,))) or {})


@route(router, "PUT", "/admin/variables/")
def save_variables(request: Request, body: Any = Depends(json_body), principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "edit the instance variables")
    body = check_object(body, "instance variables")
    with store_of(request).tx() as db:
        db.execute("INSERT INTO dss_documents(name, doc) VALUES (?, ?) "
                   "ON CONFLICT(name) DO UPDATE SET doc = excluded.doc", (VARIABLES, text_of(body)))
    return Response(status_code=204)


def seed(db: Db) -> None:
    db.execute("INSERT OR IGNORE INTO dss_documents(name, doc) VALUES (?, '{}')", (VARIABLES,))
