"""Datatailr resources for Pulumi programs, one class per kind the CLI manages.

    import pulumi
    from platforge.pulumi import datatailr

    admins = datatailr.Group("admins", name="platform-admins")
    alice = datatailr.User("alice", name="alice", email="alice@example.com", groups=[admins.name])
    datatailr.Secret("db-password", key="db/password", environment="prod",
                     value=pulumi.Config().require_secret("dbPassword"))

Arguments are the same fields as the TOML stack's tables (see the README), validated by the same
schemas; secret fields take the value itself as a Pulumi secret instead of a reference.
"""

from __future__ import annotations

from typing import Any

import pulumi

from .base import PlatforgeResource

Input = Any  # pulumi.Input[...] of the documented type


def _default_environment() -> str:
    """What a TOML stack's `[platform] environment` is to the CLI: the stack config
    `platforge:environment` (the provider reads the same key), else dev."""
    return pulumi.Config("platforge").get("environment") or "dev"


class Group(PlatforgeResource):
    """A group; `members` (user names), when given, is the whole member list."""

    platform = "datatailr"
    kind = "group"
    name: pulumi.Output[str]
    members: pulumi.Output[list[str] | None]

    def __init__(self, resource_name: str, *, name: Input = None, members: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"name": name if name is not None else resource_name, "members": members},
                         opts)


class User(PlatforgeResource):
    """A user. `groups` is authoritative for this user; `initial_password` is set on create only."""

    platform = "datatailr"
    kind = "user"
    name: pulumi.Output[str]
    groups: pulumi.Output[list[str] | None]

    def __init__(self, resource_name: str, *, name: Input = None, first_name: Input = None,
                 last_name: Input = None, email: Input = None, system: Input = None, enabled: Input = None,
                 groups: Input = None, initial_password: Input = None,
                 membership_owned_elsewhere: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "name": name if name is not None else resource_name, "first_name": first_name, "last_name": last_name,
            "email": email, "system": system, "enabled": enabled, "groups": groups,
            "initial_password": initial_password, "membership_owned_elsewhere": membership_owned_elsewhere,
        }, opts)


class GroupMembership(PlatforgeResource):
    """One (group, user) membership, for groups whose whole member list is not owned here."""

    platform = "datatailr"
    kind = "group_membership"
    group: pulumi.Output[str]
    user: pulumi.Output[str]

    def __init__(self, resource_name: str, *, group: Input, user: Input,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"group": group, "user": user}, opts)


class KvEntry(PlatforgeResource):
    """A KV entry in one environment (default: stack config `platforge:environment`, else dev),
    with an optional exact ACL (`{"read": {"users": [...], "groups": [...]}, ...}`)."""

    platform = "datatailr"
    kind = "kv"
    key: pulumi.Output[str]
    value: pulumi.Output[str]

    def __init__(self, resource_name: str, *, key: Input = None, value: Input, environment: Input = None,
                 acl: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "key": key if key is not None else resource_name, "value": value,
            "environment": environment if environment is not None else _default_environment(), "acl": acl,
        }, opts)


class Secret(PlatforgeResource):
    """A secure KV entry; `value` should be a Pulumi secret (it is kept secret in outputs)."""

    platform = "datatailr"
    kind = "secret"
    key: pulumi.Output[str]
    value: pulumi.Output[str]

    def __init__(self, resource_name: str, *, key: Input = None, value: Input, environment: Input = None,
                 acl: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "key": key if key is not None else resource_name, "value": pulumi.Output.secret(value)
            if not isinstance(value, pulumi.Output) else value,
            "environment": environment if environment is not None else _default_environment(), "acl": acl,
        }, opts)


#: Kind name -> class, so a TOML stack can be declared generically (stacks/__main__.py).
RESOURCES: dict[str, type[PlatforgeResource]] = {
    cls.kind: cls for cls in (Group, User, GroupMembership, KvEntry, Secret)
}
