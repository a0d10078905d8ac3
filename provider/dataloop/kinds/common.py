"""What the Dataloop kinds share: the run's cached listings, projects named by their Dataloop name,
and the checks every declared name and e-mail goes through.

Dataloop assigns every object a 24-hex id and names are not unique (contract §1.0, §5.8), so the
kinds with ids are `identified_by_id`: the state keeps the id, a rename is an update, and the core
adopts an existing object by name only when exactly one in its scope has that name (else it names
the candidates' ids; `--adopt ADDRESS=ID` picks one).

Kinds that live in a project name it by its Dataloop name, `project = "vision-prod"`, which is how
a stack declares the project (`[project.vision-prod]`) or lists it under `[external]`; an id
(`project = "65f0…"`) is accepted too, for a project whose name is shared. The name is turned into
the id when a listing or a write needs it, from the one project listing of the run; a name that
two projects share is refused with both ids, never guessed.

Reads cost one request per listing (per page for `…/query` listings), cached in the run's
`Context` and dropped after any write that changes them, so a read-back sees the platform.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Strict, StringConstraints

from platforge.core.errors import PlanError
from platforge.core.kind import Context
from platforge.core.model import LiveObject, ObjectRef, Ref, Resource
from platforge.core.schema import Expect

from ..._kit.client import NotFound
from ..client import DEFAULT_PAGE_SIZE, DataloopClient

#: Objects per page of a listing, for apply's choice between one listing and one read per
#: written object: the `…/query` listings page at the client's page size (1000 unless the
#: `[platform]` table says less), and the IAM listings are one request whatever their size.
LIST_PAGE_SIZE = DEFAULT_PAGE_SIZE

#: A Dataloop object id (a Mongo ObjectId).
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
#: A name Dataloop stores: 1 to 256 characters, no control characters, no surrounding spaces.
NAME_PATTERN = r"^[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]{0,254}[^\x00-\x20\x7f])?$"
DlName = Annotated[str, Strict(), StringConstraints(pattern=NAME_PATTERN),
                   Expect("a name of 1 to 256 characters, without control characters or surrounding spaces")]
#: Node and port names of a pipeline also become parts of field paths: no dots.
NODE_NAME_PATTERN = r"^[^\x00-\x20\x7f.](?:[^\x00-\x1f\x7f.]{0,254}[^\x00-\x20\x7f.])?$"
NodeName = Annotated[str, Strict(), StringConstraints(pattern=NODE_NAME_PATTERN),
                     Expect("a name of 1 to 256 characters, without dots, control characters or surrounding spaces")]
EMAIL_PATTERN = r"^[^@\s/\\?#%]{1,128}@[^@\s/\\?#%]{1,128}$"
Email = Annotated[str, Strict(), StringConstraints(pattern=EMAIL_PATTERN), Expect("an e-mail address")]
ObjectId = Annotated[str, Strict(), StringConstraints(pattern=OBJECT_ID.pattern),
                     Expect("a Dataloop id: 24 hexadecimal digits")]


class Spec(BaseModel):
    """Base of every declared schema: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def client(ctx: Context) -> DataloopClient:
    return ctx.client  # type: ignore[no-any-return]


def cached(ctx: Context, key: str, load: Callable[[], Any]) -> Any:
    """A listing read once per run (until a write invalidates it)."""
    return ctx.cached(f"dataloop:{key}", load)


def forget(ctx: Context, *keys: str) -> None:
    """Drop listings after a write. A project's listing (`datasets:vision`) may have come from
    a query over many projects (`rows_by_scope`): that query goes too, or the next read of the
    project would be answered from it again."""
    ctx.invalidate(*(f"dataloop:{key}" for key in keys))
    for key in keys:
        if ":" in key:
            ctx.invalidate_prefix(f"dataloop:{key.split(':', 1)[0]}-of:")


def ignore_missing(call: Callable[[], Any]) -> None:
    """Deleting something already gone is success (idempotent delete)."""
    try:
        call()
    except NotFound:
        pass


def is_object_id(value: Any) -> bool:
    return isinstance(value, str) and bool(OBJECT_ID.match(value))


# ---- projects as scopes -----------------------------------------------------------------------


def projects(ctx: Context) -> list[dict[str, Any]]:
    """The projects of the configured organisation, one request per run."""
    def load() -> list[dict[str, Any]]:
        api = client(ctx)
        listed = [p for p in api.list_projects() if isinstance(p, dict) and p.get("id")]
        if api.org is None:
            return listed
        org = api.org_id()
        return [p for p in listed if org_of(p) in (None, org)]

    result: list[dict[str, Any]] = cached(ctx, "projects", load)
    return result


def org_of(project: Mapping[str, Any]) -> str | None:
    org = project.get("org")
    if isinstance(org, dict):
        return str(org["id"]) if org.get("id") else None
    return str(org) if isinstance(org, str) and org else None


def project_id(ctx: Context, project: str) -> str | None:
    """The id of the project a declaration names (by name or id), None when it does not exist
    (yet); a name two projects share is refused with their ids."""
    listed = projects(ctx)
    if is_object_id(project) and any(p["id"] == project for p in listed):
        return project
    matches = [p for p in listed if p.get("name") == project]
    if len(matches) > 1:
        ids = ", ".join(str(p["id"]) for p in matches)
        raise PlanError(f"{len(matches)} Dataloop projects are named {project!r} (ids {ids}): name the one meant by "
                        f"its id (project = \"<id>\") in the objects that live in it")
    return str(matches[0]["id"]) if matches else None


def required_project_id(ctx: Context, project: str) -> str:
    """The project's id for a write: it must exist by now (the core orders projects first). The
    run's listing answers when it has the project; only a listing older than the project (made
    before this apply created it) is read again, not one listing per write."""
    found = project_id(ctx, project)
    if found is None:
        forget(ctx, "projects")
        found = project_id(ctx, project)
    if found is None:
        raise NotFound(f"project {project!r} does not exist")
    return found


def project_ref(project: str) -> list[Ref]:
    """A name refers to a declared (or external) project; an id refers to an existing one."""
    return [] if is_object_id(project) else [Ref("project", project)]


class ProjectScoped:
    """Kinds that live in a project: listed once per declared or owned project, the project
    (as the stack names it) being the first part of their identity."""

    def scopes(self, resources: Iterable[Resource], settings: Mapping[str, Any]) -> set[Any]:
        return {r.spec["project"] for r in resources}

    def scope_of(self, identity: tuple[Any, ...]) -> Any:
        return identity[0]

    def export_scopes(self, ctx: Context, listed: Mapping[str, list[LiveObject]]) -> list[Any]:
        """`platforge export`: every project of the organisation, as a stack names it."""
        scopes = {scope_of_project(ctx, p["id"]) for p in projects(ctx)}
        return sorted(s for s in scopes if s is not None)


def scope_of_project(ctx: Context, pid: Any) -> str | None:
    """The project as a stack names it, from its id: its name, or its id where two share it."""
    listed = projects(ctx)
    match = [p for p in listed if str(p.get("id")) == str(pid)]
    if not match:
        return None
    name = match[0].get("name")
    shared = sum(1 for p in listed if p.get("name") == name) > 1
    return str(pid) if shared or not isinstance(name, str) else name


class ReadsById:
    """Kinds Dataloop shows one at a time (`GET /datasets/{id}` and the like): refreshing or
    reading back one object costs one request, never a listing of its project, and an import by
    id alone (no project in hand) finds the object's project from the object itself."""

    def fetch_one(self, ctx: Context, platform_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def lives(self, ctx: Context, scope: Any, rows: list[dict[str, Any]]) -> list[LiveObject]:
        raise NotImplementedError

    def project_of(self, row: Mapping[str, Any]) -> Any:
        """The id of the project a row lives in (None for the organisation's own objects)."""
        return row.get("projectId")

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        if ref.platform_id is None:
            result: LiveObject | None = super().read(ctx, ref)  # type: ignore[misc]
            return result
        try:
            row = self.fetch_one(ctx, str(ref.platform_id))
        except NotFound:
            return None
        if not isinstance(row, dict):
            return None
        scope = self.scope_of(tuple(ref.identity)) if ref.identity else None  # type: ignore[attr-defined]
        pid = self.project_of(row)
        if scope is None and pid is not None:
            scope = scope_of_project(ctx, pid)
            if scope is None:
                return None
        found = self.lives(ctx, scope, [row])
        return found[0] if found else None


#: Projects one DQL query names (`projectId $in`, `context.projects`): Dataloop documents no
#: bound, so a body stays a few kilobytes; 10,000 objects over 200 projects cost two queries
#: (and their pages) per kind instead of 200.
PROJECTS_PER_QUERY = 100


def rows_by_scope(ctx: Context, listing_key: str, scopes: Iterable[Any],
                  query: Callable[[list[str]], list[dict[str, Any]]],
                  project_of: Callable[[Mapping[str, Any]], Any]) -> dict[Any, list[dict[str, Any]]]:
    """The rows of a `…/query` listing for every project in `scopes`, read with one query per
    `PROJECTS_PER_QUERY` projects (and its pages). Each query is cached for the run under the
    projects it names, so two kinds that need the same listing (services, and triggers naming
    their service) read it once whichever asks first; each project's rows are also kept under
    the key its own listing uses (`<listing_key>:<project>`), so apply's read-backs and lookups
    by project answer from the same read."""
    scopes_of: dict[str, list[Any]] = {}
    for scope in scopes:
        pid = project_id(ctx, scope) if scope is not None else None
        if pid is not None:
            scopes_of.setdefault(pid, []).append(scope)
    pids = sorted(scopes_of)
    out: dict[Any, list[dict[str, Any]]] = {}
    for start in range(0, len(pids), PROJECTS_PER_QUERY):
        chunk = pids[start:start + PROJECTS_PER_QUERY]
        rows: list[dict[str, Any]] = cached(ctx, f"{listing_key}-of:{','.join(chunk)}", partial(query, chunk))
        rows_of: dict[str, list[dict[str, Any]]] = {pid: [] for pid in chunk}
        for row in rows:
            owner = project_of(row)
            if owner is not None and str(owner) in rows_of:
                rows_of[str(owner)].append(row)
        for pid, held in rows_of.items():
            for scope in scopes_of[pid]:
                out[scope] = cached(ctx, f"{listing_key}:{scope}", partial(list, held))
    return out


class QueriedAcrossProjects:
    """Kinds whose `…/query` listing takes many projects at once: a plan lists every project the
    stack touches with `rows_by_scope`, one query per `PROJECTS_PER_QUERY` of them, not one per
    project."""

    lists_scopes_together = True
    listing_key: str

    def query_projects(self, ctx: Context, project_ids: list[str]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def list_scopes(self, ctx: Context, scopes: Iterable[Any]) -> list[LiveObject]:
        found = rows_by_scope(ctx, self.listing_key, scopes, lambda pids: self.query_projects(ctx, pids),
                              self.project_of)  # type: ignore[attr-defined]
        return [live for scope, rows in found.items() for live in self.lives(ctx, scope, rows)]  # type: ignore[attr-defined]


class FreshReads:
    """A read (a read-back after a write, or refreshing one object) never answers from the
    run's cache: a listing cached by another thread while this object's write was in flight
    would show the old object until the read-back's deadline."""

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        raise NotImplementedError

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """The project listing is read again only when it does not have the object's project
        (a project created after it was read): forgetting it on every read would list the
        organisation's projects once per object read."""
        identity = tuple(ref.identity)
        forget(ctx, *self.cache_keys(identity))
        if isinstance(self, ProjectScoped) and identity and identity[0] is not None \
                and project_id(ctx, str(identity[0])) is None:
            forget(ctx, "projects")
        result: LiveObject | None = super().read(ctx, ref)  # type: ignore[misc]
        return result


def camel(snake: str) -> str:
    """`pod_type` -> `podType`: the stack's field names as Dataloop's keys."""
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_wire(document: Mapping[str, Any]) -> dict[str, Any]:
    """A declared table with snake_case keys as Dataloop's camelCase document (one level deep
    for nested tables; free-form values such as `init_params` are passed as they are)."""
    return {camel(k): (to_wire(v) if isinstance(v, Mapping) else v) for k, v in document.items()}


def from_wire(document: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The `fields` (snake_case) of a camelCase document that it has."""
    return {name: document[camel(name)] for name in fields if camel(name) in document}


__all__ = [
    "LIST_PAGE_SIZE", "PROJECTS_PER_QUERY", "DlName", "Email", "FreshReads", "NodeName", "OBJECT_ID", "ObjectId", "ProjectScoped", "QueriedAcrossProjects", "Spec", "cached", "camel",
    "client", "forget", "from_wire", "ignore_missing", "is_object_id", "org_of", "project_id", "project_ref", "projects",
    "required_project_id", "rows_by_scope", "to_wire",
]
