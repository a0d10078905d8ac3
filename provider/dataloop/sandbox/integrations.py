"""Integrations: an organisation's secrets and cloud credentials (contract §1.2, §2.3, §5.9-10).

Secret `options` are write-only: the sandbox keeps only a SHA-256 fingerprint of them (to know
whether a credentials update changed anything), never the values, so no route can return them.
`metadata` is an object in a create request and a list of `{name, value, ...}` in answers, with
a `status: active` entry (dtlpy logs it). Members of the org may list and read integrations;
its owners and admins create, rename, re-key and delete them. An integration a service uses
cannot be deleted (409): the service would lose its secret.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, Depends, Request

from .access import check_id, org_of
from .auth import Principal, current
from .errors import BadRequest, Conflict, NotFound
from .store import Db, doc_of, new_id, next_seq, now_ms, store_of, text_of
from .urls import api_url
from .wire import dict_field, json_body, name_field, obj, reply, str_field

__all__ = ["INTEGRATION_TYPES", "integration_json", "router"]

INTEGRATION_TYPES = ("s3", "s3-api", "aws-cross", "aws-sts", "gcs", "gcp-cross", "azureblob", "key_value",
                     "gcp-workload-identity-federation", "private-registry", "nfs", "hostPath", "blob", "pvc")

router = APIRouter(tags=["integrations"])


def _fingerprint(options: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(options, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def integration_json(request: Request, row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "type": row["type"], "org": row["org_id"], "creator": row["creator"],
            "createdAt": row["created_ms"], "updatedAt": row["updated_ms"],
            "url": api_url(request, f"/integrations/{row['id']}"), "metadata": doc_of(row["metadata"])}


def _metadata(integration_id: str, given: dict[str, Any] | None, stamp: int) -> list[dict[str, Any]]:
    entries = {"status": "active", **(given or {})}
    return [{"id": new_id(), "name": str(name), "value": value, "integration": integration_id, "createdAt": stamp,
             "updatedAt": stamp} for name, value in entries.items()]


def _options(body: dict[str, Any], what: str) -> dict[str, Any]:
    options = dict_field(body, "options", what)
    if options is None:
        raise BadRequest(f"Missing {what}.options: the integration's credentials (an object)")
    return options


def _row(db: Db, org_id: str, integration_id: str) -> Any:
    row = db.one("SELECT * FROM dl_integrations WHERE id = ? AND org_id = ?", (check_id(integration_id, "Integration"), org_id))
    if row is None:
        raise NotFound("Integration not found")
    return row


def _unique(request: Request, db: Db, org_id: str, name: str, skip: str = "") -> None:
    if "integrations" in request.app.state.config.unique_kinds and db.scalar(
            "SELECT 1 FROM dl_integrations WHERE org_id = ? AND name = ? AND id != ?", (org_id, name, skip)):
        raise Conflict(f"An integration named {name!r} already exists in this organization")


def _list(request: Request, db: Db, org_id: str) -> list[dict[str, Any]]:
    rows = db.all("SELECT * FROM dl_integrations WHERE org_id = ? ORDER BY seq", (org_id,))
    return [integration_json(request, r) for r in rows]


@router.get("/orgs/{org_id}/integrations")
def list_integrations(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        org, _ = org_of(db, check_id(org_id, "Organization"), principal)
        return reply(_list(request, db, org["id"]))


@router.get("/orgs/{org_id}/availableIntegrations")
def available_integrations(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    return list_integrations(org_id, request, principal)


@router.post("/orgs/{org_id}/integrations")
async def create_integration(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    body = obj(await json_body(request), "integration")
    kind = str_field(body, "type", "integration", required=True, choices=INTEGRATION_TYPES)
    name = name_field(body, "name", "integration")
    options = _options(body, "integration")
    metadata = dict_field(body, "metadata", "integration")
    with store_of(request).tx() as db:
        org, _ = org_of(db, check_id(org_id, "Organization"), principal, manage=True)
        _unique(request, db, org["id"], name)
        integration_id = new_id()
        stamp = now_ms()
        db.execute("INSERT INTO dl_integrations(id, org_id, name, type, creator, options_sha256, metadata, created_ms, "
                   "updated_ms, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (integration_id, org["id"], name, kind, principal.email, _fingerprint(options),
                    text_of(_metadata(integration_id, metadata, stamp)), stamp, stamp, next_seq(db)))
        return reply(integration_json(request, _row(db, org["id"], integration_id)))


@router.patch("/orgs/{org_id}/integrations")
async def update_integration(org_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    """`{integrationId, name}` renames; `{integrationId, credentials: {options, type?}}` re-keys."""
    body = obj(await json_body(request), "integration")
    integration_id = str_field(body, "integrationId", "integration", required=True, max_len=100)
    name = name_field(body, "name", "integration", required=False)
    credentials = dict_field(body, "credentials", "integration")
    options = _options(credentials, "integration.credentials") if credentials is not None else None
    if credentials is not None:
        str_field(credentials, "type", "integration.credentials", choices=INTEGRATION_TYPES)
    if name is None and options is None:
        raise BadRequest("Nothing to update: send name or credentials")
    with store_of(request).tx() as db:
        org, _ = org_of(db, check_id(org_id, "Organization"), principal, manage=True)
        row = _row(db, org["id"], integration_id)
        if credentials is not None and credentials.get("type") not in (None, row["type"]):
            raise BadRequest("An integration's type cannot change: create a new integration")
        if name is not None:
            _unique(request, db, org["id"], name, row["id"])
        db.execute("UPDATE dl_integrations SET name = COALESCE(?, name), options_sha256 = COALESCE(?, options_sha256), "
                   "updated_ms = ? WHERE id = ?",
                   (name, _fingerprint(options) if options is not None else None, now_ms(), row["id"]))
        return reply(integration_json(request, _row(db, org["id"], row["id"])))


@router.get("/orgs/{org_id}/integrations/{integration_id}")
def get_integration(org_id: str, integration_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        org, _ = org_of(db, check_id(org_id, "Organization"), principal)
        return reply(integration_json(request, _row(db, org["id"], integration_id)))


@router.delete("/orgs/{org_id}/integrations/{integration_id}")
def delete_integration(org_id: str, integration_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).tx() as db:
        org, _ = org_of(db, check_id(org_id, "Organization"), principal, manage=True)
        row = _row(db, org["id"], integration_id)
        users = int(db.scalar("SELECT COUNT(*) FROM dl_service_secrets WHERE integration_id = ?", (row["id"],)))
        if users:
            raise Conflict(f"Integration {row['name']!r} is used by {users} service(s): remove it from them first")
        db.execute("DELETE FROM dl_integrations WHERE id = ?", (row["id"],))
        return reply(_list(request, db, org["id"]))


@router.get("/integrations/{integration_id}")
def get_any_integration(integration_id: str, request: Request, principal: Principal = Depends(current)) -> Any:
    with store_of(request).read() as db:
        row = db.one("SELECT * FROM dl_integrations WHERE id = ?", (check_id(integration_id, "Integration"),))
        if row is None:
            raise NotFound("Integration not found")
        try:
            org_of(db, row["org_id"], principal)
        except NotFound as exc:
            raise NotFound("Integration not found") from exc
        return reply(integration_json(request, row))
