"""What the DSS kinds share: names DSS can address, the run's cached listings and documents, and
read-modify-write.

Every DSS object is a settings document written whole (`GET` → change → `PUT`, no PATCH,
contract §2.6), shared with people using the UI and with other tools. A kind therefore owns only
the fields it declares: it reads the document, sets those fields, and sends back every other
field exactly as it was read (unknown `may*` flags, `creationTag`, fields of a newer DSS). The
field map of each kind (`FIELDS`: stack field -> document key) is data, next to its field rules.

Reads cost one request per listing, or per settings document where no listing carries the
fields; both are cached in the run's `Context` and dropped after any write that changes them,
so a read-back after a write sees the platform, never the cache.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Strict, StringConstraints

from platforge.core.kind import Context, Kind
from platforge.core.model import LiveObject, ObjectRef, Resource
from platforge.core.schema import Expect

from ..._kit.client import NotFound
from ..client import DataikuClient

#: Users, groups, connections, code environments: any name DSS can address in a path (the path
#: escapes it) except control characters; at most 255 characters.
DSS_NAME_PATTERN = r"^[^\x00-\x1f\x7f]{1,255}$"
DssName = Annotated[str, Strict(), StringConstraints(pattern=DSS_NAME_PATTERN),
                    Expect("a name of 1 to 255 characters without control characters")]
#: Project keys (contract §5.19: the UI proposes `[A-Z0-9_]+`; DSS accepts letters, digits, `_`).
PROJECT_KEY_PATTERN = r"^[A-Za-z0-9_]{1,100}$"
ProjectKey = Annotated[str, Strict(), StringConstraints(pattern=PROJECT_KEY_PATTERN),
                       Expect("a project key: letters, digits and _")]

#: Groups a fresh DSS has; a stack may refer to them without declaring them.
BUILTIN_GROUPS = frozenset({"administrators"})
#: The setting that names the owner of a project a stack creates without declaring one.
PROJECT_OWNER = "dataiku.project_owner"


class Spec(BaseModel):
    """Base of every declared schema: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class DssKind(Kind):
    """Every DSS kind: DSS returns each listing whole, never in pages (contract §2.7), so one
    listing reads back any number of objects written in a level."""

    list_page_size = None


def client(ctx: Context) -> DataikuClient:
    return ctx.client  # type: ignore[no-any-return]


def cached(ctx: Context, key: str, load: Callable[[], Any]) -> Any:
    """A listing or document read once per run (until a write invalidates it)."""
    return ctx.cached(f"dataiku:{key}", load)


def forget(ctx: Context, *keys: str) -> None:
    if "projects" in keys:
        keys = (*keys, "project-keys")
    ctx.invalidate(*(f"dataiku:{key}" for key in keys))


def fetch(load: Callable[[], Any]) -> Any:
    """One object's document read now, never from the run's cache, or None when it is absent:
    reading one object back (or refreshing one, `--refresh per-object`) costs one request, not
    a listing of its whole kind."""
    try:
        return load()
    except NotFound:
        return None


class FreshReads:
    """A read (the read-back after a write, or refreshing one object) never answers from the
    run's cache: a listing cached by another thread while this object's write was in flight
    would show the old object until the read-back's deadline."""

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        raise NotImplementedError

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        forget(ctx, *self.cache_keys(tuple(ref.identity)))
        result: LiveObject | None = super().read(ctx, ref)  # type: ignore[misc]
        return result


class ProjectScoped:
    """Kinds that live inside a project (grants, project variables, scenarios): listed once per
    declared or owned project, the project being the first part of their identity.

    A project the project listing does not show is not asked for its documents: a stack that
    creates its projects would otherwise spend two 404s per new project in every plan (the
    preview and the plan under the lock), requests an apply's budget needs for writes."""

    def scopes(self, resources: Iterable[Resource], settings: Mapping[str, Any]) -> set[Any]:
        return {r.spec["project"] for r in resources}

    def scope_of(self, identity: tuple[Any, ...]) -> Any:
        return identity[0]

    def list_in(self, ctx: Context, project: Any) -> list[LiveObject]:
        """Every object of the kind in `project`, which the caller believes exists."""
        raise NotImplementedError

    def export_scopes(self, ctx: Context, listed: Mapping[str, list[LiveObject]]) -> list[Any]:
        """`platforge export`: every project the project listing shows."""
        projects = cached(ctx, "projects", client(ctx).list_projects)
        return sorted({str(p["projectKey"]) for p in projects if isinstance(p, dict) and p.get("projectKey")})

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        if scope is None or not self.project_listed(ctx, scope):
            return []
        return self.list_in(ctx, scope)

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """One object, asked of its project whatever the cached project listing says: a read
        back after a write must see the platform, and that listing may predate the project."""
        identity = tuple(ref.identity)
        if isinstance(self, FreshReads):
            forget(ctx, *self.cache_keys(identity))
        found = self.list_in(ctx, self.scope_of(identity))
        if ref.platform_id is not None:
            for live in found:
                if live.platform_id == ref.platform_id:
                    return live
            if getattr(self, "identified_by_id", False):
                return None
        return next((live for live in found if tuple(live.identity) == identity), None)

    @staticmethod
    def project_listed(ctx: Context, key: Any) -> bool:
        keys: frozenset[str] = cached(ctx, "project-keys", lambda: frozenset(
            str(p.get("projectKey")) for p in cached(ctx, "projects", client(ctx).list_projects)
            if isinstance(p, dict)))
        return str(key) in keys


def document_or_none(ctx: Context, key: str, load: Callable[[], Any]) -> Any:
    """A cached document, or None when its owner does not exist (404, or DSS's 500 'not found')."""
    def read() -> Any:
        try:
            return load()
        except NotFound:
            return None

    return cached(ctx, key, read)


#: Settings documents read at once when a listing does not carry what a kind compares (scenario
#: triggers, code-environment packages): one request each is unavoidable, waiting for each in
#: turn is not; the client's rate limiter keeps them within the budget.
DOCUMENT_READS_AT_ONCE = 8


def read_each(read: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """`read(item)` for every item, several at a time, answers in the items' order."""
    if len(items) <= 1:
        return [read(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(DOCUMENT_READS_AT_ONCE, len(items))) as pool:
        return list(pool.map(read, items))


def ignore_missing(call: Callable[[], Any]) -> None:
    """Deleting something already gone is success (idempotent delete)."""
    try:
        call()
    except NotFound:
        pass


def read_fields(document: Mapping[str, Any], fields: Mapping[str, str]) -> dict[str, Any]:
    """The stack's view of a document: stack field -> the value under its document key."""
    return {name: document.get(key) for name, key in fields.items() if key in document}


def modified(document: Mapping[str, Any], fields: Mapping[str, str], spec: Mapping[str, Any],
             changed: Iterable[str]) -> dict[str, Any]:
    """A copy of `document` with the `changed` declared fields set, and every other key (known
    to this kind or not) exactly as it was read."""
    out = copy.deepcopy(dict(document))
    for name in changed:
        if name in fields and name in spec:
            out[fields[name]] = copy.deepcopy(spec[name])
    return out


def sorted_names(values: Iterable[Any] | None) -> list[str]:
    return sorted({str(v) for v in values or ()})


def snake(camel: str) -> str:
    """`mayCreateProjects` -> `may_create_projects`: DSS's document keys as stack fields."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
