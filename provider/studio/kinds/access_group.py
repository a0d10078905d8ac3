"""Kind `access_group`: a team's access group.

    [access_group.production-team]
    description = "people who may write to production"
    # name = "production-team"          # the group's name in Studio; the table name by default

Studio gives every group a UUID and addresses it only by that id (contract §1.1); the name is
mutable in place (`PATCH`), so the kind is `identified_by_id`: the state keeps the id, a rename
is an update, and an existing group is adopted by name only when exactly one has it. The
listing (`GET …/access-groups/`) is the only read: there is no GET by id (§5.13).

`member_count` and `created_at` are Studio's own and never compared; a description Studio
returns as null is the empty string it defaults to (§4), so neither side differs over nothing.
"""

from __future__ import annotations

from typing import Any

from platforge.core.kind import Context
from platforge.core.model import Created, LiveObject, ObjectRef, Resource
from platforge.core.schema import StrictStr

from .common import FreshReads, Spec, StudioKind, StudioName, client, forget, groups, ignore_missing


class AccessGroupSpec(Spec):
    name: StudioName
    description: StrictStr | None = None


class AccessGroupKind(FreshReads, StudioKind):
    name = "access_group"
    spec_model = AccessGroupSpec
    identity_fields = ("name",)
    identified_by_id = True
    destructive = True  # deleting a group drops its members and the rules that name it

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return ("groups",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model: AccessGroupSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        if "description" in spec and spec["description"] is None:
            spec["description"] = ""
        return spec

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [LiveObject(kind=self.name, identity=(g["name"],),
                           fields={"name": g["name"], "description": g.get("description") or ""},
                           platform_id=str(g["id"]))
                for g in groups(ctx)]

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        created = client(ctx).create_group(spec["name"], spec.get("description"))
        forget(ctx, "groups", "users")
        return Created(platform_id=str(created["id"]))

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        fields = {name: resource.spec[name] for name in ("name", "description") if name in changed and name in resource.spec}
        if fields:
            client(ctx).update_group(str(live.platform_id), **fields)
        forget(ctx, "groups")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is not None:
            ignore_missing(lambda: client(ctx).delete_group(str(platform_id)))
        forget(ctx, "groups", "rules", "users")


__all__ = ["AccessGroupKind", "AccessGroupSpec"]
