"""Scenarios with their triggers (`/projects/{key}/scenarios/`): contract §1.2 Scenario, §2.4.

The id is the server's: derived from the name at creation (upper-cased, every character outside
`[A-Z0-9_]` becoming `_`, a numeric suffix against collisions) unless the body names a free one.
Triggers get a server-assigned `id` when they come without one, so that a provider can match
them across saves; temporal triggers are checked (`schedule.py`). Only administrators may set or
change `runAsUser`.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request

from .auth import Principal, current
from .docs import check_object, dict_field, full_list, route, str_field, str_list_field, tags_of
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .projects import load_project
from .schedule import check_temporal, check_trigger_flags, next_run_ms
from .store import Db, doc_of, now_ms, store_of, text_of
from .wire import json_body, msg, reply

__all__ = ["router"]

TYPES = ("step_based", "custom_python")
SCENARIO_ID = re.compile(r"[A-Za-z0-9_]{1,80}")

router = APIRouter(tags=["scenarios"])


def _scenario_or_404(db: Db, key: str, scenario_id: str) -> tuple[dict[str, Any], str | None]:
    row = db.one("SELECT doc, payload FROM dss_scenarios WHERE project_key = ? AND scenario_id = ?", (key, scenario_id))
    if row is None:
        raise NotFound(f"Scenario {scenario_id} not found in project {key}")
    return doc_of(row["doc"]), row["payload"]


def _derive_id(db: Db, key: str, name: str) -> str:
    base = re.sub(r"[^A-Z0-9_]", "_", name.upper())[:70] or "SCENARIO"
    candidate, n = base, 1
    while db.scalar("SELECT 1 FROM dss_scenarios WHERE project_key = ? AND scenario_id = ?", (key, candidate)):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def _check_triggers(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise BadRequest(f"Invalid {what}: expected a list of trigger objects")
    out, ids = [], set()
    for trigger in value:
        kind = str_field(trigger, "type", what + "[]", optional=False, nullable=False)
        check_trigger_flags(trigger, what + "[]")
        if kind == "temporal":
            check_temporal(trigger.get("params"), what + "[]")
        elif "params" in trigger and not isinstance(trigger["params"], dict):
            raise BadRequest(f"Invalid {what}[].params: expected an object")
        trigger_id = trigger.get("id")
        if trigger_id is None:
            trigger = {**trigger, "id": secrets.token_hex(4)}
        elif not isinstance(trigger_id, str) or not trigger_id:
            raise BadRequest(f"Invalid {what}[].id: expected a non-empty string")
        if trigger["id"] in ids:
            raise BadRequest(f"Invalid {what}: trigger id {trigger['id']} appears twice")
        ids.add(trigger["id"])
        out.append(trigger)
    return out


def _check(db: Db, doc: dict[str, Any], what: str, principal: Principal, stored: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(doc)
    name = str_field(doc, "name", what, nullable=False)
    if name is not None and not name.strip():
        raise BadRequest(f"Invalid {what}.name: must not be empty")
    if "active" in doc and not isinstance(doc["active"], bool):
        raise BadRequest(f"Invalid {what}.active: expected true or false")
    for field in ("description", "shortDesc"):
        str_field(doc, field, what)
    if "triggers" in doc:
        out["triggers"] = _check_triggers(doc["triggers"], f"{what}.triggers")
    if "reporters" in doc and not (isinstance(doc["reporters"], list) and all(isinstance(r, dict) for r in doc["reporters"])):
        raise BadRequest(f"Invalid {what}.reporters: expected a list of objects")
    params = dict_field(doc, "params", what)
    if params is not None and "steps" in params and \
            not (isinstance(params["steps"], list) and all(isinstance(s, dict) for s in params["steps"])):
        raise BadRequest(f"Invalid {what}.params.steps: expected a list of step objects")
    tags = tags_of(doc, what)
    if tags is not None:
        out["tags"] = tags
    run_as = str_field(doc, "runAsUser", what)
    before = (stored or {}).get("runAsUser")
    if run_as != before and "runAsUser" in doc:
        if not principal.is_admin:
            raise Forbidden("Action forbidden: only administrators may set a scenario's runAsUser")
        if run_as is not None and db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (run_as,)) is None:
            raise BadRequest(f"Invalid {what}.runAsUser: user {run_as} does not exist")
    return out


def _tag(principal: Principal, version: int) -> dict[str, Any]:
    return {"versionNumber": version, "lastModifiedBy": {"login": principal.identity}, "lastModifiedOn": now_ms()}


def _light(doc: dict[str, Any]) -> dict[str, Any]:
    return {"projectKey": doc["projectKey"], "id": doc["id"], "name": doc.get("name"), "type": doc.get("type"),
            "active": doc.get("active", False), "running": False, "start": 0, "nextRun": next_run_ms(doc),
            "tags": doc.get("tags", []), "description": doc.get("description", ""),
            "shortDesc": doc.get("shortDesc", ""), "checklists": doc.get("checklists", {"checklists": []})}


@route(router, "GET", "/projects/{key}/scenarios/")
def list_scenarios(key: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        load_project(db, key, principal)
        rows = db.all("SELECT doc FROM dss_scenarios WHERE project_key = ?", (key,))
    items = [{k: v for k, v in _light(doc_of(r["doc"])).items() if k not in ("checklists", "nextRun")} for r in rows]
    return reply(full_list(items, "id"))


@route(router, "POST", "/projects/{key}/scenarios/")
def create_scenario(key: str, request: Request, body: Any = Depends(json_body),
                    principal: Principal = Depends(current)) -> Any:
    what = "scenario"
    body = check_object(body, what)
    name = str_field(body, "name", what, optional=False, nullable=False)
    kind = str_field(body, "type", what, optional=False, nullable=False, choices=TYPES)
    with store_of(request).tx() as db:
        load_project(db, key, principal, "write")
        doc = _check(db, body, what, principal, None)
        if body.get("id") is not None:
            scenario_id = body["id"]
            if not isinstance(scenario_id, str) or not SCENARIO_ID.fullmatch(scenario_id):
                raise BadRequest(f"Invalid scenario.id: must match {SCENARIO_ID.pattern}")
            if db.scalar("SELECT 1 FROM dss_scenarios WHERE project_key = ? AND scenario_id = ?", (key, scenario_id)):
                raise Conflict(f"Scenario already exists: {scenario_id} in project {key}")
        else:
            scenario_id = _derive_id(db, key, name)
        params = dict(doc.get("params") or {})
        if kind == "step_based":
            params.setdefault("steps", [])
        doc = {"active": False, "tags": [], "description": "", "shortDesc": "", "triggers": [], "reporters": [],
               "checklists": {"checklists": []}, **doc, "params": params, "projectKey": key, "id": scenario_id,
               "name": name, "type": kind}
        doc["creationTag"] = doc["versionTag"] = _tag(principal, 1)
        payload = text_of({"script": ""}) if kind == "custom_python" else None
        db.execute("INSERT INTO dss_scenarios(project_key, scenario_id, doc, payload) VALUES (?, ?, ?, ?)",
                   (key, scenario_id, text_of(doc), payload))
    return reply(doc)


@route(router, "GET", "/projects/{key}/scenarios/{scenario_id}")
def get_scenario(key: str, scenario_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        load_project(db, key, principal)
        return reply(_scenario_or_404(db, key, scenario_id)[0])


@route(router, "PUT", "/projects/{key}/scenarios/{scenario_id}")
def save_scenario(key: str, scenario_id: str, request: Request, body: Any = Depends(json_body),
                  principal: Principal = Depends(current)) -> Any:
    what = "scenario"
    body = check_object(body, what)
    with store_of(request).tx() as db:
        load_project(db, key, principal, "write")
        stored, _ = _scenario_or_404(db, key, scenario_id)
        for field in ("id", "projectKey", "type"):
            if body.get(field, stored[field]) != stored[field]:
                raise BadRequest(f"Invalid scenario.{field}: it cannot change (it is {stored[field]})")
        doc = _check(db, body, what, principal, stored)
        version = (stored.get("versionTag") or {}).get("versionNumber", 0)
        doc.update(projectKey=key, id=scenario_id, type=stored["type"], creationTag=stored.get("creationTag"),
                   versionTag=_tag(principal, (version if isinstance(version, int) else 0) + 1))
        doc.setdefault("name", stored.get("name"))
        db.execute("UPDATE dss_scenarios SET doc = ? WHERE project_key = ? AND scenario_id = ?",
                   (text_of(doc), key, scenario_id))
    return reply(doc)


@route(router, "DELETE", "/projects/{key}/scenarios/{scenario_id}")
def delete_scenario(key: str, scenario_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        load_project(db, key, principal, "write")
        _scenario_or_404(db, key, scenario_id)
        db.execute("DELETE FROM dss_scenarios WHERE project_key = ? AND scenario_id = ?", (key, scenario_id))
    return msg(f"Deleted scenario {scenario_id}")


@route(router, "GET", "/projects/{key}/scenarios/{scenario_id}/light")
def get_light(key: str, scenario_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        load_project(db, key, principal)
        return reply(_light(_scenario_or_404(db, key, scenario_id)[0]))


@route(router, "PUT", "/projects/{key}/scenarios/{scenario_id}/light")
def save_light(key: str, scenario_id: str, request: Request, body: Any = Depends(json_body),
               principal: Principal = Depends(current)) -> Any:
    """Only `active`, `checklists`, `description`, `shortDesc` and `tags` change here (contract
    §2.4); other fields of the body are ignored."""
    what = "scenario"
    body = check_object(body, what)
    changes = {k: body[k] for k in ("active", "checklists", "description", "shortDesc", "tags") if k in body}
    if "checklists" in changes:
        dict_field(changes, "checklists", what)
    with store_of(request).tx() as db:
        load_project(db, key, principal, "write")
        stored, _ = _scenario_or_404(db, key, scenario_id)
        doc = {**stored, **_check(db, changes, what, principal, stored)}
        db.execute("UPDATE dss_scenarios SET doc = ? WHERE project_key = ? AND scenario_id = ?",
                   (text_of(doc), key, scenario_id))
    return reply(_light(doc))


@route(router, "GET", "/projects/{key}/scenarios/{scenario_id}/payload")
def get_payload(key: str, scenario_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        load_project(db, key, principal)
        doc, payload = _scenario_or_404(db, key, scenario_id)
    if payload is None:
        raise BadRequest(f"Scenario {scenario_id} is {doc['type']}: only custom_python scenarios have a script")
    return reply(doc_of(payload))


@route(router, "PUT", "/projects/{key}/scenarios/{scenario_id}/payload")
def save_payload(key: str, scenario_id: str, request: Request, body: Any = Depends(json_body),
                 principal: Principal = Depends(current)) -> Any:
    body = check_object(body, "scenario payload")
    str_field(body, "script", "scenario payload", optional=False, nullable=False)
    str_list_field(body, "tags", "scenario payload")
    with store_of(request).tx() as db:
        load_project(db, key, principal, "write")
        doc, payload = _scenario_or_404(db, key, scenario_id)
        if payload is None:
            raise BadRequest(f"Scenario {scenario_id} is {doc['type']}: only custom_python scenarios have a script")
        db.execute("UPDATE dss_scenarios SET payload = ? WHERE project_key = ? AND scenario_id = ?",
                   (text_of(body), key, scenario_id))
    return msg(f"Saved script of scenario {scenario_id}")
