"""Datatailr resources for Pulumi programs, one class per kind the CLI manages.

    import pulumi
    from platforge.pulumi import datatailr

    admins = datatailr.Group("admins", name="platform-admins")
    alice = datatailr.User("alice", name="alice", email="alice@example.com", groups=[admins.name])
    datatailr.Secret("db-password", key="db/password", environment="prod",
                     value=pulumi.Config().require_secret("dbPassword"))

Arguments are the same fields as the TOML stack's tables (see the README), validated by the same
schemas; secret fields (`User.initial_password`, `Secret.value`) take the value itself instead of
a reference, and are stored as Pulumi secrets whatever form they are given in.

Each class has its own Pulumi type, `pulumi-python:dynamic/datatailr:<Class>`, so a group and a
user may share a name. `adopt=True` lets `pulumi up` take over an object that already exists on
the platform (found by its natural key) instead of failing: the same consent `platforge apply
--adopt` asks for. It matters only when the resource is created.
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


class Group(PlatforgeResource, module="datatailr", name="Group"):
    """A group; `members` (user names), when given, is the whole member list."""

    platform = "datatailr"
    kind = "group"
    name: pulumi.Output[str]
    members: pulumi.Output[list[str] | None]

    def __init__(self, resource_name: str, *, name: Input = None, members: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"name": name if name is not None else resource_name, "members": members,
                                         "adopt": adopt}, opts)


class User(PlatforgeResource, module="datatailr", name="User"):
    """A user. `groups` is authoritative for this user, except the groups named in
    `membership_owned_elsewhere` (whose member lists other resources own); `initial_password` is
    set on create only and always stored as a Pulumi secret."""

    platform = "datatailr"
    kind = "user"
    name: pulumi.Output[str]
    groups: pulumi.Output[list[str] | None]

    def __init__(self, resource_name: str, *, name: Input = None, first_name: Input = None,
                 last_name: Input = None, email: Input = None, system: Input = None, enabled: Input = None,
                 groups: Input = None, initial_password: Input = None,
                 membership_owned_elsewhere: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "name": name if name is not None else resource_name, "first_name": first_name, "last_name": last_name,
            "email": email, "system": system, "enabled": enabled, "groups": groups,
            "initial_password": initial_password, "membership_owned_elsewhere": membership_owned_elsewhere,
            "adopt": adopt,
        }, opts)


class GroupMembership(PlatforgeResource, module="datatailr", name="GroupMembership"):
    """One (group, user) membership, for groups whose whole member list is not owned here."""

    platform = "datatailr"
    kind = "group_membership"
    group: pulumi.Output[str]
    user: pulumi.Output[str]

    def __init__(self, resource_name: str, *, group: Input, user: Input, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"group": group, "user": user, "adopt": adopt}, opts)


class KvEntry(PlatforgeResource, module="datatailr", name="KvEntry"):
    """A KV entry in one environment (default: stack config `platforge:environment`, else dev),
    with an optional exact ACL (`{"read": {"users": [...], "groups": [...]}, ...}`)."""

    platform = "datatailr"
    kind = "kv"
    key: pulumi.Output[str]
    value: pulumi.Output[str]

    def __init__(self, resource_name: str, *, key: Input = None, value: Input, environment: Input = None,
                 acl: Input = None, adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "key": key if key is not None else resource_name, "value": value,
            "environment": environment if environment is not None else _default_environment(), "acl": acl,
            "adopt": adopt,
        }, opts)


class Secret(PlatforgeResource, module="datatailr", name="Secret"):
    """A secure KV entry; `value` is always stored as a Pulumi secret. Adopting an existing one
    (`adopt=True`) needs a declared `acl`: writing a secret into an entry whose readers someone
    else controls is refused."""

    platform = "datatailr"
    kind = "secret"
    key: pulumi.Output[str]
    value: pulumi.Output[str]

    def __init__(self, resource_name: str, *, key: Input = None, value: Input, environment: Input = None,
                 acl: Input = None, adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "key": key if key is not None else resource_name, "value": value,
            "environment": environment if environment is not None else _default_environment(), "acl": acl,
            "adopt": adopt,
        }, opts)


class _Job(PlatforgeResource):
    """What every job takes: `display_name` (default: the resource name; its normalised form
    is the job's name), `image` (`{"python_version", "requirements", "source": {"path": ...}}`),
    `memory` ("256m"), `cpus`, `vram`, `env` (a dict), `run_as`, `acl`. `revision` is the
    version the last save produced: pass it to a `Promotion`."""

    platform = "datatailr"
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None,
                 name: Input = None) -> None:
        # `name` is derived from display_name (the platform's rule); a TOML stack's canonical
        # form carries it, and the schema checks it agrees.
        props["display_name"] = props.get("display_name") or resource_name
        super().__init__(resource_name, props, opts)


class Service(_Job, module="datatailr", name="Service"):
    """A service: `entrypoint` ("module:function"), `state` ("running" or "stopped")."""

    kind = "service"

    def __init__(self, resource_name: str, *, entrypoint: Input, display_name: Input = None, image: Input = None,
                 memory: Input = None, cpus: Input = None, vram: Input = None, env: Input = None,
                 run_as: Input = None, acl: Input = None, app_section: Input = None, state: Input = None,
                 adopt: Input = None, name: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "entrypoint": entrypoint, "display_name": display_name, "image": image, "memory": memory, "cpus": cpus,
            "vram": vram, "env": env, "run_as": run_as, "acl": acl, "app_section": app_section, "state": state,
            "adopt": adopt}, opts, name)


class App(_Job, module="datatailr", name="App"):
    """An app: a service with a `framework` (streamlit, dash, ...) and an `app_section`."""

    kind = "app"

    def __init__(self, resource_name: str, *, entrypoint: Input, framework: Input = None, display_name: Input = None,
                 image: Input = None, memory: Input = None, cpus: Input = None, vram: Input = None,
                 env: Input = None, run_as: Input = None, acl: Input = None, app_section: Input = None,
                 state: Input = None, adopt: Input = None, name: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "entrypoint": entrypoint, "framework": framework, "display_name": display_name, "image": image,
            "memory": memory, "cpus": cpus, "vram": vram, "env": env, "run_as": run_as, "acl": acl,
            "app_section": app_section, "state": state, "adopt": adopt}, opts, name)


class ExcelAddin(_Job, module="datatailr", name="ExcelAddin"):
    """An Excel add-in."""

    kind = "excel_addin"

    def __init__(self, resource_name: str, *, entrypoint: Input, display_name: Input = None, image: Input = None,
                 memory: Input = None, cpus: Input = None, vram: Input = None, env: Input = None,
                 run_as: Input = None, acl: Input = None, state: Input = None, adopt: Input = None,
                 name: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "entrypoint": entrypoint, "display_name": display_name, "image": image, "memory": memory, "cpus": cpus,
            "vram": vram, "env": env, "run_as": run_as, "acl": acl, "state": state, "adopt": adopt}, opts, name)


class Workflow(_Job, module="datatailr", name="Workflow"):
    """A workflow: `tasks` ({name: {"entrypoint", "depends_on": [names], "memory", "cpus", "env"}}),
    `schedule` ({"cron": ...} or helper fields, with "timezone"), `state` ("scheduled" or "stopped")."""

    kind = "workflow"

    def __init__(self, resource_name: str, *, tasks: Input, schedule: Input = None, display_name: Input = None,
                 image: Input = None, memory: Input = None, cpus: Input = None, vram: Input = None,
                 env: Input = None, run_as: Input = None, acl: Input = None, state: Input = None,
                 adopt: Input = None, name: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "tasks": tasks, "schedule": schedule, "display_name": display_name, "image": image, "memory": memory,
            "cpus": cpus, "vram": vram, "env": env, "run_as": run_as, "acl": acl, "state": state,
            "adopt": adopt}, opts, name)


class Promotion(PlatforgeResource, module="datatailr", name="Promotion"):
    """Which version of a job pre and prod run: `job` is the job's address in a TOML stack's
    words ("service.price-server"), `name` the job's name; `pre`/`prod` a version number, such as
    `service.revision`."""

    platform = "datatailr"
    kind = "promotion"

    def __init__(self, resource_name: str, *, job: Input = None, name: Input = None, pre: Input = None, prod: Input = None,
                 adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"job": job, "name": name, "pre": pre, "prod": prod, "adopt": adopt}, opts)


#: Kind name -> class, so a TOML stack can be declared generically (stacks/__main__.py).
RESOURCES: dict[str, type[PlatforgeResource]] = {
    cls.kind: cls for cls in (Group, User, GroupMembership, KvEntry, Secret, Workflow, Service, App, ExcelAddin,
                              Promotion)
}
