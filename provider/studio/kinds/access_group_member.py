"""Kind `access_group_member`: one user in one access group, with a role.

    [access_group_member.prod-alice]
    group = "production-team"            # a declared (or [external]) access_group
    user = "alice@example.com"           # the user, by e-mail
    role = "write"                       # read, write, admin (contract §5.3: only "write" is documented)

A member is the pair (group, user) and nothing else names it (contract §1.2): it is the
identity, so a change to either is a replace (the old membership goes, the new one comes), and
only `role` changes in place (`PATCH …/members/{user_id}/`).

Studio's API knows users only by integer id; stacks name them by e-mail, turned into the id from
the group-members data source (see `common.py`): an e-mail no group or rule of the team shows is
a plan error at the declaration, before any request that writes. The listing is one request per
group (`GET …/access-groups/{id}/members/`); `username` and `email` in it are Studio's own and
only used to name the user. A role left undeclared is Studio's (it defaults one on create).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from platforge.core.kind import Context
from platforge.core.model import Created, LiveObject, ObjectRef, Ref, Resource
from platforge.core.schema import Name, expects

from .common import (
    Email,
    Spec,
    StudioKind,
    StudioName,
    client,
    forget,
    group_id,
    groups,
    ignore_missing,
    members,
    required_group_id,
    user_id_of,
)


class AccessGroupMemberSpec(Spec):
    group: StudioName
    user: Email
    role: Name | None = Field(default=None, json_schema_extra=expects("a role such as \"write\""))


class GroupScoped:
    """Members are listed once per declared or owned group, the group (as the stack names it)
    being the first part of their identity."""

    def scopes(self, resources: Any, settings: Any) -> set[Any]:
        return {r.spec["group"] for r in resources}

    def scope_of(self, identity: tuple[Any, ...]) -> Any:
        return identity[0]

    def export_scopes(self, ctx: Context, listed: Mapping[str, list[LiveObject]]) -> list[Any]:
        """`platforge export`: the members of every group of the team (the group listing)."""
        return sorted({str(g["name"]) for g in groups(ctx)})


class AccessGroupMemberKind(GroupScoped, StudioKind):
    name = "access_group_member"
    spec_model = AccessGroupMemberSpec
    identity_fields = ("group", "user")

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        if isinstance(raw.get("user"), str):
            raw["user"] = raw["user"].strip().lower()
        return raw

    def references(self, model: AccessGroupMemberSpec) -> list[Ref]:  # type: ignore[override]
        return [Ref("access_group", model.group)]

    def desired(self, ctx: Context, resource: Resource) -> Resource:
        """The user must be one Studio shows, so that its id is known for the write (a plan
        error at the declaration otherwise, before any write)."""
        user_id_of(ctx, resource, resource.spec["user"])
        return resource

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        if scope is None:
            return []
        gid = group_id(ctx, scope)
        if gid is None:
            return []
        found = []
        for row in members(ctx, gid):
            uid = int(row["user_id"])
            email = row["email"].lower() if isinstance(row.get("email"), str) and row["email"] else f"user-{uid}"
            found.append(LiveObject(kind=self.name, identity=(scope, email),
                                    fields={"group": scope, "user": email, "role": row.get("role")},
                                    platform_id=f"{gid}/{uid}"))
        return found

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """Never from the run's cache: a listing cached while a write was in flight would show
        the group's members as they were."""
        gid = group_id(ctx, ref.identity[0])
        if gid is not None:
            forget(ctx, f"members:{gid}")
        return super().read(ctx, ref)

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        gid = required_group_id(ctx, spec["group"])
        uid = user_id_of(ctx, resource, spec["user"])
        client(ctx).add_member(gid, int(uid), spec.get("role"))
        forget(ctx, f"members:{gid}")
        return Created(platform_id=f"{gid}/{uid}")

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        gid, uid = str(live.platform_id).split("/", 1)
        if "role" in changed and spec.get("role"):
            client(ctx).update_member(gid, int(uid), spec["role"])
        forget(ctx, f"members:{gid}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is None:
            return
        gid, uid = str(platform_id).split("/", 1)
        ignore_missing(lambda: client(ctx).remove_member(gid, int(uid)))
        forget(ctx, f"members:{gid}")


__all__ = ["AccessGroupMemberKind", "AccessGroupMemberSpec", "GroupScoped"]
