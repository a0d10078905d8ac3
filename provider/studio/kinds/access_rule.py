"""Kind `access_rule`: a permission on a resource for exactly one principal, a user or a group.

    [access_rule.prod-writes-dev]
    resource_type = "namespace"          # namespace, project, dataset (contract §5.3)
    resource_id = "dev"                  # the resource: its id, UUID or name, as Studio takes it
    permission = "write"
    group = "production-team"            # a declared (or [external]) access_group …
    # user = "alice@example.com"         # … or a user by e-mail: exactly one of the two

Exactly one principal is checked when the stack is read (a model validator), so a rule for
nobody, or for a user and a group at once, fails naming the file, the line and the fields before
any request; the contract infers "exactly one" (§1.3) where the API accepts both.

A rule has a server UUID and no name (§1.3): its natural key is what it grants on what to whom,
(resource_type, resource_id, principal), and the kind is `identified_by_id`, so the state keeps
the UUID. Only `permission` changes in place (`PATCH`); a change of resource or principal is a
replace (delete, then create). The principal is compared as `user:<e-mail>` or
`group:<group>`.

`resource_id` goes in as a string and comes back as an integer with `resource_uuid` and
`resource_name` (§5.4): a live rule shows, of those three, the form the stack declares for it
(the platform's settings carry the declared ones), so `"dev"`, `"7"` and the UUID all match the
same rule. `user_email` and `group_name` are Studio's own (§4): the group is named from the
group listing, which follows a rename. The listing (`GET …/access-rules/`) is the only read.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from platforge.core.kind import Context
from platforge.core.model import Created, LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import FieldRule
from platforge.core.schema import Name, expects

from .common import (
    RULE_RESOURCES,
    Email,
    FreshReads,
    Spec,
    StudioKind,
    StudioName,
    client,
    declared_resource_ids,
    email_of,
    forget,
    group_name_of,
    ignore_missing,
    required_group_id,
    rules,
    user_id_of,
)


class AccessRuleSpec(Spec):
    resource_type: StudioName = Field(json_schema_extra=expects("a resource type such as \"namespace\""))
    resource_id: StudioName = Field(json_schema_extra=expects("the resource's id, UUID or name"))
    permission: Name = Field(json_schema_extra=expects("a permission such as \"write\""))
    user: Email | None = None
    group: StudioName | None = None

    @model_validator(mode="after")
    def _exactly_one_principal(self) -> AccessRuleSpec:
        if self.user is not None and self.group is not None:
            raise ValueError("an access rule is for exactly one principal: set `user` or `group`, not both")
        if self.user is None and self.group is None:
            raise ValueError("an access rule is for exactly one principal: set `user` (an e-mail) or `group` "
                             "(an access group)")
        return self

    @property
    def principal(self) -> str:
        """The identity's third part (not a field a stack sets): made from `user` or `group`."""
        return principal_of(self.user, self.group)


def principal_of(user: Any, group: Any) -> str:
    return f"user:{user}" if user is not None else f"group:{group}"


class AccessRuleKind(FreshReads, StudioKind):
    name = "access_rule"
    spec_model = AccessRuleSpec
    identity_fields = ("resource_type", "resource_id", "principal")
    identified_by_id = True
    field_rules = {name: FieldRule(replace=True) for name in ("resource_type", "resource_id", "user", "group",
                                                              "principal")}
    settings_used = frozenset({RULE_RESOURCES})

    def cache_keys(self, identity: tuple[Any, ...]) -> tuple[str, ...]:
        return ("rules",)

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        if isinstance(raw.get("user"), str):
            raw["user"] = raw["user"].strip().lower()
        return raw

    def identity_of_name(self, name: str) -> tuple[Any, ...]:
        """`[external] access_rule = ["namespace/dev/group:prod"]`."""
        parts = name.split("/", 2)
        return tuple(parts) if len(parts) == 3 else (name,)

    def references(self, model: AccessRuleSpec) -> list[Ref]:  # type: ignore[override]
        return [Ref("access_group", model.group)] if model.group is not None else []

    def desired(self, ctx: Context, resource: Resource) -> Resource:
        """A user named by e-mail must be one Studio shows (a plan error otherwise)."""
        if resource.spec.get("user") is not None:
            user_id_of(ctx, resource, resource.spec["user"])
        return resource

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        declared = declared_resource_ids(ctx.settings)
        found = []
        for row in rules(ctx):
            resource_type = row.get("resource_type")
            aliases = [str(a) for a in (row.get("resource_id"), row.get("resource_uuid"), row.get("resource_name"))
                       if a is not None]
            if not aliases:
                continue
            user = email_of(ctx, row.get("user_id"), row.get("user_email")) if row.get("user_id") is not None else None
            group = group_name_of(ctx, row["group_id"], row.get("group_name")) if row.get("group_id") else None
            if user is None and row.get("user_id") is not None:
                user = f"user-{row['user_id']}"
            principal = principal_of(user, group) if (user is None) != (group is None) else \
                f"user:{user}+group:{group}"  # both (Studio allows it): never what a stack declares
            resource = next((a for a in aliases if (resource_type, a, principal) in declared),
                            row.get("resource_name") or aliases[0])
            fields = {"resource_type": resource_type, "resource_id": resource, "permission": row.get("permission"),
                      "user": user, "group": group, "principal": principal}
            found.append(LiveObject(kind=self.name, identity=(resource_type, resource, principal), fields=fields,
                                    platform_id=str(row["id"])))
        return found

    def create(self, ctx: Context, resource: Resource) -> Created:
        spec = resource.spec
        if spec.get("group") is not None:
            created = client(ctx).create_rule(spec["resource_type"], spec["resource_id"], spec["permission"],
                                              group_id=required_group_id(ctx, spec["group"]))
        else:
            created = client(ctx).create_rule(spec["resource_type"], spec["resource_id"], spec["permission"],
                                              user_id=user_id_of(ctx, resource, spec["user"]))
        forget(ctx, "rules")
        return Created(platform_id=str(created["id"]))

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        if "permission" in changed:
            client(ctx).update_rule(str(live.platform_id), resource.spec["permission"])
        forget(ctx, "rules")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        platform_id = ref.platform_id if ref.platform_id is not None else (live.platform_id if live else None)
        if platform_id is not None:
            ignore_missing(lambda: client(ctx).delete_rule(str(platform_id)))
        forget(ctx, "rules")


__all__ = ["AccessRuleKind", "AccessRuleSpec", "principal_of"]
