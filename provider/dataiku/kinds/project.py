"""Kind `project`: a DSS project, named by its key.

    [project.MYPROJ]                # the table name is the key unless `key` says otherwise
    name = "My project"
    owner = "admin"
    short_desc = "Nightly marts"
    tags = ["finance", "nightly"]

Everything compared comes from the project listing (`GET /projects/`: `name`, `ownerLogin`,
`tags`, `shortDesc`), so live state costs one request for every project. Writes go to two
documents: `name`, `tags`, `short_desc` to the project's metadata, `owner` to its permissions
document, which `project_group_grant` objects share (hence `document_of`). Both are written
read-modify-write: the metadata's `description`, `checklists`, `custom.kv` and the permission
entries are put back as they were read.

A project without a declared owner is created owned by the `[platform] project_owner` login
(`admin` by default), and its owner is then left to DSS. Deleting a project deletes its flow,
datasets' definitions and scenarios: it needs `--confirm-delete`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from platforge.core.kind import Context, sorted_unique
from platforge.core.model import LiveObject, ObjectRef, Resource
from platforge.core.rules import Collection, FieldRule
from platforge.core.schema import Name

from .common import (
    PROJECT_OWNER,
    DssKind,
    DssName,
    ProjectKey,
    Spec,
    cached,
    client,
    fetch,
    forget,
    ignore_missing,
    modified,
)

#: Stack field -> key of the metadata document.
METADATA_FIELDS = {"name": "label", "short_desc": "shortDesc", "tags": "tags"}
#: Stack field -> key of the project listing.
LISTING_FIELDS = {"name": "name", "owner": "ownerLogin", "short_desc": "shortDesc", "tags": "tags"}


class ProjectSpec(Spec):
    key: ProjectKey
    name: Name | None = None
    owner: DssName | None = None
    short_desc: Name | None = None
    tags: set[Name] | None = None


class ProjectKind(DssKind):
    name = "project"
    spec_model = ProjectSpec
    identity_fields = ("key",)

    field_rules = {"tags": FieldRule(collection=Collection.SET)}
    destructive = True
    settings_used = frozenset({PROJECT_OWNER})

    def prepare(self, name: str, raw: dict[str, Any]) -> dict[str, Any]:
        raw.setdefault("key", name)
        return raw

    def canonical_spec(self, model: ProjectSpec) -> dict[str, Any]:  # type: ignore[override]
        spec = super().canonical_spec(model)
        if model.tags is not None:
            spec["tags"] = sorted_unique(model.tags)
        return spec

    def document_of(self, ref: ObjectRef) -> Hashable | None:
        return ("project-permissions", ref.identity[0])

    def delete_confirmation(self, ref: ObjectRef, live: LiveObject | None) -> str | None:
        return (f"deleting project {ref.identity[0]} deletes its flow, the definitions of its datasets and its "
                "scenarios")

    def list(self, ctx: Context, scope: Any) -> list[LiveObject]:
        return [self._live(p) for p in cached(ctx, "projects", client(ctx).list_projects)]

    def read(self, ctx: Context, ref: ObjectRef) -> LiveObject | None:
        summary = fetch(lambda: client(ctx).get_project(ref.identity[0]))
        return None if summary is None else self._live({**summary, "projectKey": ref.identity[0]})

    def _live(self, item: dict[str, Any]) -> LiveObject:
        fields: dict[str, Any] = {"key": item["projectKey"]}
        for name, key in LISTING_FIELDS.items():
            if key in item:
                fields[name] = item[key]
        if "tags" in fields:
            fields["tags"] = sorted(set(fields["tags"] or ()))
        return LiveObject(kind=self.name, identity=(item["projectKey"],), fields=fields)

    def create(self, ctx: Context, resource: Resource) -> Any:
        spec = resource.spec
        key = spec["key"]
        api = client(ctx)
        api.create_project({
            "projectKey": key, "name": spec.get("name") or key,
            "owner": spec.get("owner") or ctx.settings.get(PROJECT_OWNER) or "admin",
            "settings": None, "description": None, "permissions": [], "tags": spec.get("tags") or [],
        })
        if "short_desc" in spec:
            api.put_metadata(key, modified(api.get_metadata(key), METADATA_FIELDS, spec, {"short_desc"}))
        forget(ctx, "projects", f"permissions:{key}")
        return key

    def update(self, ctx: Context, resource: Resource, live: LiveObject, changed: set[str]) -> None:
        spec = resource.spec
        key = spec["key"]
        api = client(ctx)
        in_metadata = changed & set(METADATA_FIELDS)
        if in_metadata:
            api.put_metadata(key, modified(api.get_metadata(key), METADATA_FIELDS, spec, in_metadata))
        if "owner" in changed and spec.get("owner"):
            document = api.get_permissions(key)
            document["owner"] = spec["owner"]
            api.put_permissions(key, document)
        forget(ctx, "projects", f"permissions:{key}")

    def delete(self, ctx: Context, ref: ObjectRef, live: LiveObject | None) -> None:
        key = ref.identity[0]
        ignore_missing(lambda: client(ctx).delete_project(key))
        forget(ctx, "projects", f"permissions:{key}", f"project-variables:{key}")
        ctx.invalidate_prefix("dataiku:scenario")
