"""FaaS services (contract §1.2 Service, §2.5, §5.11, §5.15-17).

- A service runs a package of its own project, at a revision the package has
  (`packageRevision`, default the package's current `version`), in one of the package's modules
  (`moduleName`, default its first).
- `secrets` (integration ids) and `integrations` (`[{key, type, env, value: <integration id>}]`)
  must name integrations of the project's organisation; both are kept as sent (§5.16), and the
  database records which integrations each service uses, so that those cannot be deleted.
- Creating the first service of a project creates the project's bot (§3.4 item 12), whose e-mail
  is `botUserName`.
- `PATCH` takes the mutable fields and ignores the rest of the echoed entity. `/stop` and `/resume`
  set `active`. `DELETE` answers 200 with a command that is already `success` (§5.17: the
  deletion is done when the answer leaves; a client polling `GET /services/{id}` sees 404 at once),
  and takes the service's triggers with it.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, Depends, Request

from .access import WRITERS, check_id, project_of
from .auth import Principal, current
from .errors import BadRequest, NotFound
from .naming import check_name
from .objects import check_unique, insert, load, save
from .packages import module_names
from .store import Db, doc_of, iso_now, new_id, next_seq, now_ms, store_of, text_of
from .urls import api_url
from .wire import bool_field, dict_field, int_field, json_body, list_field, obj, reply, str_field

__all__ = ["router"]

router = APIRouter(tags=["services"])

POD_TYPES = ("regular-xs", "regular-s", "regular-m", "regular-l", "highmem-xs", "highmem-s", "highmem-m", "highmem-l",
             "highcpu-xs", "gpu-t4", "gpu-t4-m")
AUTOSCALERS = ("rabbitmq", "cpu", "rps")
ON_RESET = ("rerun", "failed")
_PLAIN = ("initParams", "versions", "driverId", "runExecutionAsProcess", "useUserJwt", "executionTimeout", "drainTime",
          "onReset", "maxAttempts", "active", "secrets", "integrations", "config", "description")


def _runtime(value: Any, current: dict[str, Any] | None) -> dict[str, Any]:
    base = copy.deepcopy(current) if current else {"podType": "regular-s", "numReplicas": 1, "concurrency": 10,
                                                    "autoscaler": {"type": "rabbitmq", "minReplicas": 0,
                                                                   "maxReplicas": 1, "queueLength": 1000}}
    if value is None:
        return base
    if not isinstance(value, dict):
        raise BadRequest("Invalid service.runtime: expected an object")
    what = "service.runtime"
    str_field(value, "podType", what, choices=POD_TYPES)
    int_field(value, "numReplicas", what, low=0, high=1000)
    int_field(value, "concurrency", what, low=1, high=10_000)
    autoscaler = dict_field(value, "autoscaler", what)
    out = {**base, **copy.deepcopy({k: v for k, v in value.items() if v is not None or k == "autoscaler"})}
    if autoscaler is not None:
        str_field(autoscaler, "type", what + ".autoscaler", required=True, choices=AUTOSCALERS)
        low = int_field(autoscaler, "minReplicas", what + ".autoscaler", low=0, high=1000)
        high = int_field(autoscaler, "maxReplicas", what + ".autoscaler", low=0, high=1000)
        int_field(autoscaler, "queueLength", what + ".autoscaler", low=0, high=10**7)
        if low is not None and high is not None and low > high:
            raise BadRequest("Invalid service.runtime.autoscaler: minReplicas is above maxReplicas")
    return out


def _check_plain(body: dict[str, Any]) -> None:
    what = "service"
    dict_field(body, "initParams", what)
    dict_field(body, "config", what)
    str_field(body, "driverId", what, max_len=100)
    bool_field(body, "runExecutionAsProcess", what)
    bool_field(body, "useUserJwt", what)
    bool_field(body, "active", what)
    int_field(body, "executionTimeout", what, low=1, high=10**7)
    int_field(body, "drainTime", what, low=0, high=10**7)
    int_field(body, "maxAttempts", what, low=1, high=100)
    str_field(body, "onReset", what, choices=ON_RESET)
    list_field(body, "secrets", what, of=str, max_len=100)
    for entry in list_field(body, "integrations", what, of=dict, max_len=100) or []:
        str_field(entry, "value", "service.integrations[]", required=True, max_len=100)
        for key in ("key", "type", "env"):
            str_field(entry, key, "service.integrations[]", max_len=500)
    versions = body.get("versions")
    if versions is not None and not isinstance(versions, dict):
        raise BadRequest("Invalid service.versions: expected an object or null")


def _integration_ids(db: Db, doc: dict[str, Any], org_id: str) -> set[str]:
    ids = set(doc.get("secrets") or []) | {e["value"] for e in doc.get("integrations") or []}
    for integration_id in ids:
        if db.scalar("SELECT 1 FROM dl_integrations WHERE id = ? AND org_id = ?", (integration_id, org_id)) is None:
            raise BadRequest(f"Integration {integration_id[:40]!r} is not an integration of the project's organization")
    return ids


def _record_secrets(db: Db, service_id: str, ids: set[str]) -> None:
    db.execute("DELETE FROM dl_service_secrets WHERE service_id = ?", (service_id,))
    db.executemany("INSERT INTO dl_service_secrets(service_id, integration_id) VALUES (?, ?)",
                   [(service_id, i) for i in sorted(ids)])


def _package(db: Db, package_id: Any, project_id: str) -> dict[str, Any]:
    if not isinstance(package_id, str):
        raise BadRequest("Missing service.packageId: the id of a package of the same project")
    row = db.one("SELECT doc FROM dl_packages WHERE id = ? AND project_id = ?", (package_id, project_id))
    if row is None:
        raise NotFound("Package not found in the service's project")
    package: dict[str, Any] = doc_of(row["doc"])
    return package


def _revision(db: Db, package: dict[str, Any], revision: Any) -> str:
    if revision is None:
        return str(package["version"])
    if not isinstance(revision, str) or db.scalar(
            "SELECT 1 FROM dl_package_revisions WHERE package_id = ? AND version = ?", (package["id"], revision)) is None:
        raise BadRequest(f"Invalid service.packageRevision {str(revision)[:40]!r}: the package has no such revision")
    return revision


def _module(package: dict[str, Any], module: Any) -> str:
    names = module_names(package) or ["default_module"]
    if module is None:
        return names[0]
    if module not in names:
        raise BadRequest(f"Invalid service.moduleName {str(module)[:60]!r}: the package's modules are {', '.join(names)}")
    return str(module)


def project_bot(db: Db, project: Any) -> str:
    """The project's bot e-mail, created with the project's first service."""
    row = db.one("SELECT email FROM dl_bots WHERE project_id = ? ORDER BY seq LIMIT 1", (project["id"],))
    if row is not None:
        return str(row["email"])
    bot_id = new_id()
    email = f"bot-{bot_id}@bot.ai"
    stamp = now_ms()
    doc = {"id": email, "email": email, "username": email, "firstName": "piper", "lastName": "bot", "avatar": None,
           "type": "bot", "role": "engineer", "org": project["org_id"], "projectId": project["id"], "botId": bot_id,
           "createdAt": stamp, "updatedAt": stamp}
    db.execute("INSERT INTO dl_bots(id, project_id, email, seq, doc) VALUES (?, ?, ?, ?, ?)",
               (bot_id, project["id"], email, next_seq(db), text_of(doc)))
    return email


@router.post("/services")
async def create_service(request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "service")
    name = check_name(str_field(body, "name", "service", required=True, max_len=200), "service")
    project_id = str_field(body, "projectId", "service", required=True, max_len=100)
    _check_plain(body)
    runtime = _runtime(body.get("runtime"), None)
    with store_of(request).tx() as db:
        project, _ = project_of(db, check_id(project_id, "Project"), principal, need=WRITERS)
        check_unique(request, db, "services", project["id"], name)
        package = _package(db, body.get("packageId"), project["id"])
        service_id = new_id()
        stamp = iso_now()
        doc: dict[str, Any] = {
            "id": service_id, "name": name, "projectId": project["id"], "orgId": project["org_id"],
            "packageId": package["id"], "packageRevision": _revision(db, package, body.get("packageRevision")),
            "moduleName": _module(package, body.get("moduleName")), "initParams": {}, "versions": None,
            "botUserName": project_bot(db, project), "useUserJwt": False, "active": True, "driverId": None,
            "runExecutionAsProcess": False, "executionTimeout": 3600, "drainTime": 600, "onReset": "failed",
            "maxAttempts": 3, "secrets": [], "integrations": [], "config": {}, "runtime": runtime, "global": False,
            "type": "regular", "mode": {"type": "regular"}, "version": "1.0.0", "description": None,
            "url": api_url(request, f"/services/{service_id}"), "creator": principal.email,
            "createdAt": stamp, "updatedAt": stamp}
        for key in _PLAIN:
            if body.get(key) is not None:
                doc[key] = copy.deepcopy(body[key])
        ids = _integration_ids(db, doc, project["org_id"])
        insert(db, "services", doc, package_id=package["id"])
        _record_secrets(db, service_id, ids)
        return reply(doc)


@router.get("/services/{service_id}")
def get_service(service_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        _, doc = load(db, "services", service_id, principal)
        return reply(doc)


@router.patch("/services/{service_id}")
async def update_service(service_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "service")
    _check_plain(body)
    with store_of(request).tx() as db:
        row, doc = load(db, "services", service_id, principal, write=True)
        org_id = db.scalar("SELECT org_id FROM dl_projects WHERE id = ?", (row["project_id"],))
        package = _package(db, body.get("packageId", doc["packageId"]), row["project_id"])
        if package["id"] != doc["packageId"] and "packageRevision" not in body:
            body = {**body, "packageRevision": None}
        doc["packageId"] = package["id"]
        doc["packageRevision"] = _revision(db, package, body.get("packageRevision", doc["packageRevision"]))
        doc["moduleName"] = _module(package, body.get("moduleName", doc["moduleName"]))
        doc["runtime"] = _runtime(body.get("runtime"), doc.get("runtime"))
        for key in _PLAIN:
            if key in body and (body[key] is not None or key in ("versions", "driverId", "description")):
                doc[key] = copy.deepcopy(body[key])
        doc["updatedAt"] = iso_now()
        ids = _integration_ids(db, doc, str(org_id))
        save(db, "services", doc, package_id=package["id"])
        _record_secrets(db, row["id"], ids)
        return reply(doc)


def _set_active(service_id: str, request: Request, principal: Principal, active: bool) -> Any:
    with store_of(request).tx() as db:
        _, doc = load(db, "services", service_id, principal, write=True)
        doc["active"] = active
        doc["updatedAt"] = iso_now()
        save(db, "services", doc)
        return reply(doc)


@router.post("/services/{service_id}/stop")
def stop_service(service_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return _set_active(service_id, request, principal, False)


@router.post("/services/{service_id}/resume")
def resume_service(service_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return _set_active(service_id, request, principal, True)


@router.get("/services/{service_id}/status")
def service_status(service_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        _, doc = load(db, "services", service_id, principal)
    replicas = doc["runtime"].get("numReplicas", 1) if doc["active"] else 0
    return reply({"id": doc["id"], "active": doc["active"], "status": "running" if doc["active"] else "paused",
                  "runtimeStatus": [{"status": "ready"}] * int(replicas or 0)})


@router.get("/services/{service_id}/revisions")
def service_revisions(service_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        _, doc = load(db, "services", service_id, principal)
        return reply([doc])


@router.delete("/services/{service_id}")
def delete_service(service_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        row, _ = load(db, "services", service_id, principal, write=True)
        db.execute("DELETE FROM dl_services WHERE id = ?", (row["id"],))
    stamp = iso_now()
    return reply({"id": new_id(), "type": "ServiceDelete", "status": "success", "progress": 100,
                  "spec": {"serviceId": row["id"]}, "creator": principal.email, "createdAt": stamp, "updatedAt": stamp,
                  "url": api_url(request, f"/commands/{row['id']}")})
