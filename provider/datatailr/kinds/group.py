"""Kind `group`: a Datatailr group, optionally with an authoritative member set.

    [group.analysts]
    members = ["alice", "bob"]      # optional; when given, the stack owns the whole set

Members are user names in the stack and user ids on the wire (`group get` returns ids). A group
whose members are declared must not also be the target of `group_membership` resources, nor be
listed in a user's `groups` (one owner per collection: see platform.validate_stack).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from platforge.core.kind import Context, Kind, sorted_unique
from platforge.core.model import LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import Collection, FieldRule
from platforge.core.schema import expects

from ..._kit.client import NotFound
from ..models import Group
from .common import (
    BUILTIN_GROUPS,
    PrincipalName,
    Spec,
    client,
    groups,
    identities_changed,
    ignore_missing,
    names_of_users,
    user_names,
)


class GroupSpec(Spec):
    name: PrincipalName
    members: set[PrincipalName] | None = Field(default=None, json_schema_extra=expects("a list of user names"))


class GroupKind(Kind):
    name = "group"
    spec_model = GroupSpec
    identity_fields = ("name",)
    field_rules = {"members": FieldRule(collection=Collection.SET)}
    destructive = True
    builtin_names = BUILTIN_GROUPS

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model: GroupSpec) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": model.name}
        if model.members is not None:
            spec["members"] = sorted_unique(model.members)
        return spec

    def references(self, model: GroupSpec):
        return [Ref("user", member) for member in sorted(model.members or ())]

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        names = user_names(ctx)
        return [self._live(g, names) for g in groups(ctx)]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """One `group get`, plus one filtered `user ls` to name its members."""
        identity = ref.identity
        try:
            group = client(ctx).groups.get(identity[0])
        except NotFound:
            return None
        return self._live(group, names_of_users(ctx, group.members))

    def _live(self, g: Group, names: Mapping[int, str]) -> LiveObject:
        return LiveObject(
            kind=self.name, identity=(g.name,), platform_id=g.group_id, builtin=g.name in BUILTIN_GROUPS,
            fields={"name": g.name, "members": sorted(names.get(uid, f"#{uid}") for uid in g.members)},
        )

    def create(self, ctx: Context, resource: Resource) -> Any:
        api = client(ctx).groups
        created = api.add(resource.spec["name"])
        members = resource.spec.get("members") or []
        if members:
            api.add_users(resource.spec["name"], members)
        identities_changed(ctx)
        return created.group_id

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        if "members" not in changed:
            return
        api = client(ctx).groups
        want = set(resource.spec.get("members") or [])
        have = set(live.fields.get("members") or [])
        if want - have:
            api.add_users(resource.spec["name"], sorted(want - have))
        if have - want:
            api.rm_users(resource.spec["name"], sorted(have - want))
        identities_changed(ctx)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        identity = ref.identity
        ignore_missing(lambda: client(ctx).groups.rm(identity[0]))
        identities_changed(ctx)
