"""API keys: global keys (`/admin/global-api-keys/`, contract §1.2 GlobalApiKey) and personal
keys (`/personal-api-keys/`, `/admin/personal-api-keys/`).

The secret (`key`) is in the answer that creates a key and nowhere else, ever: DSS with its
"secure API keys" setting on (contract §5, item 14). The database keeps a SHA-256 of it. A PUT
may carry `key` back (the SDK's definition objects do); it is checked against the hash, never
stored, and a different key is refused: a key's secret cannot change.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from .auth import Principal, current, key_hash, new_key, new_key_id, require_admin
from .docs import bool_field, check_object, dict_field, full_list, int_field, route, str_field, str_list_field
from .errors import BadRequest, Forbidden, NotFound
from .store import Db, doc_of, now_ms, store_of, text_of
from .wire import json_body, reply

__all__ = ["router", "seed_bootstrap"]

DAY_MS = 24 * 3600 * 1000
#: Server-managed fields: whatever a PUT says, these come from the stored key.
MANAGED = ("id", "createdOn", "createdBy", "expiresOn", "user")

router = APIRouter(tags=["api keys"])


def _row(db: Db, key_id: str, kind: str) -> Any:
    row = db.one("SELECT key_id, kind, key_hash, login, created, doc FROM dss_api_keys WHERE key_id = ? AND kind = ?",
                 (key_id, kind))
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    return row


def _expires(created: int, expiry: Any) -> int:
    return created + expiry * DAY_MS if isinstance(expiry, int) and expiry > 0 else 0


def _check(db: Db, doc: dict[str, Any], what: str) -> None:
    str_field(doc, "label", what)
    str_field(doc, "description", what)
    int_field(doc, "expiry", what, low=0, high=100_000)
    groups = str_list_field(doc, "groups", what, nullable=True)
    if groups is not None:
        for name in groups:
            if db.scalar("SELECT 1 FROM dss_groups WHERE name = ?", (name,)) is None:
                raise BadRequest(f"Invalid {what}.groups: group {name} does not exist")
    permissions = dict_field(doc, "globalPermissions", what, nullable=True)
    if permissions is not None:
        bool_field(permissions, "admin", f"{what}.globalPermissions")
    user = str_field(doc, "dssUserForImpersonation", what)
    if user is not None and db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (user,)) is None:
        raise BadRequest(f"Invalid {what}.dssUserForImpersonation: user {user} does not exist")


def _create(db: Db, kind: str, login: str | None, body: dict[str, Any], principal: Principal) -> dict[str, Any]:
    secret = new_key()
    key_id = new_key_id()
    while db.scalar("SELECT 1 FROM dss_api_keys WHERE key_id = ?", (key_id,)):
        key_id = new_key_id()
    created = now_ms()
    doc = {"label": None, "description": None, **{k: v for k, v in body.items() if k != "key"}, "id": key_id,
           "createdOn": created, "createdBy": principal.identity}
    if kind == "global":
        doc.setdefault("groups", None)
        doc.setdefault("dssUserForImpersonation", None)
    else:
        doc["user"] = login
    doc["expiresOn"] = _expires(created, doc.get("expiry"))
    db.execute("INSERT INTO dss_api_keys(key_id, kind, key_hash, login, created, doc) VALUES (?, ?, ?, ?, ?, ?)",
               (key_id, kind, key_hash(secret), login, created, text_of(doc)))
    return {**doc, "key": secret}  # the only time the secret leaves the sandbox


def _save(db: Db, row: Any, body: dict[str, Any], what: str) -> dict[str, Any]:
    stored = doc_of(row["doc"])
    if body.get("id", row["key_id"]) != row["key_id"]:
        raise BadRequest(f"Invalid {what}.id: it cannot change (it is {row['key_id']})")
    sent = body.get("key")
    if sent not in (None, "") and (not isinstance(sent, str) or key_hash(sent) != row["key_hash"]):
        raise BadRequest(f"Invalid {what}.key: the secret of an API key cannot be changed")
    doc = {k: v for k, v in body.items() if k != "key"}
    for field in MANAGED:
        if field in stored:
            doc[field] = stored[field]
    doc["expiresOn"] = _expires(row["created"], doc.get("expiry"))
    db.execute("UPDATE dss_api_keys SET doc = ? WHERE key_id = ?", (text_of(doc), row["key_id"]))
    return doc


# ── global keys ──────────────────────────────────────────────────────────────────────────────


@route(router, "GET", "/admin/global-api-keys/")
def list_global(request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "list global API keys")
    with store_of(request).read() as db:
        rows = db.all("SELECT doc FROM dss_api_keys WHERE kind = 'global'")
    return reply(full_list([doc_of(r["doc"]) for r in rows], "id"))


@route(router, "POST", "/admin/global-api-keys/")
def create_global(request: Request, body: Any = Depends(json_body), principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "create global API keys")
    what = "API key"
    body = check_object(body, what)
    with store_of(request).tx() as db:
        _check(db, body, what)
        return reply(_create(db, "global", None, body, principal))


@route(router, "GET", "/admin/global-api-keys/{key_id}")
def get_global(key_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "read global API keys")
    with store_of(request).read() as db:
        return reply(doc_of(_row(db, key_id, "global")["doc"]))


@route(router, "PUT", "/admin/global-api-keys/{key_id}")
def save_global(key_id: str, request: Request, body: Any = Depends(json_body),
                principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "edit global API keys")
    what = "API key"
    body = check_object(body, what)
    with store_of(request).tx() as db:
        _check(db, body, what)
        return reply(_save(db, _row(db, key_id, "global"), body, what))


@route(router, "DELETE", "/admin/global-api-keys/{key_id}")
def delete_global(key_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "delete global API keys")
    with store_of(request).tx() as db:
        _row(db, key_id, "global")
        db.execute("DELETE FROM dss_api_keys WHERE key_id = ?", (key_id,))
    return Response(status_code=204)


# ── personal keys ────────────────────────────────────────────────────────────────────────────


def _own_login(principal: Principal) -> str:
    if principal.login is None:
        raise Forbidden("Action forbidden: a global API key has no personal API keys (use a user's key)")
    return principal.login


def _personal(db: Db, key_id: str, principal: Principal) -> Any:
    row = _row(db, key_id, "personal")
    if row["login"] != principal.login and not principal.is_admin:
        raise NotFound(f"API key {key_id} not found")
    return row


def _personal_body(body: Any, what: str) -> dict[str, Any]:
    body = check_object(body if body is not None else {}, what)
    str_field(body, "label", what)
    str_field(body, "description", what)
    int_field(body, "expiry", what, low=0, high=100_000)
    return body


@route(router, "GET", "/personal-api-keys/")
def list_personal(request: Request, principal: Principal = Depends(current)) -> Any:
    login = _own_login(principal)
    with store_of(request).read() as db:
        rows = db.all("SELECT doc FROM dss_api_keys WHERE kind = 'personal' AND login = ?", (login,))
    return reply(full_list([doc_of(r["doc"]) for r in rows], "id"))


@route(router, "POST", "/personal-api-keys/")
def create_personal(request: Request, body: Any = Depends(json_body), principal: Principal = Depends(current)) -> Any:
    login = _own_login(principal)
    body = _personal_body(body, "API key")
    body.pop("user", None)
    with store_of(request).tx() as db:
        if db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (login,)) is None:
            raise Forbidden(f"Action forbidden: user {login} does not exist in the sandbox")
        return reply(_create(db, "personal", login, body, principal))


@route(router, "GET", "/personal-api-keys/{key_id}")
def get_personal(key_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        return reply(doc_of(_personal(db, key_id, principal)["doc"]))


@route(router, "PUT", "/personal-api-keys/{key_id}")
def save_personal(key_id: str, request: Request, body: Any = Depends(json_body),
                  principal: Principal = Depends(current)) -> Any:
    what = "API key"
    body = _personal_body(body, what)
    with store_of(request).tx() as db:
        return reply(_save(db, _personal(db, key_id, principal), body, what))


@route(router, "DELETE", "/personal-api-keys/{key_id}")
def delete_personal(key_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        _personal(db, key_id, principal)
        db.execute("DELETE FROM dss_api_keys WHERE key_id = ?", (key_id,))
    return Response(status_code=204)


@route(router, "GET", "/admin/personal-api-keys/")
def list_all_personal(request: Request, principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "list every user's personal API keys")
    with store_of(request).read() as db:
        rows = db.all("SELECT doc FROM dss_api_keys WHERE kind = 'personal'")
    return reply(full_list([doc_of(r["doc"]) for r in rows], "id"))


@route(router, "POST", "/admin/personal-api-keys/")
def create_personal_for(request: Request, body: Any = Depends(json_body), principal: Principal = Depends(current)) -> Any:
    require_admin(principal, "create a personal API key for a user")
    what = "API key"
    body = _personal_body(body, what)
    user = str_field(body, "user", what, optional=False, nullable=False)
    with store_of(request).tx() as db:
        if db.scalar("SELECT 1 FROM dss_users WHERE login = ?", (user,)) is None:
            raise BadRequest(f"Invalid {what}.user: user {user} does not exist")
        return reply(_create(db, "personal", user, {k: v for k, v in body.items() if k != "user"}, principal))


def seed_bootstrap(db: Db, admin_user: str, admin_api_key: str) -> None:
    """The administrator's key from the command line: replaced at every start, so the key the
    sandbox was last started with is the one that works."""
    db.execute("DELETE FROM dss_api_keys WHERE kind = 'bootstrap'")
    doc = {"id": "BOOTSTRAP", "label": "sandbox administrator (command line)", "user": admin_user,
           "createdOn": now_ms(), "createdBy": "platforge", "expiresOn": 0}
    db.execute("INSERT INTO dss_api_keys(key_id, kind, key_hash, login, created, doc) VALUES (?, 'bootstrap', ?, NULL, ?, ?)",
               ("BOOTSTRAP", key_hash(admin_api_key), int(time.time() * 1000), text_of(doc)))
