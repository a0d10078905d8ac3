"""Code environments (`/admin/code-envs/{lang}/{name}`): contract §1.2 CodeEnv, §2.5.

The definition (`desc`, permissions, container confs) and the package list (`specPackageList`,
`specCondaEnvironment`) are one settings document. Saving it installs nothing: creating the env
and `POST .../packages` are builds, DSS futures (`futures.py`) that finish after
`--build-seconds`; with `wait=True` the call itself waits that long and answers the result. Each
build leaves a log (`.../logs/`) naming the packages it installed.

A request for a code env that does not exist is a 500 `CodedIOException` ("PYTHON env x doesn't
exist"), as DSS answers it (contract §1.2); that is the sandbox's only deliberate 500.

Administrators may do everything; a caller whose group has `mayCreateCodeEnvs` may create code
envs and manage the ones it owns (`desc.owner`).
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from . import futures
from .auth import Principal, current
from .docs import bool_field, check_object, dict_field, full_list, route, str_field, str_list_field
from .errors import BadRequest, Conflict, Forbidden, MissingCodeEnv, NotFound
from .store import Db, doc_of, now_ms, store_of, text_of
from .wire import flag, json_body, name_of, reply

__all__ = ["router"]

LANGS = ("PYTHON", "R")
ENV_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
DEPLOYMENT_MODES = ("DESIGN_MANAGED", "DESIGN_NON_MANAGED", "PLUGIN_MANAGED", "PLUGIN_NON_MANAGED",
                    "AUTOMATION_SINGLE", "AUTOMATION_VERSIONED", "AUTOMATION_NON_MANAGED_PATH", "EXTERNAL_CONDA_NAMED",
                    "BUSINESS_APP_MANAGED", "BUSINESS_APP_NON_MANAGED")
INTERPRETERS = ("PYTHON36", "PYTHON37", "PYTHON38", "PYTHON39", "PYTHON310", "PYTHON311", "PYTHON312", "PYTHON313",
                "CUSTOM")
#: Fields a save may not change (contract §1.2: "R: lang, name, deploymentMode, interpreter, conda").
FIXED = ("envLang", "envName", "deploymentMode")
FIXED_DESC = ("pythonInterpreter", "conda", "deploymentMode")
#: Mirrored between the top level and `desc`; the top level wins on a save (contract §1.2).
MIRRORED = ("usableByAll", "allContainerConfs", "containerConfs", "allSparkKubernetesConfs", "sparkKubernetesConfs",
            "permissions", "owner")
OK_MESSAGES = {"error": False, "warning": False, "success": True, "fatal": False, "anyMessage": False,
               "maxSeverity": None, "messages": []}

router = APIRouter(tags=["code envs"])


def _lang(value: str) -> str:
    lang = value.upper()
    if lang not in LANGS:
        raise BadRequest(f"Invalid code env language {value!r}: expected PYTHON or R")
    return lang


def _env(db: Db, lang: str, name: str) -> dict[str, Any]:
    row = db.one("SELECT doc FROM dss_code_envs WHERE env_lang = ? AND env_name = ?", (lang, name))
    if row is None:
        raise MissingCodeEnv(lang, name)
    doc: dict[str, Any] = doc_of(row["doc"])
    return doc


def _may_manage(principal: Principal, doc: dict[str, Any], lang: str, name: str) -> None:
    owner = (doc.get("desc") or {}).get("owner")
    if principal.is_admin or (principal.login is not None and principal.login == owner and
                              principal.may("mayCreateCodeEnvs")):
        return
    raise Forbidden(f"Action forbidden: you may not manage code env {lang}/{name}")


def _packages(doc: dict[str, Any]) -> list[str]:
    lines = (doc.get("specPackageList") or "").splitlines() + (doc.get("specCondaEnvironment") or "").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _build(db: Db, lang: str, name: str, doc: dict[str, Any], action: str) -> dict[str, Any]:
    """Record a build of the env as it is now: its log, and the result its future answers."""
    created = now_ms()
    installed = _packages(doc)
    log_name = f"{action}-{created}.log"
    text = f"[sandbox] {action} of {lang} code env {name}\n" + "".join(f"[sandbox] installed {p}\n" for p in installed)
    db.execute("INSERT OR REPLACE INTO dss_code_env_logs(env_lang, env_name, log_name, created, text) "
               "VALUES (?, ?, ?, ?, ?)", (lang, name, log_name, created, text))
    return {"envName": name, "envLang": lang, "installedPackages": installed, "logName": log_name,
            "messages": OK_MESSAGES}


def _answer(request: Request, db: Db, principal: Principal, label: str, result: dict[str, Any]) -> Any:
    """The job's answer: its result after the build time (`wait=True`), or its future."""
    seconds = request.app.state.config.build_seconds
    if flag(request, "wait", default=True):
        return result, seconds
    return futures.start(db, principal.identity, label, seconds, result), 0.0


def _reply_after(body: Any, delay: float) -> Any:
    if delay > 0:
        time.sleep(delay)  # outside the transaction: other requests go on meanwhile
    return reply(body)


def _check(doc: dict[str, Any], what: str) -> None:
    for field in ("specPackageList", "specCondaEnvironment", "containerCacheBustingLocation"):
        str_field(doc, field, what)
    for field in ("usableByAll", "allContainerConfs", "allSparkKubernetesConfs"):
        bool_field(doc, field, what)
    for field in ("containerConfs", "sparkKubernetesConfs"):
        str_list_field(doc, field, what)
    permissions = doc.get("permissions")
    if permissions is not None and (not isinstance(permissions, list) or
                                    not all(isinstance(p, dict) and isinstance(p.get("group"), str) for p in permissions)):
        raise BadRequest(f"Invalid {what}.permissions: expected a list of objects with a 'group'")
    str_field(doc, "owner", what)


@route(router, "GET", "/admin/code-envs/")
def list_code_envs(request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        rows = db.all("SELECT env_lang, env_name, doc FROM dss_code_envs")
    items = []
    for row in rows:
        doc = doc_of(row["doc"])
        desc = doc.get("desc") or {}
        if not principal.is_admin and desc.get("owner") != principal.login and not doc.get("usableByAll"):
            continue
        items.append({"envLang": row["env_lang"], "envName": row["env_name"], "deploymentMode": doc.get("deploymentMode"),
                      "owner": desc.get("owner"), "pythonInterpreter": desc.get("pythonInterpreter"),
                      "sortKey": f"{row['env_lang']}/{row['env_name']}"})
    return reply([{k: v for k, v in item.items() if k != "sortKey"} for item in full_list(items, "sortKey")])


@route(router, "POST", "/admin/code-envs/{lang}/{name}")
def create_code_env(lang: str, name: str, request: Request, body: Any = Depends(json_body),
                    principal: Principal = Depends(current)) -> Any:
    if not principal.may("mayCreateCodeEnvs"):
        raise Forbidden("Action forbidden: you may not create code envs (mayCreateCodeEnvs)")
    what = "code env"
    lang = _lang(lang)
    name = name_of(name, "code env name", pattern=ENV_NAME)
    body = check_object(body if body is not None else {}, what)
    mode = str_field(body, "deploymentMode", what, optional=False, nullable=False, choices=DEPLOYMENT_MODES)
    interpreter = str_field(body, "pythonInterpreter", what, choices=INTERPRETERS)
    for field in ("conda", "installCorePackages", "installJupyterSupport"):
        bool_field(body, field, what)
    _check(body, what)
    owner = principal.login or principal.identity
    desc = {"owner": owner, "deploymentMode": mode, "conda": False, "installCorePackages": True,
            "installJupyterSupport": False, "usableByAll": False, "allContainerConfs": False, "containerConfs": [],
            "allSparkKubernetesConfs": False, "sparkKubernetesConfs": [], "permissions": [],
            **{k: v for k, v in body.items() if v is not None and k not in ("specPackageList", "specCondaEnvironment")}}
    if lang == "PYTHON":
        desc["pythonInterpreter"] = interpreter or "PYTHON311"
    desc["owner"] = owner
    doc = {"envLang": lang, "envName": name, "deploymentMode": mode,
           "specPackageList": body.get("specPackageList") or "", "specCondaEnvironment": body.get("specCondaEnvironment") or "",
           **{k: desc[k] for k in MIRRORED if k != "owner"}, "desc": desc}
    with store_of(request).tx() as db:
        if isinstance(body.get("owner"), str) and principal.is_admin:
            if db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (body["owner"],)) is None:
                raise BadRequest(f"Invalid {what}.owner: user {body['owner']} does not exist")
            desc["owner"] = body["owner"]
        if db.scalar("SELECT 1 FROM dss_code_envs WHERE env_lang = ? AND env_name = ?", (lang, name)) is not None:
            raise Conflict(f"Code env already exists: {lang} {name}")
        db.execute("INSERT INTO dss_code_envs(env_lang, env_name, doc) VALUES (?, ?, ?)", (lang, name, text_of(doc)))
        answer, delay = _answer(request, db, principal, f"Create code env {lang}/{name}", _build(db, lang, name, doc, "create"))
    return _reply_after(answer, delay)


@route(router, "GET", "/admin/code-envs/{lang}/{name}")
def get_code_env(lang: str, name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    lang = _lang(lang)
    with store_of(request).read() as db:
        doc = _env(db, lang, name)
    _may_manage(principal, doc, lang, name)
    return reply(doc)


@route(router, "PUT", "/admin/code-envs/{lang}/{name}")
def save_code_env(lang: str, name: str, request: Request, body: Any = Depends(json_body),
                  principal: Principal = Depends(current)) -> Any:
    what = "code env"
    lang = _lang(lang)
    body = check_object(body, what)
    _check(body, what)
    desc = dict_field(body, "desc", what)
    if desc is not None:
        _check(desc, f"{what}.desc")
    with store_of(request).tx() as db:
        stored = _env(db, lang, name)
        _may_manage(principal, stored, lang, name)
        for field in FIXED:
            if body.get(field, stored[field]) != stored[field]:
                raise BadRequest(f"Invalid {what}.{field}: it cannot change (it is {stored[field]})")
        stored_desc = stored.get("desc") or {}
        new_desc = dict(desc if desc is not None else stored_desc)
        for field in FIXED_DESC:
            if field in stored_desc and new_desc.get(field, stored_desc[field]) != stored_desc[field]:
                raise BadRequest(f"Invalid {what}.desc.{field}: it cannot change (it is {stored_desc[field]})")
            if field in stored_desc:
                new_desc[field] = stored_desc[field]
        for field in MIRRORED:
            if field in body:
                new_desc[field] = body[field]
        owner = new_desc.get("owner")
        if owner != stored_desc.get("owner") and not principal.is_admin:
            raise Forbidden("Action forbidden: only administrators may give a code env to another owner")
        if owner is not None and owner != stored_desc.get("owner") and \
                db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (owner,)) is None:
            raise BadRequest(f"Invalid {what}.desc.owner: user {owner} does not exist")
        doc = {**body, "envLang": lang, "envName": name, "deploymentMode": stored["deploymentMode"], "desc": new_desc}
        for field in MIRRORED:
            if field != "owner" and field in new_desc:
                doc[field] = new_desc[field]
        db.execute("UPDATE dss_code_envs SET doc = ? WHERE env_lang = ? AND env_name = ?", (text_of(doc), lang, name))
    return reply(doc)


@route(router, "DELETE", "/admin/code-envs/{lang}/{name}")
def delete_code_env(lang: str, name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    lang = _lang(lang)
    wait = flag(request, "wait", default=True)
    with store_of(request).tx() as db:
        _may_manage(principal, _env(db, lang, name), lang, name)
        db.execute("DELETE FROM dss_code_envs WHERE env_lang = ? AND env_name = ?", (lang, name))
        result = {"envName": name, "envLang": lang, "messages": OK_MESSAGES}
        if not wait:
            return reply(futures.start(db, principal.identity, f"Delete code env {lang}/{name}", 0, result))
    return reply(result)


@route(router, "POST", "/admin/code-envs/{lang}/{name}/packages")
def update_packages(lang: str, name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    """Install what the saved spec says (`forceRebuildEnv` rebuilds from scratch: the same here)."""
    lang = _lang(lang)
    rebuild = flag(request, "forceRebuildEnv")
    with store_of(request).tx() as db:
        doc = _env(db, lang, name)
        _may_manage(principal, doc, lang, name)
        result = _build(db, lang, name, doc, "rebuild" if rebuild else "update")
        answer, delay = _answer(request, db, principal, f"Update code env {lang}/{name}", result)
    return _reply_after(answer, delay)


@route(router, "GET", "/admin/code-envs/{lang}/{name}/logs/")
def list_logs(lang: str, name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    lang = _lang(lang)
    with store_of(request).read() as db:
        _may_manage(principal, _env(db, lang, name), lang, name)
        rows = db.all("SELECT log_name, created, length(text) AS size FROM dss_code_env_logs "
                      "WHERE env_lang = ? AND env_name = ? ORDER BY created, log_name", (lang, name))
    return reply([{"name": r["log_name"], "lastModified": r["created"], "size": r["size"]} for r in rows])


@route(router, "GET", "/admin/code-envs/{lang}/{name}/logs/{log_name}")
def get_log(lang: str, name: str, log_name: str, request: Request, principal: Principal = Depends(current)) -> Any:
    lang = _lang(lang)
    with store_of(request).read() as db:
        _may_manage(principal, _env(db, lang, name), lang, name)
        text = db.scalar("SELECT text FROM dss_code_env_logs WHERE env_lang = ? AND env_name = ? AND log_name = ?",
                         (lang, name, log_name))
    if text is None:
        raise NotFound(f"Log {log_name} not found for code env {lang}/{name}")
    return PlainTextResponse(text)
