"""KV entries and secrets (contract §2.4): one store keyed by (environment, secure, key).

A secret is a KV entry with `secure` set; the two are separate namespaces, so `db_url` may exist
both as a plain key and as a secret. Every entry carries an ACL in `acl_entries` under the
resource `kv/{environment}/{0|1}/{key}`. Reads need `read`, changes to an existing entry need
`write`; a refused request changes nothing. Administrators bypass ACLs.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from ..._kit.sandbox.listing import sql_prefix
from .acl import allowed, allowed_sql, default_acl, delete_acl, read_acl, require, resolve_acl, write_acl
from .auth import Principal, current_principal
from .errors import NotFound
from .fields import AclOptions, Paging, Text, identifier, unquote
from .listing import Column, SqlListing, apply_listing, sql_listing
from .store import Db
from .wire import WireModel, environment, environments, ok

DDL = """
CREATE TABLE IF NOT EXISTS kv_entries (
    environment TEXT NOT NULL,
    secure      INTEGER NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (environment, secure, key)
);
-- `kv ls` order (key, then environment) within one namespace, whatever the environments asked
-- for: a page is read in order and stops at its end, and a key prefix is a range of it.
CREATE INDEX IF NOT EXISTS kv_entries_by_key ON kv_entries(secure, key, environment)
"""

DEFAULT_BATCH = 100
LIST_FIELDS = ("key", "environment")
LIST_COLUMNS = {"key": Column("e.key"), "environment": Column("e.environment")}
# The resource name `resource()` gives, as SQL over a `kv_entries e` row.
RESOURCE_SQL = "'kv/' || e.environment || '/' || e.secure || '/' || e.key"

router = APIRouter(tags=["kv"])


class Target(WireModel):
    key: Text
    secure: bool = False
    environment: Text | None = None

    def resolve(self) -> tuple[str, bool, str]:
        env = environment(None if self.environment == "None" else self.environment)
        return env, self.secure, identifier(self.key, "key")


class PutBody(Target, AclOptions):
    # Strictly a string: a JSON number or object is a client bug, not something to coerce.
    value: Text
    json_enrichened: bool = Field(default=False, alias="json-enrichened")


class AclBody(Target, AclOptions):
    pass


class LsQuery(Paging):
    key_prefix: Text | None = None
    acls: bool = False
    secure: bool = False
    include_values: bool = Field(default=False, alias="include-values")
    environment: Text | None = None


def resource(env: str, secure: bool, key: str) -> str:
    return f"kv/{env}/{int(secure)}/{key}"


def _describe(env: str, secure: bool, key: str) -> str:
    return f"{'secret' if secure else 'key'} {key!r} in {env}"


def _entry(db: Db, env: str, secure: bool, key: str) -> Any:
    row = db.one(
        "SELECT * FROM kv_entries WHERE environment = ? AND secure = ? AND key = ?", (env, int(secure), key)
    )
    if row is None:
        raise NotFound(f"{'Secret' if secure else 'Key'} {key!r} not found in {env}")
    return row


def _existing(db: Db, who: Principal, target: Target, permission: str) -> tuple[str, bool, str, str]:
    """Look up an entry and check `permission`: 404 first, then 403."""
    env, secure, key = target.resolve()
    _entry(db, env, secure, key)
    res = resource(env, secure, key)
    require(db, res, who, permission, _describe(env, secure, key))
    return env, secure, key, res


@router.put("/kv/put")
def kv_put(request: Request, body: PutBody, who: Principal = Depends(current_principal)) -> dict:
    """Upsert. The value is stored exactly as sent, including the literal quotes the SDK puts
    around values with spaces (contract §7.2.2). ACL options add to the entry's ACL; a new
    entry starts from the creator's default ACL."""
    env, secure, key = body.resolve()
    res = resource(env, secure, key)
    now = time.time_ns() // 1000
    with request.app.state.store.tx() as db:
        given = resolve_acl(db, body.users, body.groups)
        exists = db.scalar(
            "SELECT 1 FROM kv_entries WHERE environment = ? AND secure = ? AND key = ?", (env, int(secure), key)
        )
        if exists:
            require(db, res, who, "write", _describe(env, secure, key))
            db.execute(
                "UPDATE kv_entries SET value = ?, updated_at = ? WHERE environment = ? AND secure = ? AND key = ?",
                (body.value, now, env, int(secure), key),
            )
            if body.given():
                write_acl(db, res, given, replace=False, others=body.others_letters())
        else:
            db.execute(
                "INSERT INTO kv_entries(environment, secure, key, value, updated_at) VALUES (?, ?, ?, ?, ?)",
                (env, int(secure), key, body.value, now),
            )
            acl = default_acl(who)
            for perm, ids in given.items():
                acl.setdefault(perm, set()).update(ids)
            write_acl(db, res, acl, replace=True, others=body.others_letters())
        acl_now = read_acl(db, res)
    if body.json_enrichened:
        return ok({"key": key, "environment": env, "secure": secure, "acl": acl_now})
    return ok(f"Stored {_describe(env, secure, key)}")


@router.get("/kv/get")
def kv_get(request: Request, q: Annotated[Target, Query()], who: Principal = Depends(current_principal)) -> dict:
    with request.app.state.store.read() as db:
        env, secure, key, _ = _existing(db, who, q, "read")
        return ok(_entry(db, env, secure, key)["value"])


@router.get("/kv/ls")
def kv_ls(request: Request, q: Annotated[LsQuery, Query()], who: Principal = Depends(current_principal)) -> dict:
    """Only entries the caller may read; values only with `include-values` and never for
    secrets. `total` counts every match, not just the page.

    Served in SQL when the filter allows (`sql_listing`): the key prefix, the caller's read
    permission (`allowed_sql`) and the filter become one WHERE clause, the page is read in
    order from `kv_entries_by_key` and stops at its end, and `total` is a count of the same
    clause. Otherwise every entry of the namespace is checked and paged in Python."""
    envs = environments(q.environment)
    prefix = unquote(q.key_prefix) if q.key_prefix not in (None, "None") else ""
    with request.app.state.store.read() as db:
        plan = sql_listing(
            filter=q.filter, sort=q.sort, offset=q.offset, batch_size=q.batch_size, default_batch=DEFAULT_BATCH,
            fields=LIST_FIELDS, columns=LIST_COLUMNS, base=("e.key", "e.environment"),
        )
        if plan is None:
            page, total, values = _ls_in_python(db, q, who, envs, prefix)
        else:
            page, total, values = _ls_in_sql(db, q, who, envs, prefix, plan)
        for item in page:
            if q.include_values and not q.secure:
                item["value"] = values[(item["environment"], item["key"])]
            if q.acls:
                item["acl"] = read_acl(db, resource(item["environment"], q.secure, item["key"]))
    return ok({"items": page, "total": total})


Listed = tuple[list[dict[str, Any]], int, dict[tuple[str, str], str]]  # page, total, values by (env, key)


def _ls_in_sql(db: Db, q: LsQuery, who: Principal, envs: list[str], prefix: str, plan: SqlListing) -> Listed:
    """One WHERE clause for the count and the page, so `total` and the items can never disagree
    on what the caller may read."""
    marks = ",".join("?" * len(envs))
    key_sql, key_params = sql_prefix("e.key", prefix)
    readable, readable_params = allowed_sql(RESOURCE_SQL, who, "read")
    where = f"e.secure = ? AND e.environment IN ({marks}) AND {key_sql} AND {readable} AND {plan.where}"
    params = (int(q.secure), *envs, *key_params, *readable_params, *plan.params)
    total = db.scalar(f"SELECT COUNT(*) FROM kv_entries e WHERE {where}", params)
    rows = db.all(f"SELECT e.environment, e.key, e.value FROM kv_entries e WHERE {where} {plan.order_by} "
                  "LIMIT ? OFFSET ?", (*params, *plan.window))
    page = [{"key": row["key"], "environment": row["environment"]} for row in rows]
    return page, total, {(row["environment"], row["key"]): row["value"] for row in rows}


def _ls_in_python(db: Db, q: LsQuery, who: Principal, envs: list[str], prefix: str) -> Listed:
    """Every entry of the namespace, checked one by one: for filters SQL cannot say exactly."""
    marks = ",".join("?" * len(envs))
    rows = db.all(
        f"SELECT environment, key, value FROM kv_entries WHERE secure = ? AND environment IN ({marks}) "
        "ORDER BY key, environment",
        (int(q.secure), *envs),
    )
    visible = {
        (row["environment"], row["key"]): row["value"]
        for row in rows
        if row["key"].startswith(prefix)
        and allowed(db, resource(row["environment"], q.secure, row["key"]), who, "read")
    }
    items = [{"key": key, "environment": env} for env, key in visible]
    page, total = apply_listing(
        items, filter=q.filter, sort=q.sort, offset=q.offset, batch_size=q.batch_size,
        default_batch=DEFAULT_BATCH, fields=LIST_FIELDS,
    )
    return page, total, visible


@router.get("/kv/acls")
def kv_acls(request: Request, q: Annotated[Target, Query()], who: Principal = Depends(current_principal)) -> dict:
    with request.app.state.store.read() as db:
        *_, res = _existing(db, who, q, "read")
        return ok(read_acl(db, res))


def _change_acl(request: Request, body: AclBody, who: Principal, replace: bool) -> dict:
    with request.app.state.store.tx() as db:
        env, secure, key, res = _existing(db, who, body, "write")
        write_acl(db, res, resolve_acl(db, body.users, body.groups), replace=replace, others=body.others_letters())
    return ok(f"ACL of {_describe(env, secure, key)} {'set' if replace else 'updated'}")


@router.post("/kv/set-acls")
def kv_set_acls(request: Request, body: AclBody, who: Principal = Depends(current_principal)) -> dict:
    """Replace: whatever is not given is gone, including the caller's own access."""
    return _change_acl(request, body, who, replace=True)


@router.post("/kv/add-acls")
def kv_add_acls(request: Request, body: AclBody, who: Principal = Depends(current_principal)) -> dict:
    return _change_acl(request, body, who, replace=False)


@router.delete("/kv/rm")
def kv_rm(request: Request, body: Target, who: Principal = Depends(current_principal)) -> dict:
    with request.app.state.store.tx() as db:
        env, secure, key, res = _existing(db, who, body, "write")
        db.execute(
            "DELETE FROM kv_entries WHERE environment = ? AND secure = ? AND key = ?", (env, int(secure), key)
        )
        delete_acl(db, res)
    return ok(f"Removed {_describe(env, secure, key)}")
