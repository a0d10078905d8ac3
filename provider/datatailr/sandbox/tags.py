"""Node tags (contract §2.8): the SDK reads `blob_storage_prefix`, `public_hostname` and
`public_domain` to build blob URIs and service URLs.

Those three come from the sandbox configuration and are rewritten at every start, so they are
read-only through the API (409): changing them at runtime would silently re-point every blob
URI the SDK builds. Other tags may be set and removed by administrators.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from .acl import require_admin
from .auth import Principal, current_principal
from .config import SandboxConfig
from .errors import Conflict, NotFound
from .fields import Text, identifier
from .store import Db
from .wire import WireModel, ok

CONFIG_TAGS = ("blob_storage_prefix", "public_hostname", "public_domain")

router = APIRouter(tags=["tags"])


def seed(db: Db, config: SandboxConfig, admin_password: str) -> None:
    for key in CONFIG_TAGS:
        db.execute(
            "INSERT INTO tags(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, getattr(config, key)),
        )


def get_tag(db: Db, key: str) -> str | None:
    return db.scalar("SELECT value FROM tags WHERE key = ?", (key,))


class TagQuery(WireModel):
    tag: Text


class TagSet(WireModel):
    key: Text
    value: Text


class TagName(WireModel):
    tag: Text


def _writable(key: str, who: Principal) -> str:
    require_admin(who, "change tags")
    key = identifier(key, "tag", max_length=256)
    if key in CONFIG_TAGS:
        raise Conflict(f"Tag {key!r} comes from the sandbox configuration and is read-only")
    return key


@router.get("/tag/get")
def tag_get(request: Request, q: Annotated[TagQuery, Query()]) -> dict:
    key = identifier(q.tag, "tag", max_length=256)
    with request.app.state.store.read() as db:
        value = get_tag(db, key)
    if value is None:
        raise NotFound(f"Tag {key!r} not found")
    return ok(value)


@router.get("/tag/ls")
def tag_ls(request: Request) -> dict:
    with request.app.state.store.read() as db:
        return ok({row["key"]: row["value"] for row in db.all("SELECT key, value FROM tags ORDER BY key")})


@router.post("/tag/set")
def tag_set(request: Request, body: TagSet, who: Principal = Depends(current_principal)) -> dict:
    key = _writable(body.key, who)
    with request.app.state.store.tx() as db:
        db.execute(
            "INSERT INTO tags(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, body.value),
        )
    return ok(f"Tag {key} set")


@router.delete("/tag/rm")
def tag_rm(request: Request, body: TagName, who: Principal = Depends(current_principal)) -> dict:
    key = _writable(body.tag, who)
    with request.app.state.store.tx() as db:
        if db.execute("DELETE FROM tags WHERE key = ?", (key,)).rowcount == 0:
            raise NotFound(f"Tag {key!r} not found")
    return ok(f"Tag {key} removed")
