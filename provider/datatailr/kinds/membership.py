"""Kind `group_membership`: one (group, user) pair, additive.

    [group_membership.alice-in-analysts]
    group = "analysts"
    user = "alice"

For teams that do not own a group's whole member list. A group managed this way must not also
declare `members` (validated: two owners of one collection would fight on every apply).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platforge.core.kind import Context, Kind
from platforge.core.model import LiveObject, ObjectRef, Ref, Resource

from ..._kit.client import NotFound
from .common import (
    BUILTIN_GROUPS,
    DEFAULT_GROUP,
    PrincipalName,
    Spec,
    client,
    groups,
    identities_changed,
    ignore_missing,
    names_of_users,
    user_names,
)


class GroupMembershipSpec(Spec):
    group: PrincipalName
    user: PrincipalName


class GroupMembershipKind(Kind):
    name = "group_membership"
    spec_model = GroupMembershipSpec
    identity_fields = ("group", "user")
    builtin_names = frozenset()

    export_omission = ("the group's members are exported as its `members` (export kind group); only built-in "
                       "groups' members are exported as group_membership")

    def declaration_of(self, live: LiveObject, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        """Only memberships of built-in groups other than `dtusers` (every user's): other groups
        own their member list (`members`), and a collection has one owner."""
        group = live.fields.get("group")
        if group not in BUILTIN_GROUPS or group == DEFAULT_GROUP:
            return None
        return {"group": group, "user": live.fields.get("user")}

    def references(self, model: GroupMembershipSpec):
        return [Ref("group", model.group), Ref("user", model.user)]

    def scopes(self, resources, settings) -> set[Any]:
        return {r.spec["group"] for r in resources}

    def scope_of(self, identity: tuple) -> Any:
        return identity[0]

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        names = user_names(ctx)
        out = []
        for g in groups(ctx):
            if scope is not None and g.name != scope:
                continue
            for uid in g.members:
                user = names.get(uid, f"#{uid}")
                out.append(LiveObject(kind=self.name, identity=(g.name, user), platform_id=f"{g.group_id}:{uid}",
                                      fields={"group": g.name, "user": user}))
        return out

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        identity = ref.identity
        group_name, user = identity
        try:
            group = client(ctx).groups.get(group_name)
        except NotFound:
            return None
        names = names_of_users(ctx, group.members)
        for uid in group.members:
            if names.get(uid) == user:
                return LiveObject(kind=self.name, identity=identity, platform_id=f"{group.group_id}:{uid}",
                                  fields={"group": group_name, "user": user})
        return None

    def create(self, ctx: Context, resource: Resource) -> Any:
        client(ctx).groups.add_users(resource.spec["group"], [resource.spec["user"]])
        identities_changed(ctx)
        return None

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        """A membership has nothing but its identity; there is never anything to update."""

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        identity = ref.identity
        ignore_missing(lambda: client(ctx).groups.rm_users(identity[0], [identity[1]]))
        identities_changed(ctx)
