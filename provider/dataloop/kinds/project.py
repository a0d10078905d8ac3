"""Kind `project`: a Dataloop project, the container of datasets, services, triggers, pipelines
and role bindings.

    [project.vision-prod]             # the table name is the project's name unless `name` says otherwise

Dataloop assigns the id and does not keep names unique (contract §5.8), so the id is kept in
the state and a rename (`name = "vision-v2"`) is a `PATCH /projects/{id}` of the same project.
The listing is `GET /projects` (one request, a bare array), kept to the `[platform] org` when one
is set; a project created in another organisation (the gate's default for the user) is moved
with `PATCH /projects/{id}/org`.

Deleting a project deletes everything in it, data included: it needs `--confirm-delete`.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from platforge.core.kind import Context, Kind
from platforge.core.model import Created, LiveObject, ObjectRef, Resource

from .common import LIST_PAGE_SIZE, DlName, FreshReads, ReadsById, Spec, client, forget, ignore_missing, org_of, projects


class ProjectSpec(Spec):
    name: DlName


class ProjectKind(ReadsById, FreshReads, Kind):
    name = "project"
    spec_model = ProjectSpec
    identity_fields = ("name",)
    list_page_size = LIST_PAGE_SIZE
    identified_by_id = True
    destructive = True

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return ("projects",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def delete_confirmation(self, ref: ObjectRef, live: LiveObject | None) -> str | None:
        return (f"deleting project {ref.identity[0]} deletes its datasets and their items, its services, triggers "
                "and pipelines")

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return self.lives(ctx, scope, projects(ctx))

    def fetch_one(self, ctx: Context, platform_id: str) -> dict[str, Any]:
        return client(ctx).get_project(platform_id)

    def project_of(self, row: Mapping[str, Any]) -> Any:
        return None

    def lives(self, ctx: Context, scope: Any, rows: builtins.list[dict[str, Any]]) -> builtins.list[LiveObject]:
        return [LiveObject(kind=self.name, identity=(p["name"],), fields={"name": p["name"]}, platform_id=p["id"],
                           extra={"creator": p.get("creator")})
                for p in rows if isinstance(p.get("name"), str)]

    def create(self, ctx: Context, resource: Resource) -> Created:
        api = client(ctx)
        org = api.org_id() if api.org is not None else None
        created = api.create_project(resource.spec["name"], account=org)
        project_id = str(created["id"])
        if org is not None and org_of(created) not in (None, org):  # a gate that ignored `account`
            api.move_project(project_id, org)
        forget(ctx, "projects")
        return Created(platform_id=project_id)

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        if "name" in changed:
            client(ctx).rename_project(live.platform_id, resource.spec["name"])
        forget(ctx, "projects")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is not None:
            ignore_missing(lambda: client(ctx).delete_project(platform_id))
        forget(ctx, "projects")
        ctx.invalidate_prefix("dataloop:")


__all__ = ["ProjectKind"]
