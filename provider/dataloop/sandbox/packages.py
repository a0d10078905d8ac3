"""FaaS packages: the code a service runs (contract §1.2 Package, §2.5).

Enough for a service to reference one by id and revision: create (`POST /packages`, dtlpy's
`push` with a git codebase: nothing is uploaded, §4 kind 6), read, update (a new `version` is a
new revision, kept in `dl_package_revisions`), list through `/query/faas`, delete. A package
that a service uses cannot be deleted (409). Names follow the service naming rule (`naming.py`).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Depends, Request

from .access import WRITERS, check_id, project_of
from .auth import Principal, current
from .errors import BadRequest, Conflict
from .naming import check_name
from .objects import check_unique, insert, load, save
from .store import Db, doc_of, iso_now, new_id, store_of, text_of
from .urls import api_url
from .wire import bool_field, dict_field, json_body, list_field, obj, reply, str_field

__all__ = ["DEFAULT_MODULE", "module_names", "router"]

router = APIRouter(tags=["packages"])
DEFAULT_MODULE = {"name": "default_module", "entryPoint": "main.py", "className": "ServiceRunner",
                  "functions": [{"name": "run", "input": [], "output": []}], "initInputs": []}
_MUTABLE = ("modules", "codebase", "serviceConfig", "requirements", "slots", "description", "metadata")
_VERSION_CHARS = set("0123456789.-+abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def module_names(doc: dict[str, Any]) -> list[str]:
    return [m["name"] for m in doc.get("modules") or [] if isinstance(m, dict) and isinstance(m.get("name"), str)]


def _version(body: dict[str, Any]) -> Any:
    version = str_field(body, "version", "package", max_len=64)
    if version is not None and (not version or not set(version) <= _VERSION_CHARS):
        raise BadRequest(f"Invalid package.version {version[:40]!r}: letters, digits, '.', '-', '+' only")
    return version


def _check_fields(body: dict[str, Any]) -> None:
    modules = list_field(body, "modules", "package", of=dict, max_len=100)
    for module in modules or []:
        str_field(module, "name", "package.modules[]", required=True, max_len=200)
        list_field(module, "functions", "package.modules[].functions", of=dict, max_len=500)
    dict_field(body, "codebase", "package")
    dict_field(body, "serviceConfig", "package")
    list_field(body, "requirements", "package", max_len=500)
    bool_field(body, "global", "package")


def _revision(db: Db, doc: dict[str, Any]) -> None:
    db.execute("INSERT OR REPLACE INTO dl_package_revisions(package_id, version, doc) VALUES (?, ?, ?)",
               (doc["id"], doc["version"], text_of(doc)))


@router.post("/packages")
async def create_package(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "package")
    name = check_name(str_field(body, "name", "package", required=True, max_len=200), "package")
    project_id = str_field(body, "projectId", "package", required=True, max_len=100)
    _check_fields(body)
    if body.get("global"):
        raise BadRequest("Global packages need a Dataloop superuser; create a project package")
    version = _version(body) or "1.0.0"
    with store_of(request).tx() as db:
        project, _ = project_of(db, check_id(project_id, "Project"), principal, need=WRITERS)
        check_unique(request, db, "packages", project["id"], name)
        package_id = new_id()
        stamp = iso_now()
        doc: dict[str, Any] = {
            "id": package_id, "name": name, "projectId": project["id"], "global": False, "type": body.get("type"),
            "version": version, "modules": copy.deepcopy(body.get("modules")) or [copy.deepcopy(DEFAULT_MODULE)],
            "codebase": copy.deepcopy(body.get("codebase")), "serviceConfig": copy.deepcopy(body.get("serviceConfig")),
            "requirements": copy.deepcopy(body.get("requirements")), "slots": copy.deepcopy(body.get("slots")),
            "description": body.get("description"), "metadata": copy.deepcopy(body.get("metadata")) or {},
            "creator": principal.email, "url": api_url(request, f"/packages/{package_id}"),
            "createdAt": stamp, "updatedAt": stamp}
        insert(db, "packages", doc)
        _revision(db, doc)
        return reply(doc)


@router.get("/packages/{package_id}")
def get_package(package_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        _, doc = load(db, "packages", package_id, principal)
        return reply(doc)


@router.get("/packages/{package_id}/revisions")
def package_revisions(package_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row, _ = load(db, "packages", package_id, principal)
        return reply([doc_of(r["doc"]) for r in db.all("SELECT doc FROM dl_package_revisions WHERE package_id = ? "
                                                        "ORDER BY rowid", (row["id"],))])


@router.patch("/packages/{package_id}")
async def update_package(package_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "package")
    _check_fields(body)
    version = _version(body)
    with store_of(request).tx() as db:
        _, doc = load(db, "packages", package_id, principal, write=True)
        for key in _MUTABLE:
            if key in body:
                doc[key] = copy.deepcopy(body[key])
        if not doc.get("modules"):
            doc["modules"] = [copy.deepcopy(DEFAULT_MODULE)]
        if version is not None:
            doc["version"] = version
        doc["updatedAt"] = iso_now()
        save(db, "packages", doc)
        _revision(db, doc)
        return reply(doc)


@router.delete("/packages/{package_id}")
def delete_package(package_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row, doc = load(db, "packages", package_id, principal, write=True)
        users = int(db.scalar("SELECT COUNT(*) FROM dl_services WHERE package_id = ?", (row["id"],)))
        if users:
            raise Conflict(f"Package {doc['name']!r} is used by {users} service(s): delete them first")
        db.execute("DELETE FROM dl_packages WHERE id = ?", (row["id"],))
    return reply(True)
