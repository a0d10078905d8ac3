"""Dataiku DSS resources for Pulumi programs, one class per kind the CLI manages.

    import pulumi
    from platforge.pulumi import dataiku

    team = dataiku.Group("data_team", description="Data team", may_create_projects=True)
    dataiku.User("jdoe", display_name="John Doe", email="jdoe@example.com", groups=[team.name],
                 password=pulumi.Config().require_secret("jdoePassword"))
    proj = dataiku.Project("MARTS", name="Marts", tags=["finance"])
    dataiku.ProjectGroupGrant("marts-data-team", project=proj.key, group=team.name, read_project_content=True)
    ci = dataiku.GlobalApiKey("ci", groups=[team.name])
    pulumi.export("ciKey", ci.key)          # a Pulumi secret: DSS shows it once, at creation

Arguments are the same fields as the TOML stack's tables (see each kind's module under
`platforge.provider.dataiku.kinds`), validated by the same schemas; secret fields
(`User.password`, `User.initial_password`, `Connection.password`) take the value itself instead
of a reference, and are stored as Pulumi secrets whatever form they are given in.

Stack config (`pulumi config set ...`): `platforge:endpoint`, the secret `platforge:apiKey`, and
optionally `platforge:apiPrefix`, `platforge:projectOwner`, `platforge:futureTimeout`,
`platforge:rateLimit`: the `[platform]` table's fields under their camelCase names.

Each class has its own Pulumi type, `pulumi-python:dynamic/dataiku:<Class>`. `adopt=True` lets
`pulumi up` take over an object that already exists in DSS (found by its natural key) instead of
failing: the same consent `platforge apply --adopt` asks for. It matters only when the resource
is created.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi

from .base import PlatforgeResource

Input = Any  # pulumi.Input[...] of the documented type


def _default(value: Input, resource_name: str) -> Input:
    """What a TOML table's name gives a kind whose natural key defaults to it."""
    return value if value is not None else resource_name


class Group(PlatforgeResource, module="dataiku", name="Group"):
    """A DSS group and the global abilities it grants (`may_*` flags: only those given are
    managed). Membership lives on the user (`User.groups`). `source_type` cannot change in place."""

    platform = "dataiku"
    kind = "group"
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, name: Input = None, description: Input = None,
                 source_type: Input = None, admin: Input = None, ldap_group_names: Input = None,
                 azure_ad_group_names: Input = None, may_create_projects: Input = None,
                 may_create_projects_from_macros: Input = None, may_create_projects_from_templates: Input = None,
                 may_create_projects_from_dataiku_apps: Input = None, may_write_unsafe_code: Input = None,
                 may_write_safe_code: Input = None, may_create_authenticated_connections: Input = None,
                 may_create_code_envs: Input = None, may_develop_plugins: Input = None,
                 may_edit_lib_folders: Input = None, may_write_in_root_project_folder: Input = None,
                 may_create_published_projects: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "name": _default(name, resource_name), "description": description, "source_type": source_type,
            "admin": admin, "ldap_group_names": ldap_group_names, "azure_ad_group_names": azure_ad_group_names,
            "may_create_projects": may_create_projects,
            "may_create_projects_from_macros": may_create_projects_from_macros,
            "may_create_projects_from_templates": may_create_projects_from_templates,
            "may_create_projects_from_dataiku_apps": may_create_projects_from_dataiku_apps,
            "may_write_unsafe_code": may_write_unsafe_code, "may_write_safe_code": may_write_safe_code,
            "may_create_authenticated_connections": may_create_authenticated_connections,
            "may_create_code_envs": may_create_code_envs, "may_develop_plugins": may_develop_plugins,
            "may_edit_lib_folders": may_edit_lib_folders,
            "may_write_in_root_project_folder": may_write_in_root_project_folder,
            "may_create_published_projects": may_create_published_projects, "adopt": adopt,
        }, opts)


class User(PlatforgeResource, module="dataiku", name="User"):
    """A DSS user, named by its `login`. `groups` is the user's whole group list. `password` is
    kept in step with the program (compared by fingerprint, DSS never returns it);
    `initial_password` is set on create only. Both are always Pulumi secrets; give one, not both."""

    platform = "dataiku"
    kind = "user"
    login: pulumi.Output[str]
    groups: pulumi.Output[list[str] | None]

    def __init__(self, resource_name: str, *, login: Input = None, display_name: Input = None, email: Input = None,
                 source_type: Input = None, user_profile: Input = None, enabled: Input = None,
                 groups: Input = None, password: Input = None, initial_password: Input = None,
                 adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "login": _default(login, resource_name), "display_name": display_name, "email": email,
            "source_type": source_type, "user_profile": user_profile, "enabled": enabled, "groups": groups,
            "password": password, "initial_password": initial_password, "adopt": adopt,
        }, opts)


class Project(PlatforgeResource, module="dataiku", name="Project"):
    """A DSS project, named by its `key` (letters, digits, `_`). Without an `owner` it is
    created owned by `platforge:projectOwner` (default admin). Deleting it deletes its flow."""

    platform = "dataiku"
    kind = "project"
    key: pulumi.Output[str]

    def __init__(self, resource_name: str, *, key: Input = None, name: Input = None, owner: Input = None,
                 short_desc: Input = None, tags: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "key": _default(key, resource_name), "name": name, "owner": owner, "short_desc": short_desc,
            "tags": tags, "adopt": adopt,
        }, opts)


class ProjectGroupGrant(PlatforgeResource, module="dataiku", name="ProjectGroupGrant"):
    """What one group may do in one project: one entry of the project's permissions document
    (other entries and the owner are left as they are). Only the flags given are managed."""

    platform = "dataiku"
    kind = "project_group_grant"
    project: pulumi.Output[str]
    group: pulumi.Output[str]

    def __init__(self, resource_name: str, *, project: Input, group: Input, admin: Input = None,
                 read_project_content: Input = None, write_project_content: Input = None,
                 export_datasets_data: Input = None, read_dashboards: Input = None, write_dashboards: Input = None,
                 moderate_dashboards: Input = None, run_scenarios: Input = None,
                 manage_dashboard_authorizations: Input = None, manage_exposed_elements: Input = None,
                 manage_additional_dashboard_users: Input = None, execute_app: Input = None,
                 share_to_workspaces: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "project": project, "group": group, "admin": admin, "read_project_content": read_project_content,
            "write_project_content": write_project_content, "export_datasets_data": export_datasets_data,
            "read_dashboards": read_dashboards, "write_dashboards": write_dashboards,
            "moderate_dashboards": moderate_dashboards, "run_scenarios": run_scenarios,
            "manage_dashboard_authorizations": manage_dashboard_authorizations,
            "manage_exposed_elements": manage_exposed_elements,
            "manage_additional_dashboard_users": manage_additional_dashboard_users, "execute_app": execute_app,
            "share_to_workspaces": share_to_workspaces, "adopt": adopt,
        }, opts)


class InstanceVariable(PlatforgeResource, module="dataiku", name="InstanceVariable"):
    """One key of the instance's global variables (any JSON value). Every DSS user can read
    them: never put a secret here."""

    platform = "dataiku"
    kind = "instance_variable"
    key: pulumi.Output[str]
    value: pulumi.Output[Any]

    def __init__(self, resource_name: str, *, value: Input, key: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {"key": _default(key, resource_name), "value": value, "adopt": adopt},
                         opts)


class ProjectVariables(PlatforgeResource, module="dataiku", name="ProjectVariables"):
    """A project's variables: `standard` (exported with bundles) and `local` (kept by this
    instance); a dict given is owned whole, one left out is left as it is."""

    platform = "dataiku"
    kind = "project_variables"
    project: pulumi.Output[str]

    def __init__(self, resource_name: str, *, project: Input = None, standard: Input = None, local: Input = None,
                 adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "project": _default(project, resource_name), "standard": standard, "local": local, "adopt": adopt,
        }, opts)


class Connection(PlatforgeResource, module="dataiku", name="Connection"):
    """A DSS connection: its `type` (cannot change in place), `params` (only the keys given are
    managed; no secrets there), `password` (always a Pulumi secret; DSS returns it only
    encrypted, so it is compared by fingerprint) and who may use it (`usable_by`,
    `allowed_groups`, `details_readability`)."""

    platform = "dataiku"
    kind = "connection"
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, type: Input, name: Input = None, description: Input = None, params: Input = None, password: Input = None, usable_by: Input = None,
                 allowed_groups: Input = None, details_readability: Input = None, allow_write: Input = None,
                 allow_managed_datasets: Input = None, allow_managed_folders: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "name": _default(name, resource_name), "type": type, "description": description, "params": params,
            "password": password, "usable_by": usable_by, "allowed_groups": allowed_groups,
            "details_readability": details_readability, "allow_write": allow_write,
            "allow_managed_datasets": allow_managed_datasets, "allow_managed_folders": allow_managed_folders,
            "adopt": adopt,
        }, opts)


class Scenario(PlatforgeResource, module="dataiku", name="Scenario"):
    """A scenario of a project and its time-based `triggers` (a list of tables: `frequency`,
    `hour`, `minute`, `days_of_week`, `timezone`, ...); steps and other triggers are left as
    they are. `type` cannot change in place. DSS assigns its id (`platform_id`, `PROJECT/ID`)."""

    platform = "dataiku"
    kind = "scenario"
    project: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, project: Input, name: Input = None, type: Input = None,
                 active: Input = None, triggers: Input = None, adopt: Input = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "project": project, "name": _default(name, resource_name), "type": type, "active": active,
            "triggers": triggers, "adopt": adopt,
        }, opts)


class CodeEnv(PlatforgeResource, module="dataiku", name="CodeEnv"):
    """A code environment (`lang` PYTHON or R), built on create and rebuilt when `packages`
    change (awaited up to `platforge:futureTimeout` seconds). `deployment_mode` and
    `python_interpreter` cannot change in place."""

    platform = "dataiku"
    kind = "code_env"
    name: pulumi.Output[str]

    def __init__(self, resource_name: str, *, name: Input = None, lang: Input = None, deployment_mode: Input = None,
                 python_interpreter: Input = None, packages: Input = None, usable_by_all: Input = None,
                 adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "name": _default(name, resource_name), "lang": lang, "deployment_mode": deployment_mode,
            "python_interpreter": python_interpreter, "packages": packages, "usable_by_all": usable_by_all,
            "adopt": adopt,
        }, opts)


class GlobalApiKey(PlatforgeResource, module="dataiku", name="GlobalApiKey"):
    """An instance-wide API key acting for its `groups`, or as an administrator (`admin=True`).

    DSS shows the key's secret once, in the answer to its creation: it is the `key` output, a
    Pulumi secret the engine keeps in its encrypted state (platforge never stores it; refreshes
    and updates keep the value Pulumi has). A key taken over with `adopt=True` has no `key`
    output: DSS never shows it again. A TOML stack's `shown_once_to` (where the command line
    writes the secret) does not apply here."""

    platform = "dataiku"
    kind = "global_api_key"
    shown_once: ClassVar[tuple[str, ...]] = ("key",)
    cli_only: ClassVar[frozenset[str]] = frozenset({"shown_once_to"})
    label: pulumi.Output[str]
    key: pulumi.Output[str | None]

    def __init__(self, resource_name: str, *, label: Input = None, description: Input = None, groups: Input = None,
                 admin: Input = None, adopt: Input = None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(resource_name, {
            "label": _default(label, resource_name), "description": description, "groups": groups,
            "admin": admin, "adopt": adopt,
        }, opts)


#: Kind name -> class, so a TOML stack can be declared generically (stacks/__main__.py).
RESOURCES: dict[str, type[PlatforgeResource]] = {
    cls.kind: cls for cls in (Group, User, Project, ProjectGroupGrant, InstanceVariable, ProjectVariables,
                              Connection, Scenario, CodeEnv, GlobalApiKey)
}
