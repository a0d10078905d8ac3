"""A platform sandbox made only of its routes and rules, everything else from the kit.

It is what a new platform folder's `sandbox/` looks like: its own error envelope
(`{"detail": ...}`), its own auth scheme (API keys, in a header or as a bearer or `token`
credential), its own paging spelling (page index: `page`, `pageSize`, `hasNextPage`), its own
quota flag, two routes and a public one. The store, transactions, error handling, faults,
access log, serving and the command line come from `platforge.provider._kit.sandbox`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from platforge.provider._kit.sandbox.app import DEFAULT_EXEMPT_PATHS, SandboxSpec, assemble
from platforge.provider._kit.sandbox.cli import Flag, PlatformSandbox
from platforge.provider._kit.sandbox.errors import Conflict, InsufficientStorage
from platforge.provider._kit.sandbox.fields import Text
from platforge.provider._kit.sandbox.listing import PageIndexPaging, apply_listing
from platforge.provider._kit.sandbox.sessions import ApiKeyAuth, key_hash
from platforge.provider._kit.sandbox.settings import SandboxSettings
from platforge.provider._kit.sandbox.store import Db, Store, store_of

DDL = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY,
    owner    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class FakeSettings(SandboxSettings):
    max_items: int = 1000  # 0: no limit

    QUOTAS: ClassVar[tuple[str, ...]] = ("max_db_bytes", "max_items")


class DetailEnvelope:
    """DRF's error shape."""

    def body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {"detail": message}


@dataclass(frozen=True)
class Caller:
    owner: str


def lookup(db: Db, key: str) -> Caller | None:
    row = db.one("SELECT owner FROM api_keys WHERE key_hash = ?", (key_hash(key),))
    return None if row is None else Caller(row["owner"])


AUTH = ApiKeyAuth(lookup, headers=("x-api-key",), schemes=("bearer", "token"),
                  missing="Authentication credentials were not provided.", invalid="Invalid API key.")

router = APIRouter(tags=["items"])
public = APIRouter(tags=["meta"])


@router.get("/items")
def list_items(request: Request, page: Annotated[int, Query(ge=0)] = 0,
               pageSize: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:  # noqa: N803 - the wire's name
    with store_of(request).read() as db:
        rows = [dict(row) for row in db.all("SELECT id, name, owner FROM items")]
    found = apply_listing(rows, sort="id", paging=PageIndexPaging(page, pageSize))
    return {"items": found.items, "totalItemsCount": found.total, "totalPagesCount": found.page_count,
            "hasNextPage": found.has_next}


@router.post("/items")
def add_items(request: Request, names: list[Text], who: Caller = Depends(AUTH)) -> list[str]:
    """All or nothing: a duplicate anywhere in the batch stores none of it."""
    limit = request.app.state.config.max_items
    with store_of(request).tx() as db:
        for name in names:
            if db.scalar("SELECT 1 FROM items WHERE name = ?", (name,)):
                raise Conflict(f"Item {name!r} already exists")
            db.execute("INSERT INTO items(name, owner) VALUES (?, ?)", (name, who.owner))
        if limit and db.scalar("SELECT count(*) FROM items") > limit:
            raise InsufficientStorage(f"More than {limit} items (--max-items)")
    return names


@public.get("/version")
def version() -> dict:
    return {"version": "1.0"}


SPEC = SandboxSpec(
    title="Fake sandbox",
    version="1.0",
    description="A platform made of two routes.",
    envelope=DetailEnvelope(),
    auth=AUTH,
    routers=[router],
    public_routers=[public],
    prefix="/api/v1",
    exempt_paths=(*DEFAULT_EXEMPT_PATHS, "/version"),
)


def create_app(settings: FakeSettings) -> FastAPI:
    settings.validate()
    store = Store(settings.db_path, ddl=[DDL])
    admin_key = settings.admin_password or "admin-key"

    def seed(db: Db) -> None:
        db.execute("INSERT OR REPLACE INTO api_keys(key_hash, owner) VALUES (?, ?)", (key_hash(admin_key), settings.admin_user))

    store.seed(seed, max_bytes=settings.max_db_bytes)
    return assemble(SPEC, settings, store)


SANDBOX = PlatformSandbox(
    name="fake",
    title="Fake",
    help="Serve the fake platform's API on HOST:PORT.",
    settings=FakeSettings,
    create_app=create_app,
    flags=(Flag("max_items", int, after="max_db_bytes", help="Answer 507 beyond N items (0: no limit)."),),
)
