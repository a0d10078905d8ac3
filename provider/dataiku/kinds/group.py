"""Kind `group`: a DSS group and the global abilities it grants.

    [group.data_team]
    description = "Data team"
    admin = false
    may_create_projects = true
    may_write_unsafe_code = false
    ldap_group_names = ["cn=data,ou=groups"]

DSS keeps membership on the user (`user.groups`), so a group has no member list here. A group's
document carries many version-dependent `may*` flags (contract §1.2 Group): the kind owns only
those a stack declares and writes every other flag back as it read it. `source_type` (LOCAL,
LDAP, ...) cannot change in place.
"""

from __future__ import annotations

from typing import Any

from platforge.core.kind import Context
from platforge.core.model import LiveObject, ObjectRef, Resource
from platforge.core.rules import Collection, FieldRule
from platforge.core.schema import Name, StrictBool

from .common import BUILTIN_GROUPS, DssKind, DssName, Spec, cached, client, fetch, forget, ignore_missing, modified, read_fields

#: Stack field -> document key.
FIELDS: dict[str, str] = {
    "name": "name", "description": "description", "source_type": "sourceType", "admin": "admin",
    "ldap_group_names": "ldapGroupNames", "azure_ad_group_names": "azureADGroupNames",
    "may_create_projects": "mayCreateProjects",
    "may_create_projects_from_macros": "mayCreateProjectsFromMacros",
    "may_create_projects_from_templates": "mayCreateProjectsFromTemplates",
    "may_create_projects_from_dataiku_apps": "mayCreateProjectsFromDataikuApps",
    "may_write_unsafe_code": "mayWriteUnsafeCode",
    "may_write_safe_code": "mayWriteSafeCode",
    "may_create_authenticated_connections": "mayCreateAuthenticatedConnections",
    "may_create_code_envs": "mayCreateCodeEnvs",
    "may_develop_plugins": "mayDevelopPlugins",
    "may_edit_lib_folders": "mayEditLibFolders",
    "may_write_in_root_project_folder": "mayWriteInRootProjectFolder",
    "may_create_published_projects": "mayCreatePublishedProjects",
}


class GroupSpec(Spec):
    name: DssName
    description: Name | None = None
    source_type: Name = "LOCAL"
    admin: StrictBool | None = None
    ldap_group_names: set[Name] | None = None
    azure_ad_group_names: set[Name] | None = None
    may_create_projects: StrictBool | None = None
    may_create_projects_from_macros: StrictBool | None = None
    may_create_projects_from_templates: StrictBool | None = None
    may_create_projects_from_dataiku_apps: StrictBool | None = None
    may_write_unsafe_code: StrictBool | None = None
    may_write_safe_code: StrictBool | None = None
    may_create_authenticated_connections: StrictBool | None = None
    may_create_code_envs: StrictBool | None = None
    may_develop_plugins: StrictBool | None = None
    may_edit_lib_folders: StrictBool | None = None
    may_write_in_root_project_folder: StrictBool | None = None
    may_create_published_projects: StrictBool | None = None


class GroupKind(DssKind):
    name = "group"
    spec_model = GroupSpec
    identity_fields = ("name",)
    field_rules = {
        "source_type": FieldRule(replace=True),  # LOCAL vs LDAP: where members come from
        "ldap_group_names": FieldRule(collection=Collection.SET),
        "azure_ad_group_names": FieldRule(collection=Collection.SET),
    }
    destructive = True
    builtin_names = BUILTIN_GROUPS

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("name", name)
        return raw

    def canonical_spec(self, model: GroupSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        spec["source_type"] = model.source_type  # compared even when left to its default
        return spec

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [self._live(g) for g in cached(ctx, "groups", client(ctx).list_groups)]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        document = fetch(lambda: client(ctx).get_group(ref.identity[0]))
        return None if document is None else self._live({**document, "name": ref.identity[0]})

    def _live(self, document: dict[str, Any]) -> LiveObject:
        fields = read_fields(document, FIELDS)
        for name in ("ldap_group_names", "azure_ad_group_names"):
            value = fields.get(name)
            if isinstance(value, str):  # older DSS: a comma-separated string (contract §5.18)
                fields[name] = sorted(v.strip() for v in value.split(",") if v.strip())
        return LiveObject(kind=self.name, identity=(document["name"],), fields=fields,
                          builtin=document["name"] in BUILTIN_GROUPS)

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        api = client(ctx)
        api.create_group({"name": spec["name"], "description": spec.get("description"),
                          "sourceType": spec["source_type"]})
        rest = set(spec) - {"name", "description", "source_type"}
        if rest:
            api.put_group(spec["name"], modified(api.get_group(spec["name"]), FIELDS, spec, rest))
        forget(ctx, "groups")
        return spec["name"]

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        api = client(ctx)
        name = resource.spec["name"]
        api.put_group(name, modified(api.get_group(name), FIELDS, resource.spec, changed))
        forget(ctx, "groups")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        ignore_missing(lambda: client(ctx).delete_group(ref.identity[0]))
        forget(ctx, "groups")
