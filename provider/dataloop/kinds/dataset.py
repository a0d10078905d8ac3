"""Kind `dataset`: a Dataloop dataset in a project: where items (images, files) and their
annotations live.

    [dataset.raw]
    project = "vision-prod"
    name = "raw"                      # the table name unless `name` says otherwise
    expiration_days = 30              # set on create only (items expire after so many days)
    # driver = "<storage driver id>"  # set on create only (the bucket behind it)
    # index_driver = "v2"             # set on create only
    # deletion_protection = false     # only then may the stack delete it (default: protected)

Deleting a dataset deletes its items: data, not configuration, which no apply can bring back.
So a dataset is protected from deletion unless its stack explicitly allows it, as Terraform
providers' `deletion_protection` works: pruning it (or a Pulumi destroy) is refused before the
first write while the declaration last applied protects it, whatever flag is given. To delete
one, apply `deletion_protection = false` first (an update that writes nothing to Dataloop:
the setting is platforge's own), then remove it. Nor does platforge delete one to re-create
it: `driver`, `index_driver` and `expiration_days` cannot change in place on Dataloop
(contract §4), and a declared change of them is refused, with the reason, before any write
(declare a new dataset instead, and move the items).

Ids are Dataloop's and names are not unique: a rename is a `PATCH /datasets/{id} {name}`. The
listing is `POST /datasets/query` with `context.projects`, every page of it.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from platforge.core.kind import Context, Kind
from platforge.core.model import Created, FieldChange, LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import FieldRule
from platforge.core.schema import StrictBool, StrictInt, expects

from .common import (
    LIST_PAGE_SIZE,
    DlName,
    FreshReads,
    ObjectId,
    ProjectScoped,
    QueriedAcrossProjects,
    ReadsById,
    Spec,
    cached,
    client,
    forget,
    ignore_missing,
    project_id,
    project_ref,
    required_project_id,
)

#: Fields Dataloop sets on create only: a change would mean a new dataset.
CREATE_ONLY = ("driver", "index_driver", "expiration_days")


class DatasetSpec(Spec):
    project: DlName
    name: DlName
    driver: ObjectId | None = None
    index_driver: Literal["v1", "v2"] | None = None
    expiration_days: StrictInt | None = Field(default=None, ge=1,
                                              json_schema_extra=expects("a positive number of days"))
    deletion_protection: StrictBool = True


def _live_fields(scope: str, row: dict[str, Any]) -> dict[str, Any]:
    expiration = row.get("expirationOptions")
    fields: dict[str, Any] = {"project": scope, "name": row.get("name"), "driver": row.get("driver"),
                              "index_driver": row.get("indexDriver"),
                              "expiration_days": expiration.get("itemMaxDays") if isinstance(expiration, dict) else None}
    return fields


class DatasetKind(QueriedAcrossProjects, ReadsById, ProjectScoped, FreshReads, Kind):
    name = "dataset"
    spec_model = DatasetSpec
    identity_fields = ("project", "name")
    list_page_size = LIST_PAGE_SIZE
    identified_by_id = True
    destructive = True
    field_rules = {"deletion_protection": FieldRule(local=True)}

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return (f"datasets:{identity[0]}",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def references(self, model: DatasetSpec) -> list[Ref]:  # type: ignore[override]
        return project_ref(model.project)

    def delete_refusal(self, spec: Mapping[str, Any]) -> str | None:
        if spec.get("deletion_protection", True) is False:
            return None
        return ("its items and annotations would be lost, and the stack protects it: apply deletion_protection = false "
                "first, then remove it")

    def refuse_write(self, ctx: Context, resource: Resource, live: LiveObject, changes: list[FieldChange],
                     adopting: bool) -> str | None:
        fixed = sorted({c.path.split(".")[0] for c in changes} & set(CREATE_ONLY))
        if not fixed:
            return None
        return (f"{', '.join(fixed)} cannot change on an existing dataset, and platforge never deletes a dataset "
                "to re-create it (its items would be lost): declare a new dataset instead")

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        if scope is None:
            return []
        pid = project_id(ctx, scope)
        if pid is None:
            return []
        rows = cached(ctx, f"datasets:{scope}", lambda: client(ctx).list_datasets(pid))
        return self.lives(ctx, scope, rows)

    listing_key = "datasets"

    def query_projects(self, ctx: Context, project_ids: builtins.list[str]) -> builtins.list[dict[str, Any]]:
        return client(ctx).list_datasets_in(project_ids)

    def fetch_one(self, ctx: Context, platform_id: str) -> dict[str, Any]:
        return client(ctx).get_dataset(platform_id)

    def project_of(self, row: Mapping[str, Any]) -> Any:
        owners = row.get("projects")
        return owners[0] if isinstance(owners, list) and owners else None

    def lives(self, ctx: Context, scope: Any, rows: builtins.list[dict[str, Any]]) -> builtins.list[LiveObject]:
        return [LiveObject(kind=self.name, identity=(scope, row["name"]), fields=_live_fields(scope, row),
                           platform_id=row["id"])
                for row in rows if row.get("id") and isinstance(row.get("name"), str)]

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        pid = required_project_id(ctx, spec["project"])
        body: dict[str, Any] = {"name": spec["name"], "projects": [pid], "createDefaultRecipe": True}
        if spec.get("driver"):
            body["driver"] = spec["driver"]
        if spec.get("index_driver"):
            body["indexDriver"] = spec["index_driver"]
        if spec.get("expiration_days") is not None:
            body["expirationOptions"] = {"itemMaxDays": spec["expiration_days"]}
        created = client(ctx).create_dataset(body)
        forget(ctx, f"datasets:{spec['project']}")
        return Created(platform_id=str(created["id"]))

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        if "name" in changed:
            client(ctx).patch_dataset(live.platform_id, {"name": resource.spec["name"]})
        forget(ctx, f"datasets:{resource.spec['project']}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is not None:
            ignore_missing(lambda: client(ctx).delete_dataset(platform_id))
        forget(ctx, f"datasets:{ref.identity[0]}")


__all__ = ["DatasetKind"]
