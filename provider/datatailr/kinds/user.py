"""Kind `user`: a Datatailr user.

    [user.alice]
    first_name = "Alice"
    last_name = "Liddell"
    email = "alice@example.com"
    groups = ["analysts"]                               # optional, authoritative for this user
    initial_password = { from_env = "ALICE_PASSWORD" }  # optional, set on create only

Field rules:
- `system` cannot be cleared in place (the API only sets the flag), so changing it replaces.
- every user is in the platform's default group `dtusers`; it is added to declared `groups`
  so that the server's implied membership never shows up as a diff.
- groups whose membership another resource owns (a group with `members`, or a
  `group_membership`) are left out of the comparison and preserved on update.
- `enabled` is compared only when the server reports `disabled` (the sandbox does; the
  contract does not promise it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import EmailStr, Field

from platforge.core.kind import Context, Kind, sorted_unique
from platforge.core.model import LiveObject, ObjectRef, Ref, Resource
from platforge.core.rules import Collection, FieldRule
from platforge.core.schema import Name, StrictBool, expects
from platforge.core.secrets import SecretRef

from ..._kit.client import NotFound
from ..models import User
from .common import DEFAULT_GROUP, PrincipalName, Spec, client, identities_changed, ignore_missing, signed_in_user, users

MEMBERSHIP_OWNED_ELSEWHERE = "datatailr.membership_owned_groups"


class UserSpec(Spec):
    name: PrincipalName
    first_name: Name | None = None
    last_name: Name | None = None
    email: EmailStr | None = Field(default=None, json_schema_extra=expects("an email address"))
    system: StrictBool = False
    enabled: StrictBool | None = None
    groups: set[PrincipalName] | None = Field(default=None, json_schema_extra=expects("a list of group names"))
    initial_password: SecretRef | None = None


class UserKind(Kind):
    name = "user"
    spec_model = UserSpec
    identity_fields = ("name",)
    field_rules = {
        "system": FieldRule(replace=True),  # the API sets the flag but cannot clear it in place
        "initial_password": FieldRule(create_only=True),
        "groups": FieldRule(collection=Collection.SET),
    }
    destructive = True
    settings_used = frozenset({MEMBERSHIP_OWNED_ELSEWHERE})

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def declaration_of(self, live: LiveObject, settings: Mapping[str, Any]) -> dict[str, Any] | None:
        """Exported without `groups`: an export declares membership on the group (`members`),
        and in a built-in group as `group_membership` (one owner per collection)."""
        declaration = super().declaration_of(live, settings)
        if declaration is not None:
            declaration.pop("groups", None)
        return declaration

    def normalise_fields(self, fields: dict[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
        """Groups whose membership another resource owns (a group's `members`, or a
        group_membership) are that resource's business, not this user's."""
        elsewhere = set(settings.get(MEMBERSHIP_OWNED_ELSEWHERE, ()))
        if elsewhere and isinstance(fields.get("groups"), list):
            fields = {**fields, "groups": [g for g in fields["groups"] if g not in elsewhere]}
        return fields

    def canonical_spec(self, model: UserSpec) -> dict[str, Any]:
        spec = super().canonical_spec(model)
        spec["system"] = model.system
        spec.pop("initial_password", None)
        if model.groups is not None:
            spec["groups"] = sorted_unique(set(model.groups) | {DEFAULT_GROUP})
        return spec

    def references(self, model: UserSpec):
        return [Ref("group", g) for g in sorted(model.groups or ()) if g != DEFAULT_GROUP]

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [self._live(ctx, u) for u in users(ctx)]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        """One `user get`: read-back after a write must not list every user again."""
        identity = ref.identity
        try:
            return self._live(ctx, client(ctx).users.get(identity[0]))
        except NotFound:
            return None

    def _live(self, ctx: Context, u: User) -> LiveObject:
        fields: dict[str, Any] = self.normalise_fields({
            "name": u.name, "first_name": u.first_name, "last_name": u.last_name,
            "email": u.email or None, "system": u.is_system, "groups": sorted(set(u.groups)),
        }, ctx.settings)
        if u.disabled is not None:
            fields["enabled"] = not u.disabled
        return LiveObject(kind=self.name, identity=(u.name,), platform_id=u.user_id, fields=fields,
                          extra={"all_groups": sorted(u.groups)},
                          builtin=u.name == signed_in_user(ctx) or u.user_id == 0)

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        api = client(ctx).users
        created = api.add(
            spec["name"],
            first_name=spec.get("first_name") or "",
            last_name=spec.get("last_name") or "",
            email=spec.get("email"),
            password=None if spec["system"] else resource.secrets.get("initial_password"),
            groups=spec.get("groups"),
            system=spec["system"],
        )
        if spec.get("enabled") is False:
            api.disable(spec["name"])
        identities_changed(ctx)
        return created.user_id

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        api = client(ctx).users
        fields = {f: spec.get(f) for f in ("first_name", "last_name", "email") if f in changed}
        groups = None
        if "groups" in changed:
            elsewhere = set(ctx.settings.get(MEMBERSHIP_OWNED_ELSEWHERE, ()))
            kept = {g for g in live.extra.get("all_groups", []) if g in elsewhere}
            groups = sorted(set(spec.get("groups") or []) | kept)
        if fields or groups is not None:
            api.modify(
                spec["name"],
                first_name=fields.get("first_name") if "first_name" in fields else None,
                last_name=fields.get("last_name") if "last_name" in fields else None,
                email=fields.get("email") if "email" in fields else None,
                groups=groups,
            )
        if "enabled" in changed:
            (api.enable if spec.get("enabled") else api.disable)(spec["name"])
        identities_changed(ctx)

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        identity = ref.identity
        ignore_missing(lambda: client(ctx).users.rm(identity[0]))
        identities_changed(ctx)
